"""Sub-pixel sides: each side of a coarse outline re-found on the full-resolution frame as the
strongest colour edge near it, fitted with a robust line; corners are the sides' intersections
(sub-pixel, and exact for rounded corners, where a corner detector would sit on the arc).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from app.camera.base import BGRImage
from app.vision.geometry import FloatArray, intersect_lines, line_through


@dataclass(frozen=True)
class Refinement:
    """A quad's sides re-found on the full-resolution frame."""

    corners: FloatArray
    #: Median gradient across the re-found sides (grey levels per pixel).
    edge_strength: float
    #: Sides fitted to an edge in the frame.
    fitted_sides: int
    #: Sides that run along the frame's border (the card is cut there).
    border_sides: int

    @property
    def sides_found(self) -> int:
        """Sides fitted to an edge or on the frame's border (the others were kept from the guess)."""
        return self.fitted_sides + self.border_sides


def refine_sides(
    frame: BGRImage,
    coarse: FloatArray,
    map_px: float,
    samples_per_side: int,
    search_map_px: float,
    search_px: float | None = None,
) -> Refinement | None:
    """Re-find each side of ``coarse`` as the strongest colour edge near it; intersect the fitted
    lines. ``map_px``: frame pixels per segmentation-map pixel (the network's precision, which
    sets how far to look); ``search_px``: look only this far instead (a guess known to be closer).
    Corner ``i`` of the result is the refined corner ``i`` of ``coarse``, in the same order.
    ``samples_per_side``: points looked for along each side; ``search_map_px``: how far from the
    side, in map pixels."""
    height, width = frame.shape[:2]
    search = max(3.0, search_map_px * map_px) if search_px is None else search_px
    # A fitted side may leave the guess by this much at its ends (more: another straight edge).
    drift = max(2.0, 1.2 * map_px) if search_px is None else 0.75 * search_px
    n = samples_per_side
    steps = np.arange(-search, search + 0.5, 1.0)
    t = np.linspace(0.1, 0.9, n)
    lines: list[FloatArray | None] = [None] * 4
    centre = coarse.mean(axis=0)
    sides: list[int] = []
    normals: list[FloatArray] = []
    for i in range(4):
        p, q = coarse[i], coarse[(i + 1) % 4]
        if _on_border(p, q, width, height, max(2.0, 0.6 * map_px)):
            # The card is cut by the frame here: the frame edge is the best line there is.
            lines[i] = _border_line(p, q, width, height, max(2.0, 0.6 * map_px))
            continue
        direction = q - p
        length = float(np.linalg.norm(direction))
        if length < 1e-6:
            return None
        direction /= length
        normal = np.array([-direction[1], direction[0]])
        if np.dot(normal, centre - p) > 0:
            normal = -normal  # outward
        sides.append(i)
        normals.append(normal)
    fitted = 0
    strengths = []
    if sides:
        # All sides' profiles in one remap: (sides × samples) rows of ``steps`` points along the normals.
        ps = coarse[sides]
        qs = coarse[[(i + 1) % 4 for i in sides]]
        normal_rows = np.repeat(np.array(normals), n, axis=0)
        base = (ps[:, None, :] + t[None, :, None] * (qs - ps)[:, None, :]).reshape(-1, 2)
        samples = base[:, None, :] + steps[None, :, None] * normal_rows[:, None, :]
        profile = cv2.remap(
            frame,
            samples[..., 0].astype(np.float32),
            samples[..., 1].astype(np.float32),
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        ).astype(np.float32)
        gradient = np.abs(np.diff(profile, axis=1)).max(axis=2)  # strongest colour channel
        gradient = cv2.GaussianBlur(gradient, (3, 1), 0)  # along each row only
        # Per sample: the strong edge (≥ half the strongest in reach) nearest the coarse side.
        # The card's own inner frame and a sleeve's rim are nearby too; the coarse side from the
        # segmentation is within a fraction of a map pixel, so nearest wins over strongest.
        is_peak = np.zeros_like(gradient, bool)
        is_peak[:, 1:-1] = (gradient[:, 1:-1] >= gradient[:, :-2]) & (gradient[:, 1:-1] >= gradient[:, 2:])
        if search_px is None:
            strongest = gradient.max(axis=1, keepdims=True)
        else:
            # A short reach can end on the flank of a stronger edge just beyond it (a printed line
            # inside the card's border), which must not make the card's own edge look weak: only
            # peaks within reach count. (The network path keeps its measured behaviour.)
            strongest = np.where(is_peak, gradient, 0.0).max(axis=1, keepdims=True)
        strong = is_peak & (gradient >= 0.5 * strongest)
        centres = steps[:-1] + 0.5
        distance = np.where(strong, np.abs(centres)[None, :], np.inf)
        best = distance.argmin(axis=1)
        rows = np.arange(len(base))
        peak = gradient[rows, best]
        left = gradient[rows, np.maximum(best - 1, 0)]
        right = gradient[rows, np.minimum(best + 1, gradient.shape[1] - 1)]
        denom = left - 2 * peak + right
        safe = np.abs(denom) > 1e-6
        offset = np.zeros(len(base))
        offset[safe] = 0.5 * (left[safe] - right[safe]) / denom[safe]
        offset = np.minimum(np.maximum(offset, -0.5), 0.5)
        points = base + (centres[best] + offset)[:, None] * normal_rows
        for k, i in enumerate(sides):
            p, q = coarse[i], coarse[(i + 1) % 4]
            side_peak = peak[k * n : (k + 1) * n]
            keep = side_peak >= max(6.0, 0.4 * _median(side_peak))
            if keep.sum() < n // 3:
                return None
            vx, vy, x0, y0 = (
                float(v)
                for v in cv2.fitLine(
                    points[k * n : (k + 1) * n][keep].astype(np.float32), cv2.DIST_HUBER, 0, 0.01, 0.01
                ).ravel()
            )
            line = np.array([vy, -vx, vx * y0 - vy * x0])
            # A fitted side that left the coarse side (a long straight edge elsewhere) is not trusted.
            ends = np.array([[p[0], p[1], 1.0], [q[0], q[1], 1.0]]) @ line / max(np.hypot(line[0], line[1]), 1e-9)
            if np.abs(ends).max() > drift:
                line = line_through(p, q)
            else:
                fitted += 1
            lines[i] = line
            strengths.append(_median(side_peak[keep]))
    corners = []
    for i in range(4):
        point = intersect_lines(lines[(i - 1) % 4], lines[i])  # type: ignore[arg-type]
        if point is None:
            return None
        corners.append(point)
    refined = np.array(corners)
    if np.linalg.norm(refined - coarse, axis=1).max() > 3 * search:
        return None
    return Refinement(refined, float(np.mean(strengths)) if strengths else 0.0, fitted, 4 - len(sides))


def _median(values: npt.NDArray[np.floating]) -> float:
    """np.median of a small 1-d array (the same value) without its general-purpose overhead, which is
    most of its cost on the finder's 24-sample sides."""
    ordered = np.sort(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[middle])
    return float((ordered[middle - 1] + ordered[middle]) / 2)


def _border_line(p: FloatArray, q: FloatArray, width: int, height: int, tol: float) -> FloatArray:
    """The frame edge that the side p–q runs along."""
    if p[0] <= tol and q[0] <= tol:
        return line_through(np.array([0.0, 0.0]), np.array([0.0, 1.0]))
    if p[1] <= tol and q[1] <= tol:
        return line_through(np.array([0.0, 0.0]), np.array([1.0, 0.0]))
    if p[0] >= width - 1 - tol and q[0] >= width - 1 - tol:
        return line_through(np.array([width - 1.0, 0.0]), np.array([width - 1.0, 1.0]))
    return line_through(np.array([0.0, height - 1.0]), np.array([1.0, height - 1.0]))


def _on_border(p: FloatArray, q: FloatArray, width: float, height: float, tol: float) -> bool:
    return bool(
        (p[0] <= tol and q[0] <= tol)
        or (p[1] <= tol and q[1] <= tol)
        or (p[0] >= width - 1 - tol and q[0] >= width - 1 - tol)
        or (p[1] >= height - 1 - tol and q[1] >= height - 1 - tol)
    )


def quad_touches_border(quad: FloatArray, width: int, height: int) -> bool:
    """Whether a corner lies within 2 px of the frame's edge (the card may be cut there)."""
    margin = 2.0
    return bool(
        (quad[:, 0] <= margin).any()
        or (quad[:, 1] <= margin).any()
        or (quad[:, 0] >= width - 1 - margin).any()
        or (quad[:, 1] >= height - 1 - margin).any()
    )
