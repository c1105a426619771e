"""Card finder: detection, warp to the canonical card, quality signals, capture simulator."""
