"""Quad geometry helpers."""

from __future__ import annotations

import numpy as np

from app.vision.geometry import turned_180


def test_turned_corners_start_at_the_opposite_corner() -> None:
    corners = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float64)
    assert turned_180(corners).tolist() == [[1, 1], [0, 1], [0, 0], [1, 0]]
    assert turned_180(turned_180(corners)).tolist() == corners.tolist()
