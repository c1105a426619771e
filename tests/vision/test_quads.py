"""Outline candidates (app/vision/quads.py): blobs grown apart, a blob's four straight runs, the
card-shape check and duplicates."""

from __future__ import annotations

import cv2
import numpy as np

from app.vision.quads import (
    CardQuad,
    Reach,
    coarse_quad,
    grown_labels,
    plausible_card_shape,
    quad_from_contour,
    without_duplicates,
)


def plausible(quad: np.ndarray) -> bool:
    return plausible_card_shape(quad, min_angle_deg=45.0, min_aspect=0.5, max_aspect=0.98)


def test_grown_blobs_take_free_card_pixels_and_stop_where_they_meet() -> None:
    labels = np.zeros((5, 12), np.int32)
    labels[:, 1:3] = 1
    labels[:, 8:10] = 2
    labels[0, 5] = 3  # a speck too small to be a card: not kept, its pixel is free
    allowed = np.ones((5, 12), bool)
    allowed[:, 11] = False
    grown = grown_labels(labels, [1, 2], allowed, steps=3)
    assert (grown[:, 0:5] == 1).all()  # grew to the right (and to the left, up to the border)
    assert (grown[:, 6:11] == 2).all()  # the middle column went to one of them, not both
    assert set(np.unique(grown[:, 5])) <= {1, 2}
    assert (grown[:, 11] == 0).all()  # not into pixels that are not card


def test_a_blob_with_a_finger_over_its_edge_and_rounded_corners_gives_the_cards_four_sides() -> None:
    mask = np.zeros((400, 400), np.uint8)
    cv2.rectangle(mask, (100, 80), (243, 279), 1, -1)  # 144 × 200: a card's aspect
    for x, y in ((100, 80), (243, 80), (243, 279), (100, 279)):
        cv2.rectangle(mask, (x - 1, y - 1), (x + 1, y + 1), 0, -1)  # rounded (clipped) corners
    cv2.rectangle(mask, (230, 150), (300, 175), 1, -1)  # a finger over the right edge
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    quad = quad_from_contour(max(contours, key=cv2.contourArea), plausible, mask)
    assert quad is not None
    truth = np.array([[100, 80], [243, 80], [243, 279], [100, 279]], np.float64)
    assert np.abs(quad - truth).max() < 1.5


def test_a_speck_too_small_to_hold_four_straight_runs_gives_no_quad() -> None:
    mask = np.zeros((50, 50), np.uint8)
    cv2.rectangle(mask, (20, 20), (26, 28), 1, -1)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    assert quad_from_contour(contours[0], plausible, mask) is None


def test_a_coarse_quad_is_found_in_map_pixels_within_its_reach_only() -> None:
    card = np.zeros((60, 80), np.float32)
    card[10:40, 10:31] = 1.0  # a card's shape, 21 × 30 map pixels
    card[10:40, 50:71] = 1.0  # another card outside the reach
    reach = Reach(np.ones((40, 40), bool), 0, 5)
    quad = coarse_quad(card, reach, card_threshold=0.5, inset_map_px=0.0, plausible=plausible)
    assert quad is not None
    # Pixel centres: the 0.5 crossing lies half a pixel outside the card's outer pixels.
    assert np.abs(quad.min(axis=0) - [9.5, 9.5]).max() < 0.4
    assert np.abs(quad.max(axis=0) - [30.5, 39.5]).max() < 0.4


def test_card_shapes_pass_and_slivers_triangles_and_squares_do_not() -> None:
    card = np.array([[0, 0], [63, 0], [63, 88], [0, 88]], np.float64)
    assert plausible(card)
    assert plausible(card + np.array([[5, 0], [-5, 0], [0, 0], [0, 0]]))  # tilted away: a trapezoid
    assert not plausible(np.array([[0, 0], [88, 0], [88, 88], [0, 88]], np.float64))  # a square
    assert not plausible(np.array([[0, 0], [200, 0], [200, 30], [0, 30]], np.float64))  # a sliver
    assert not plausible(np.array([[0, 0], [63, 0], [63, 88], [62, 1]], np.float64))  # not convex


def test_of_two_overlapping_quads_the_more_confident_larger_one_stays() -> None:
    corners = np.array([[0, 0], [63, 0], [63, 88], [0, 88]], np.float64)
    weak = CardQuad(corners + 2.0, score=0.7, edge_strength=0.0, area_frac=0.1)
    strong = CardQuad(corners, score=0.9, edge_strength=0.0, area_frac=0.1)
    apart = CardQuad(corners + 200.0, score=0.6, edge_strength=0.0, area_frac=0.1)
    assert without_duplicates([weak, apart, strong], max_iou=0.5) == [strong, apart]
