"""Quadrilateral helpers: ordering, areas, overlaps, line intersections (pure functions)."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

#: A card is 63 × 88 mm; the canonical straightened image keeps that aspect.
CARD_ASPECT = 63.0 / 88.0
CANONICAL_SIZE = (440, 614)  # width, height


def order_clockwise(points: npt.ArrayLike) -> FloatArray:
    """Four points sorted clockwise (in image coordinates, y down) starting from the top-most-left."""
    pts = np.asarray(points, dtype=np.float64).reshape(4, 2)
    centre = pts.mean(axis=0)
    angles = np.arctan2(pts[:, 1] - centre[1], pts[:, 0] - centre[0])
    pts = pts[np.argsort(angles)]  # y-down: increasing angle is clockwise on screen
    start = int(np.argmin(pts[:, 0] + pts[:, 1]))
    return np.roll(pts, -start, axis=0)


def polygon_area(points: npt.ArrayLike) -> float:
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    x, y = pts[:, 0], pts[:, 1]
    return float(0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def side_lengths(quad: npt.ArrayLike) -> FloatArray:
    pts = np.asarray(quad, dtype=np.float64).reshape(4, 2)
    return np.asarray(np.linalg.norm(np.roll(pts, -1, axis=0) - pts, axis=1))


def is_convex(quad: npt.ArrayLike) -> bool:
    pts = np.asarray(quad, dtype=np.float64).reshape(4, 2)
    edges = np.roll(pts, -1, axis=0) - pts
    nxt = np.roll(edges, -1, axis=0)
    cross = edges[:, 0] * nxt[:, 1] - edges[:, 1] * nxt[:, 0]
    return bool(np.all(cross > 0) or np.all(cross < 0))


def interior_angles_deg(quad: npt.ArrayLike) -> FloatArray:
    pts = np.asarray(quad, dtype=np.float64).reshape(4, 2)
    prev = np.roll(pts, 1, axis=0) - pts
    nxt = np.roll(pts, -1, axis=0) - pts
    cos = (prev * nxt).sum(axis=1) / (np.linalg.norm(prev, axis=1) * np.linalg.norm(nxt, axis=1) + 1e-12)
    return np.asarray(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


def quad_iou(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Intersection over union of two convex quadrilaterals."""
    pa = np.asarray(a, dtype=np.float32).reshape(4, 2)
    pb = np.asarray(b, dtype=np.float32).reshape(4, 2)
    inter, _ = cv2.intersectConvexConvex(pa, pb)
    union = polygon_area(pa) + polygon_area(pb) - inter
    return float(inter / union) if union > 0 else 0.0


def line_through(p: FloatArray, q: FloatArray) -> FloatArray:
    """Homogeneous line through two points."""
    return np.asarray(np.cross([p[0], p[1], 1.0], [q[0], q[1], 1.0]), dtype=np.float64)


def intersect_lines(l1: FloatArray, l2: FloatArray) -> FloatArray | None:
    x = np.cross(l1, l2)
    if abs(x[2]) < 1e-9:
        return None
    return np.asarray(x[:2] / x[2], dtype=np.float64)


def mean_corner_error(found: npt.ArrayLike, truth: npt.ArrayLike) -> float:
    """Mean distance between corresponding corners, trying all cyclic orders (orientation-free)."""
    f = np.asarray(found, dtype=np.float64).reshape(4, 2)
    t = np.asarray(truth, dtype=np.float64).reshape(4, 2)
    best = np.inf
    for candidate in (f, f[::-1]):
        for shift in range(4):
            err = float(np.linalg.norm(np.roll(candidate, shift, axis=0) - t, axis=1).mean())
            best = min(best, err)
    return best


def quad_diagonal(quad: npt.ArrayLike) -> float:
    pts = np.asarray(quad, dtype=np.float64).reshape(4, 2)
    return float((np.linalg.norm(pts[0] - pts[2]) + np.linalg.norm(pts[1] - pts[3])) / 2.0)


def turned_180(corners: npt.ArrayLike) -> FloatArray:
    """The corners (TL, TR, BR, BL) of the same card turned by 180°: the list starts at the opposite one."""
    return np.roll(np.asarray(corners, np.float64), 2, axis=0)
