"""The embedded catalogue: one SQLite file (WAL) in the data folder."""
