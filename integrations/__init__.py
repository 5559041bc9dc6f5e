"""Bridges to the photo managers people already use (digiKam, Hydrus Network)."""
