"""Outline candidates from the segmentation: the network's card map → each card blob's four dominant
straight runs (sequential RANSAC), in map coordinates, and the checks a card-shaped outline passes.

A finger over an edge or a rounded corner does not bend the quad: the quad is built from the blob's
straight runs, not from its corner points. :mod:`app.vision.refine` then re-finds each side on the
full-resolution frame.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt

from app.vision.geometry import (
    FloatArray,
    interior_angles_deg,
    intersect_lines,
    is_convex,
    order_clockwise,
    quad_iou,
    side_lengths,
)


@dataclass
class CardQuad:
    """A card found in a frame. ``corners`` run clockwise from the top-left-most corner; which corner
    is the card's real top-left is decided by :func:`app.vision.warp.warp_card`."""

    corners: FloatArray
    #: Mean card probability inside the quad (0..1).
    score: float
    #: Median gradient across the refined sides (grey levels per pixel); 0 when not refined.
    edge_strength: float
    area_frac: float
    refined: bool = True
    touches_border: bool = False
    extras: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Reach:
    """Where a blob's outline may lie: a mask over a window of the card map starting at (x0, y0)."""

    mask: npt.NDArray[np.bool_]
    x0: int
    y0: int


def plausible_card_shape(quad: FloatArray, min_angle_deg: float, min_aspect: float, max_aspect: float) -> bool:
    """Whether ``quad`` can be a card seen at a tilt: convex, no corner sharper than ``min_angle_deg``,
    opposite sides alike, short/long side ratio within ``min_aspect``–``max_aspect``."""
    if not is_convex(quad):
        return False
    angles = interior_angles_deg(quad)
    if angles.min() < min_angle_deg or angles.max() > 180.0 - min_angle_deg:
        return False
    sides = side_lengths(quad)
    a = (sides[0] + sides[2]) / 2
    b = (sides[1] + sides[3]) / 2
    if min(a, b) < 4:
        return False
    # Opposite sides of a tilted card differ, but not wildly.
    if min(sides[0], sides[2]) / max(sides[0], sides[2]) < 0.55:
        return False
    if min(sides[1], sides[3]) / max(sides[1], sides[3]) < 0.55:
        return False
    return min_aspect <= min(a, b) / max(a, b) <= max_aspect


def coarse_quad(
    card: npt.NDArray[np.float32],
    reach: Reach,
    card_threshold: float,
    inset_map_px: float,
    plausible: Callable[[FloatArray], bool],
) -> FloatArray | None:
    """Quad of the card map within ``reach``, in map coordinates (pixel centres as in training),
    sub-pixel: the map is upsampled 3× so the ``card_threshold`` crossing is found to a third of a
    pixel; corners then move ``inset_map_px`` inward (the network's boundary lies a little outside the
    card's edge).
    """
    up = 3
    x0, y0 = reach.x0, reach.y0
    h, w = reach.mask.shape
    prob = np.where(reach.mask, card[y0 : y0 + h, x0 : x0 + w], 0.0).astype(np.float32)
    fine = cv2.resize(prob, (w * up, h * up), interpolation=cv2.INTER_LINEAR)
    mask = (fine > card_threshold).astype(np.uint8)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return None
    contour = max(contours, key=cv2.contourArea)
    quad = quad_from_contour(contour, plausible, mask)
    if quad is None:
        return None
    # Upsampled pixel j sits at map coordinate (j + 0.5) / up - 0.5.
    centre = quad.mean(axis=0)
    outward = (quad - centre) / (np.linalg.norm(quad - centre, axis=1, keepdims=True) + 1e-9)
    quad = quad - outward * inset_map_px * up * np.sqrt(2)
    return np.asarray((quad + 0.5) / up - 0.5 + np.array([x0, y0]))


def quad_from_contour(
    contour: npt.NDArray[np.int32], plausible: Callable[[FloatArray], bool], mask: npt.NDArray[np.uint8]
) -> FloatArray | None:
    """The card quadrilateral a contour of ``mask`` outlines, or None.

    A card's edge contour is often joined to other edges (a finger over the border, an object
    touching the card, a printed grid), so the quad is built from the contour's dominant straight
    runs, found by sequential RANSAC over local tangents; of the ``plausible`` quadrilaterals four of
    them enclose, the one that covers ``mask`` best (IoU) wins. Corners are line intersections, which
    also restores the sharp corner of a rounded card corner.
    """
    hull_perimeter = cv2.arcLength(cv2.convexHull(contour), True)
    if hull_perimeter < 40:
        return None
    lines = _ransac_lines(contour.reshape(-1, 2).astype(np.float64), hull_perimeter)
    if len(lines) < 4:
        return None
    best: FloatArray | None = None
    best_score = 0.0
    for combo in itertools.combinations(range(len(lines)), 4):
        quad = _quad_from_lines([lines[i][0] for i in combo])
        if quad is None or not plausible(quad):
            continue
        score = _mask_iou(mask, quad)
        if score > best_score:
            best, best_score = quad, score
    return best


def _mask_iou(mask: npt.NDArray[np.uint8], quad: FloatArray) -> float:
    """IoU of a quad with a binary mask (how well four lines explain a blob)."""
    drawn = np.zeros_like(mask)
    cv2.fillConvexPoly(drawn, np.round(quad * 4).astype(np.int32), 1, cv2.LINE_8, shift=2)
    inter = int(np.count_nonzero(drawn & mask))
    union = int(np.count_nonzero(drawn | mask))
    return inter / union if union else 0.0


def _ransac_lines(points: FloatArray, perimeter: float, max_lines: int = 7) -> list[tuple[FloatArray, float]]:
    """Straight runs of a contour as (homogeneous line, supporting length), strongest first."""
    # Resample the contour densely and evenly (CHAIN_APPROX_SIMPLE leaves only run ends).
    closed = np.vstack([points, points[:1]])
    seg = np.linalg.norm(np.diff(closed, axis=0), axis=1)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    total = cum[-1]
    if total <= 0:
        return []
    spacing = max(1.0, total / 600.0)
    s = np.arange(0.0, total, spacing)
    xs = np.interp(s, cum, closed[:, 0])
    ys = np.interp(s, cum, closed[:, 1])
    pts = np.stack([xs, ys], axis=1)
    n = len(pts)
    tol = max(1.5, 0.004 * perimeter)
    step = max(2, int(0.03 * perimeter / spacing))
    # Hypotheses: the chord between contour points `step` apart, i.e. local tangents.
    a = pts
    b = np.roll(pts, -step, axis=0)
    d = b - a
    norm = np.linalg.norm(d, axis=1)
    valid = norm > 0.5 * step * spacing  # straight-ish locally (not folding back)
    normals = np.stack([-d[:, 1], d[:, 0]], axis=1) / np.maximum(norm, 1e-9)[:, None]
    offsets = (normals * a).sum(axis=1)
    hyp = np.flatnonzero(valid)[:: max(1, int(valid.sum()) // 150)]
    remaining = np.ones(n, bool)
    lines: list[tuple[FloatArray, float]] = []
    dist = np.abs(pts @ normals[hyp].T - offsets[hyp][None, :])  # (n, H)
    inlier_matrix = dist < tol
    inlier_weights = inlier_matrix.astype(np.float64)
    for _ in range(max_lines):
        # Inliers among the points not yet explained, per hypothesis (exact integers as floats: one
        # matrix-vector product instead of a boolean mask of the whole matrix per line).
        counts = remaining.astype(np.float64) @ inlier_weights
        best = int(counts.argmax())
        if counts[best] * spacing < 0.08 * perimeter:
            break
        inliers = inlier_matrix[:, best] & remaining
        # Least squares: the inliers all lie within ``tol`` of the line already, so a robust fit has
        # nothing to discount, and Huber's iterations cost time for no better outline (bench/detect.py
        # located as many cards with either).
        fitted = cv2.fitLine(pts[inliers].astype(np.float32), cv2.DIST_L2, 0, 0.01, 0.01).ravel()
        vx, vy, x0, y0 = (float(v) for v in fitted)
        line = np.array([vy, -vx, vx * y0 - vy * x0])
        lines.append((line, float(inliers.sum() * spacing)))
        remaining &= ~inliers
    return lines


def _quad_from_lines(lines: list[FloatArray]) -> FloatArray | None:
    """Pair four lines into two roughly parallel pairs and intersect them into a convex quad."""
    angles = [math.atan2(-line[0], line[1]) % math.pi for line in lines]

    def angle_diff(a: float, b: float) -> float:
        d = abs(a - b) % math.pi
        return min(d, math.pi - d)

    best_pairing: tuple[tuple[int, int], tuple[int, int]] | None = None
    best_cost = math.inf
    for pair_a, pair_b in (((0, 1), (2, 3)), ((0, 2), (1, 3)), ((0, 3), (1, 2))):
        cost = angle_diff(angles[pair_a[0]], angles[pair_a[1]]) + angle_diff(angles[pair_b[0]], angles[pair_b[1]])
        if cost < best_cost:
            best_cost, best_pairing = cost, (pair_a, pair_b)
    assert best_pairing is not None
    (a1, a2), (b1, b2) = best_pairing
    if angle_diff(angles[a1], angles[b1]) < math.radians(40):
        return None
    corners = []
    for la, lb in ((a1, b1), (b1, a2), (a2, b2), (b2, a1)):
        point = intersect_lines(lines[la], lines[lb])
        if point is None:
            return None
        corners.append(point)
    quad = order_clockwise(np.array(corners))
    return quad if is_convex(quad) else None


def bridge_inner_lines(
    card: npt.NDArray[np.float32], outline: npt.NDArray[np.float32], width: int, outline_threshold: float
) -> npt.NDArray[np.float32]:
    """The card-probability map with thin valleys filled (a grey-level closing) wherever the network
    sees no card outline. Between two cards of a binder page the outline band is strong, so they stay
    apart. (When the network takes a printed frame line for an outline — the art window's lower
    border — this cannot help: that needs a better network.)"""
    if width <= 1:
        return card
    closed = cv2.morphologyEx(card, cv2.MORPH_CLOSE, np.ones((width, width), np.uint8))
    return np.where(outline < outline_threshold, np.maximum(card, closed), card).astype(np.float32)


def grown_labels(
    labels: npt.NDArray[np.int32], keep: list[int], allowed: npt.NDArray[np.bool_], steps: int
) -> npt.NDArray[np.int32]:
    """The ``keep`` blobs of a label image grown ``steps`` pixels into ``allowed`` pixels that no blob
    holds yet, one ring at a time (where two meet, one stops the other: neighbours never overlap)."""
    lut = np.zeros(int(labels.max()) + 1, np.float32)
    lut[keep] = keep
    grown = lut[labels]
    ring = np.ones((3, 3), np.uint8)
    for _ in range(steps):
        grown = np.where((grown == 0) & allowed, cv2.dilate(grown, ring), grown)
    return grown.astype(np.int32)


def window_of(mask: npt.NDArray[np.bool_], pad: int) -> tuple[int, int, int, int]:
    """x0, y0, x1, y1 of a mask's bounding box grown by ``pad``, inside the mask's picture."""
    ys, xs = np.nonzero(mask)
    height, width = mask.shape
    return (
        max(0, int(xs.min()) - pad),
        max(0, int(ys.min()) - pad),
        min(width, int(xs.max()) + 1 + pad),
        min(height, int(ys.max()) + 1 + pad),
    )


def mean_inside(prob: npt.NDArray[np.float32], quad: FloatArray) -> float:
    mask = np.zeros(prob.shape, np.uint8)
    cv2.fillConvexPoly(mask, np.round(quad * 4).astype(np.int32), 1, cv2.LINE_8, shift=2)
    inside = mask > 0
    return float(prob[inside].mean()) if inside.any() else 0.0


def without_duplicates(found: list[CardQuad], max_iou: float) -> list[CardQuad]:
    """``found`` less each quad overlapping a more confident, larger one by ``max_iou`` or more, the
    most confident × largest first."""
    kept: list[CardQuad] = []
    for quad in sorted(found, key=lambda c: -c.score * c.area_frac):
        if all(quad_iou(quad.corners, k.corners) < max_iou for k in kept):
            kept.append(quad)
    return kept


def holds(quad: FloatArray, point: FloatArray) -> bool:
    """Whether ``point`` lies strictly inside ``quad``."""
    return cv2.pointPolygonTest(quad.astype(np.float32), (float(point[0]), float(point[1])), False) > 0
