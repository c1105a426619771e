"""Quad geometry helpers."""

from __future__ import annotations

import numpy as np

from app.vision.geometry import turned_180


def test_turned_corners_start_at_the_opposite_corner() -> None:
    corners = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float64)
    assert turned_180(corners).tolist() == [[1, 1], [0, 1], [0, 0], [1, 0]]
    assert turned_180(turned_180(corners)).tolist() == corners.tolist()


def test_mean_corner_error_ignores_where_the_corner_list_starts_and_its_direction() -> None:
    from app.vision.geometry import mean_corner_error

    quad = np.array([[10, 20], [110, 25], [105, 160], [5, 150]], np.float64)
    for shift in range(4):
        assert mean_corner_error(np.roll(quad, shift, axis=0), quad) == 0.0
        assert mean_corner_error(np.roll(quad[::-1], shift, axis=0), quad) == 0.0
    moved = quad + np.array([3.0, 4.0])  # every corner 5 px away
    assert mean_corner_error(np.roll(moved, 1, axis=0), quad) == 5.0
