"""PxIMSE: a local search engine for illustration libraries."""

__version__ = "0.1.0"

__all__ = ["__version__"]
