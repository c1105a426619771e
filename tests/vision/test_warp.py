"""Straightening helpers: the warp to the canonical crop, and the card inside a top-loader's outline."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from app.vision.geometry import mean_corner_error, quad_diagonal
from app.vision.warp import inset_corners, inset_image, warp_to
from models.sim.capture_sim import TOPLOADER_MM, project_card


@pytest.mark.parametrize("seed", range(5))
def test_inset_corners_of_a_toploader_outline_are_the_card_inside(seed: int) -> None:
    """Tilted up to 40°: the inset is taken in the card's plane, so the perspective is honoured."""
    rng = np.random.default_rng(seed)
    card, toploader = project_card(rng, (1280, 720), 400.0, 40.0, rng.uniform(0, 2 * math.pi), TOPLOADER_MM)
    error = mean_corner_error(inset_corners(toploader), card) / quad_diagonal(card)
    assert error < 1e-3


def test_inset_image_shows_what_the_inset_corners_outline_in_the_frame() -> None:
    rng = np.random.default_rng(7)
    frame = cv2.GaussianBlur(rng.integers(0, 256, (720, 1280, 3)).astype(np.uint8), (0, 0), 8)
    frame = cv2.normalize(frame, None, 0, 255, cv2.NORM_MINMAX)
    corners = np.array([[400.0, 120.0], [820.0, 160.0], [860.0, 650.0], [380.0, 610.0]])
    via_crop = inset_image(warp_to(frame, corners)).astype(np.float32)
    via_frame = warp_to(frame, inset_corners(corners)).astype(np.float32)
    assert np.abs(via_crop - via_frame).mean() < 3.0
    # ... and not what the outline itself shows.
    assert np.abs(warp_to(frame, corners).astype(np.float32) - via_frame).mean() > 10.0


def test_inset_image_refuses_an_inset_that_leaves_nothing() -> None:
    with pytest.raises(ValueError, match="leaves nothing"):
        inset_image(np.zeros((614, 440, 3), np.uint8), (0.5, 0.1))


def _whole_frame_warp(frame: np.ndarray, corners: np.ndarray, size: tuple[int, int] = (440, 614)) -> np.ndarray:
    """The straightforward warp: the whole frame, as many channels as it has."""
    w, h = size
    target = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    matrix = cv2.getPerspectiveTransform(corners.astype(np.float32), target)
    return cv2.warpPerspective(frame, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


@pytest.mark.parametrize(
    "corners",
    [
        [[400.0, 120.0], [820.0, 160.0], [860.0, 650.0], [380.0, 610.0]],  # in view
        [[-120.0, 80.0], [300.0, 60.0], [330.0, 700.0], [-90.0, 740.0]],  # cut by the left and bottom edges
        [[1300.0, 10.0], [1500.0, 10.0], [1500.0, 300.0], [1300.0, 300.0]],  # all of it outside
        [[3.5, 2.5], [1276.5, 0.5], [1279.0, 719.0], [0.0, 717.5]],  # the whole frame
    ],
)
@pytest.mark.parametrize("channels", [3, 1])
def test_warp_reads_only_the_cards_box_and_gives_the_whole_frame_warp(
    corners: list[list[float]], channels: int
) -> None:
    rng = np.random.default_rng(11)
    frame = cv2.GaussianBlur(rng.integers(0, 256, (720, 1280, 3)).astype(np.uint8), (0, 0), 2)
    if channels == 1:
        frame = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    quad = np.array(corners)
    fast = warp_to(frame, quad)
    expected = _whole_frame_warp(frame, quad)
    assert fast.shape == expected.shape and fast.dtype == np.uint8
    # The same samples; OpenCV's fixed-point interpolation may round one grey level apart.
    difference = np.abs(fast.astype(np.int16) - expected)
    assert difference.max() <= 1
    assert difference.mean() < 0.01
