"""Online metadata sources (Pixiv)."""
