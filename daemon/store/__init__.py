"""Catalogue, vector and OCR-text stores."""
