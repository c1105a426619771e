"""Is a found outline a group of cards (a binder page, cards touching on a table)? Where are its cards?

A sleeved binder page of 2×2 or 3×3 pockets, and cards lying edge to edge, nearly have a card's
aspect ratio as a whole, and the network can outline the group as one card. Inside a group, the cards'
own edges line up into straight lines that cross the whole outline: in the outline's straightened
picture, ``c`` columns of cards give ``2c`` vertical lines (each card's left and right edge, a seam
or nothing between two), evenly spaced, and the rows likewise. A single card has no such lines
across its middle both ways: its art box's lower border can pass for the line between two halves
(a 2×1 "grid"), which the whole-card classifier then tells from two cards.

This module finds, for a straightened outline, the grid of card-shaped cells whose edges the picture
supports best (pure image measurements; the finder then checks each cell with the edge check and the
whole-card classifier, :mod:`app.vision.detect`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from app.camera.base import BGRImage
from app.vision.geometry import FloatArray, side_lengths

logger = logging.getLogger(__name__)

#: Long side of the straightened outline the grid is looked for on (pixels).
STRAIGHTENED_LONG_SIDE = 240
#: A card cell's short/long side ratio may be this far from a card's own (0.716): perspective left in
#: a straightened group and a top-loader's or pocket's slightly squarer shape.
CELL_ASPECT = (0.6, 0.84)
#: Largest grid tried (rows and columns): a 12-pocket page is 4×3.
MAX_CELLS_PER_SIDE = 4


@dataclass(frozen=True)
class Grid:
    """Cells of a grid in the straightened outline: ``xs``/``ys`` the (start, end) of each column/row."""

    rows: int
    cols: int
    xs: tuple[tuple[float, float], ...]
    ys: tuple[tuple[float, float], ...]
    #: The least share of the straightened outline's length that any of the grid's lines runs along an edge.
    support: float


def straightened_size(quad: FloatArray) -> tuple[int, int]:
    """(width, height) of the outline straightened with its own side ratio at :data:`STRAIGHTENED_LONG_SIDE`."""
    sides = side_lengths(quad)
    width, height = (sides[0] + sides[2]) / 2, (sides[1] + sides[3]) / 2
    scale = STRAIGHTENED_LONG_SIDE / max(width, height, 1e-6)
    return max(8, round(width * scale)), max(8, round(height * scale))


def straighten(frame: BGRImage, quad: FloatArray) -> tuple[BGRImage, FloatArray]:
    """The outline (clockwise from its top-left) straightened, and the homography from the straightened
    picture back to the frame."""
    width, height = straightened_size(quad)
    rect = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
    to_frame = cv2.getPerspectiveTransform(rect, quad.astype(np.float32))
    picture = cv2.warpPerspective(
        frame, to_frame, (width, height), flags=cv2.INTER_AREA | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE
    )
    return picture, np.asarray(to_frame, np.float64)


def line_profiles(picture: BGRImage) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Per column, the share of rows where a vertical edge passes within a pixel of it; per row, the
    share of columns crossed by a horizontal edge. A straight edge across the picture scores ~1."""
    grey = cv2.cvtColor(picture, cv2.COLOR_BGR2GRAY).astype(np.float32)
    gx = np.abs(cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3))
    gy = np.abs(cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3))
    # An edge: a local maximum across it, and clearly above the texture's ripple.
    floor = 40.0
    vertical = (gx >= floor) & (gx >= np.roll(gx, 1, axis=1)) & (gx >= np.roll(gx, -1, axis=1))
    horizontal = (gy >= floor) & (gy >= np.roll(gy, 1, axis=0)) & (gy >= np.roll(gy, -1, axis=0))
    # Cards in one column are a millimetre or so off each other's line: a pixel either way counts.
    ring = np.ones((1, 3), np.uint8)
    vertical = cv2.dilate(vertical.astype(np.uint8), ring) > 0
    horizontal = cv2.dilate(horizontal.astype(np.uint8), ring.T) > 0
    return vertical.mean(axis=0).astype(np.float32), horizontal.mean(axis=1).astype(np.float32)


def fit_cells(profile: npt.NDArray[np.float32], count: int) -> tuple[float, float, float, float]:
    """The best ``count`` evenly spaced equal cells along one axis: (start, size, gap, support), where
    support is the least profile value at any of the cells' edges (each edge's best within a pixel)."""
    length = len(profile)
    padded = np.concatenate([[0.0], profile, [0.0]])
    best_at = np.maximum(np.maximum(padded[:-2], padded[1:-1]), padded[2:])  # best within ±1 px
    best = (0.0, 0.0, 0.0, -1.0)
    starts = np.arange(length, dtype=np.float64)
    # Cells fill at least 70 % of the length (page margins and the ring strip take the rest).
    for size in np.arange(max(6, math.ceil(0.7 * length / count)), length // count + 1, dtype=np.float64):
        gaps = np.arange(0.0, 0.12 * size + 1.0, 1.0) if count > 1 else np.zeros(1)
        offsets = np.array([[k * (size + gap) + e for k in range(count) for e in (0.0, size)] for gap in gaps])
        edges = np.round(starts[None, :, None] + offsets[:, None, :]).astype(int)  # (gap, start, edge)
        fits = edges[:, :, -1] <= length - 1
        support = np.where(fits, best_at[np.minimum(edges, length - 1)].min(axis=2), -1.0)
        g, s = np.unravel_index(int(support.argmax()), support.shape)
        if support[g, s] > best[3]:
            best = (float(starts[s]), float(size), float(gaps[g]), float(support[g, s]))
    return best


def grid_hypotheses(picture: BGRImage, min_support: float) -> list[Grid]:
    """Grids of at least two card-shaped cells whose lines all run along edges over ``min_support`` of
    the picture, best supported first."""
    across, down = line_profiles(picture)
    columns = {n: fit_cells(across, n) for n in range(1, MAX_CELLS_PER_SIDE + 1)}
    rows = {n: fit_cells(down, n) for n in range(1, MAX_CELLS_PER_SIDE + 1)}
    grids = []
    for r, (y0, cell_h, gap_y, support_y) in rows.items():
        for c, (x0, cell_w, gap_x, support_x) in columns.items():
            support = min(support_x, support_y)
            if r * c < 2 or support < min_support or cell_h <= 0 or cell_w <= 0:
                continue
            aspect = min(cell_w, cell_h) / max(cell_w, cell_h)
            if not CELL_ASPECT[0] <= aspect <= CELL_ASPECT[1]:
                continue
            xs = tuple((x0 + k * (cell_w + gap_x), x0 + k * (cell_w + gap_x) + cell_w) for k in range(c))
            ys = tuple((y0 + k * (cell_h + gap_y), y0 + k * (cell_h + gap_y) + cell_h) for k in range(r))
            grids.append(Grid(r, c, xs, ys, support))
    return sorted(grids, key=lambda g: -g.support)


def cell_quads(grid: Grid, to_frame: FloatArray) -> list[FloatArray]:
    """Each cell of ``grid`` as a quad in the frame (row by row), through the straightening's inverse."""
    quads = []
    for top, bottom in grid.ys:
        for left, right in grid.xs:
            rect = np.array([[left, top], [right, top], [right, bottom], [left, bottom]], np.float64)
            quads.append(np.asarray(cv2.perspectiveTransform(rect[None], to_frame)[0], np.float64))
    return quads


def even_grids(width: int, height: int) -> list[Grid]:
    """Every grid of at least two card-shaped cells that splits a ``width`` × ``height`` picture evenly,
    edge to edge (cards lying side by side, whose group's outline is their own outer edges)."""
    grids = []
    for r in range(1, MAX_CELLS_PER_SIDE + 1):
        for c in range(1, MAX_CELLS_PER_SIDE + 1):
            cell_w, cell_h = width / c, height / r
            aspect = min(cell_w, cell_h) / max(cell_w, cell_h)
            if r * c < 2 or not CELL_ASPECT[0] <= aspect <= CELL_ASPECT[1]:
                continue
            xs = tuple((k * cell_w, (k + 1) * cell_w) for k in range(c))
            ys = tuple((k * cell_h, (k + 1) * cell_h) for k in range(r))
            grids.append(Grid(r, c, xs, ys, 0.0))
    return grids
