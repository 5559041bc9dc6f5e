"""The resident daemon's runtime: the data folder lock, the watcher and the
background indexer, and the state that ``/api/status`` and ``/api/events`` show."""
