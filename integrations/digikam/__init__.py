"""XMP sidecars that digiKam reads."""
