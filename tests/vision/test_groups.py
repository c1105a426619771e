"""Grids of card-shaped cells inside an outline (app/vision/groups.py)."""

from __future__ import annotations

import numpy as np

from app.vision.groups import CELL_ASPECT, cell_quads, even_grids, fit_cells, grid_hypotheses, straighten


def _page(rows: int, cols: int, card: tuple[int, int] = (50, 70), gap: int = 6, margin: int = 14) -> np.ndarray:
    """A straightened page: dark, with ``rows`` × ``cols`` light cards (each with a printed inner frame)."""
    width = margin * 2 + cols * card[0] + (cols - 1) * gap
    height = margin * 2 + rows * card[1] + (rows - 1) * gap
    picture = np.full((height, width, 3), 30, np.uint8)
    for r in range(rows):
        for c in range(cols):
            x, y = margin + c * (card[0] + gap), margin + r * (card[1] + gap)
            picture[y : y + card[1], x : x + card[0]] = 200
            picture[y + 8 : y + card[1] // 2, x + 5 : x + card[0] - 5] = 120  # the art window
    return picture


def test_evenly_spaced_edges_give_their_cells() -> None:
    profile = np.zeros(200, np.float32)
    for edge in (10, 60, 66, 116, 122, 172):
        profile[edge] = 1.0
    start, size, gap, support = fit_cells(profile, 3)
    edges = [start + k * (size + gap) + e for k in range(3) for e in (0.0, size)]
    assert np.abs(np.array(edges) - [10, 60, 66, 116, 122, 172]).max() <= 1.0  # edges count within a pixel
    assert support == 1.0


def test_a_3x3_page_is_best_explained_as_a_3x3_grid() -> None:
    grids = grid_hypotheses(_page(3, 3), min_support=0.3)
    assert (grids[0].rows, grids[0].cols) == (3, 3)
    assert abs(grids[0].xs[0][0] - 14) <= 2 and abs(grids[0].ys[0][0] - 14) <= 2
    assert abs(grids[0].xs[0][1] - grids[0].xs[0][0] - 50) <= 2


def test_a_single_card_shows_no_grid_of_cards_both_ways() -> None:
    """Its art window's border can pass for the line between two halves; nothing splits it both ways."""
    card = _page(1, 1, card=(150, 210), margin=6)
    grids = grid_hypotheses(card, min_support=0.0)
    assert all(grid.support < 0.3 for grid in grids if grid.rows > 1 and grid.cols > 1)


def test_even_grids_have_card_shaped_cells_only() -> None:
    grids = even_grids(180, 250)
    assert {(g.rows, g.cols) for g in grids} >= {(2, 2), (3, 3), (4, 4)}
    for grid in grids:
        width, height = grid.xs[0][1] - grid.xs[0][0], grid.ys[0][1] - grid.ys[0][0]
        assert CELL_ASPECT[0] <= min(width, height) / max(width, height) <= CELL_ASPECT[1]


def test_cells_map_back_onto_the_outline_in_the_frame() -> None:
    frame = np.zeros((400, 600, 3), np.uint8)
    outline = np.array([[100.0, 50.0], [380.0, 50.0], [380.0, 350.0], [100.0, 350.0]])
    picture, to_frame = straighten(frame, outline)
    grid = even_grids(picture.shape[1], picture.shape[0])[0]
    quads = cell_quads(grid, to_frame)
    assert len(quads) == grid.rows * grid.cols
    assert np.allclose(quads[0][0], outline[0], atol=1e-6)
    assert np.allclose(quads[-1][2], outline[2], atol=1e-6)
