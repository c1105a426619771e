"""Quad geometry helpers."""

from __future__ import annotations

import numpy as np

from app.vision.geometry import (
    grown_across_side,
    parallelogram_corner,
    parallelogram_deviation,
    quad_diagonal,
    turned_180,
)


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


def test_two_halves_facing_across_a_side_join_into_the_whole_quad() -> None:
    from app.vision.geometry import join_across_facing_sides, order_clockwise

    whole = np.array([[100, 50], [400, 60], [390, 480], [90, 470]], np.float64)
    left_cut, right_cut = whole[0] + 0.45 * (whole[3] - whole[0]), whole[1] + 0.45 * (whole[2] - whole[1])
    top = order_clockwise([whole[0], whole[1], right_cut, left_cut])
    bottom = order_clockwise([left_cut, right_cut, whole[2], whole[3]])
    for a, b in ((top, bottom), (bottom, top), (np.roll(top, 1, axis=0), bottom)):
        gap, outer = join_across_facing_sides(a, b)
        assert gap < 1e-9
        assert np.allclose(outer, whole)
    # Pieces 30 px apart across 300-px sides: a gap of a tenth; the outer corners are still the whole's.
    lowered = bottom + np.array([0.0, 30.0])
    gap, outer = join_across_facing_sides(top, lowered)
    assert 0.09 < gap < 0.11
    assert np.allclose(outer[:2], whole[:2]) and np.allclose(outer[2:], whole[2:] + np.array([0.0, 30.0]))


def test_a_piece_cut_across_a_card_grows_back_into_the_card_across_its_cut() -> None:
    card = np.array([[100.0, 50.0], [730.0, 50.0], [730.0, 930.0], [100.0, 930.0]])  # 63 × 88, upright
    top = np.array([card[0], card[1], [730.0, 490.0], [100.0, 490.0]])  # cut at half its height
    assert np.allclose(grown_across_side(top, 2), card)
    bottom = np.array([[100.0, 490.0], [730.0, 490.0], card[2], card[3]])
    assert np.allclose(grown_across_side(bottom, 0), card)
    # Across a short side, or a quad deeper than wide (a whole card): not a piece cut across the height.
    assert grown_across_side(top, 1) is None
    assert grown_across_side(card, 0) is None


def test_a_corner_dragged_off_a_parallelogram_is_put_back_by_the_other_three_and_its_drag_measured() -> None:
    card = np.array([[100.0, 50.0], [730.0, 80.0], [700.0, 960.0], [70.0, 930.0]])  # a parallelogram
    assert parallelogram_deviation(card) < 1e-12
    drag = np.array([90.0, 120.0])  # 150 px
    for i in range(4):
        dragged = card.copy()
        dragged[i] += drag
        assert np.allclose(parallelogram_corner(dragged, i), card[i])
        assert np.isclose(parallelogram_deviation(dragged), 150.0 / quad_diagonal(dragged))
    # A card seen in perspective is not a parallelogram, but deviates from one far less.
    seen = np.array([[300.0, 100.0], [600.0, 100.0], [630.0, 500.0], [270.0, 500.0]])  # far side 1/6 shorter
    assert 0.05 < parallelogram_deviation(seen) < 0.15
