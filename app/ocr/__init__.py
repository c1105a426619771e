"""Collector-number OCR: read the bottom strip of a straightened card and re-rank look-alike matches."""
