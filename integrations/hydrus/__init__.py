"""Hydrus Network Client API bridge."""
