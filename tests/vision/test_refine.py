"""Sub-pixel sides (app/vision/refine.py): how far a side is looked for decides which edge it takes."""

from __future__ import annotations

import cv2
import numpy as np

from app.vision.detect import DetectorSettings
from app.vision.refine import Refinement, quad_touches_border, refine_sides

SETTINGS = DetectorSettings()


def refine(frame: np.ndarray, guess: np.ndarray, map_px: float, search_px: float | None = None) -> Refinement | None:
    return refine_sides(
        frame, guess, map_px, SETTINGS.refine_samples_per_side, SETTINGS.refine_search_map_px, search_px
    )


def test_a_short_refinement_reach_keeps_a_faint_card_edge_over_a_strong_printed_line() -> None:
    """Following refines from a guess within a pixel or two, so it looks only 6 px either way: a
    strong printed line 10 px inside a faint card edge (a silver border on a grey table) is then out
    of reach, where the network path's reach (16 px at 1280×720) takes it for the edge."""
    frame = np.full((720, 1280, 3), 150, np.uint8)
    x0, y0, x1, y1 = 400, 150, 800, 560  # the card covers these pixel columns and rows
    frame[y0:y1, x0:x1] = 172  # faint: 22 grey levels against the table
    cv2.rectangle(frame, (x0 + 10, y0 + 10), (x1 - 11, y1 - 11), (20, 20, 20), 3)  # strong inner line
    outline = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64) - 0.5  # pixel edges
    for offset in ([1.3, -0.8], [-2.0, 1.5]):
        guess = outline + np.array(offset)
        short = refine(frame, guess, 10.0, search_px=6.0)
        assert short is not None and short.fitted_sides == 4
        assert np.abs(short.corners - outline).max() < 0.2
        wide = refine(frame, guess, 10.0)
        assert wide is None or wide.fitted_sides < 4 or np.abs(wide.corners - outline).max() > 5


def test_a_card_whose_side_runs_along_the_frame_border_is_refined_to_the_border() -> None:
    """A card cut by the frame: the frame's edge is that side's line (no edge to find there)."""
    frame = np.full((480, 640, 3), 60, np.uint8)
    frame[100:400, :300] = 200  # the card runs off the left border
    outline = np.array([[0.0, 100.0], [300.0, 100.0], [300.0, 400.0], [0.0, 400.0]]) - 0.5
    found = refine(frame, outline + np.array([0.8, 0.6]), 4.0)
    assert found is not None and found.border_sides == 1 and found.fitted_sides == 3
    assert np.abs(found.corners[[1, 2]] - outline[[1, 2]]).max() < 0.3
    assert np.abs(found.corners[[0, 3], 0]).max() < 0.3  # on the border's line, x = 0
    assert quad_touches_border(found.corners, 640, 480)
