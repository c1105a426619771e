"""Repairs of the found outlines, each one step applied in turn to a frame's cards
(:meth:`CardRepairs.steps`):

1. rejoin: two quads that are the halves of one card cut along a printed line are joined;
2. edge check: each side is moved onto the card's own edge (``app.vision.sides``); a card whose crop
   still does not look whole is grown from a piece into the whole card or outlined again, and one far
   from a parallelogram has a corner dragged off the card rebuilt;
3. groups: an outline much larger than the other cards is tried as a grid of cards
   (``app.vision.groups``), so a binder page or a group is not reported as one card.

Each is judged by the whole-card classifier (``app.vision.wholeness``); their settings are in
:class:`app.vision.detect.DetectorSettings`.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from app.camera.base import BGRImage
from app.vision.geometry import (
    FloatArray,
    grown_across_side,
    join_across_facing_sides,
    order_clockwise,
    parallelogram_corner,
    parallelogram_deviation,
    polygon_area,
)
from app.vision.groups import cell_quads, even_grids, grid_hypotheses, straighten
from app.vision.quads import CardQuad, holds, without_duplicates
from app.vision.refine import Refinement, quad_touches_border
from app.vision.sides import corrected_sides, outline_judged_whole
from app.vision.wholeness import quad_wholeness

if TYPE_CHECKING:
    from app.vision.detect import DetectorSettings

logger = logging.getLogger(__name__)

#: One repair: a frame's cards (and the frame pixels per segmentation-map pixel) → its cards repaired.
RepairStep = Callable[[BGRImage, list[CardQuad], float], list[CardQuad]]


@dataclass(frozen=True)
class CardRepairs:
    """The repairs a detector's settings turn on, with the detector's own shape check and side
    refinement (a repaired outline must pass what a found one passes)."""

    settings: DetectorSettings
    plausible: Callable[[FloatArray], bool]
    refine: Callable[[BGRImage, FloatArray, float], Refinement | None]

    @property
    def steps(self) -> list[RepairStep]:
        """The repairs turned on, in the order they run."""
        s = self.settings
        steps: list[RepairStep] = []
        if s.rejoin_gap > 0:
            steps.append(self.rejoin_split_cards)
        if s.edge_check:
            steps.append(self.check_edges)
            if s.group_split_below is not None or s.group_min_area_ratio is not None:
                steps.append(self.split_groups)
        return steps

    def rejoin_split_cards(self, frame: BGRImage, found: list[CardQuad], map_px: float) -> list[CardQuad]:
        """``found`` with each card that was cut in two joined again (see ``DetectorSettings.rejoin_gap``)."""
        s = self.settings
        if len(found) < 2:
            return found
        height, width = frame.shape[:2]
        wholeness: dict[bytes, float] = {}  # corners → the quad's wholeness, each measured once

        def whole(quad: CardQuad) -> float:
            key = quad.corners.tobytes()
            if key not in wholeness:
                wholeness[key] = quad_wholeness(frame, quad.corners, s.wholeness_weights)
            return wholeness[key]

        joined = True
        while joined:
            joined = False
            for a, b in itertools.combinations(found, 2):
                gap, outer = join_across_facing_sides(a.corners, b.corners)
                if gap > s.rejoin_gap or not self.plausible(outer):
                    continue
                outer_wholeness = quad_wholeness(frame, outer, s.wholeness_weights)
                if outer_wholeness <= max(0.0, whole(a), whole(b)):
                    continue
                # The long sides are each two pieces' sides: fit them again as one line.
                refined = self.refine(frame, outer, map_px)
                if refined is not None and not self.plausible(refined.corners):
                    refined = None
                corners = order_clockwise(outer if refined is None else refined.corners)
                area_a, area_b = polygon_area(a.corners), polygon_area(b.corners)
                edges = refined.edge_strength if refined is not None else min(a.edge_strength, b.edge_strength)
                card = CardQuad(
                    corners,
                    score=(a.score * area_a + b.score * area_b) / max(area_a + area_b, 1e-9),
                    edge_strength=edges,
                    area_frac=polygon_area(corners) / float(width * height),
                    refined=refined is not None,
                    touches_border=quad_touches_border(corners, width, height),
                    extras={"rejoined_wholeness": outer_wholeness},
                )
                logger.debug("Joined two pieces (gap %.2f, wholeness %.2f) into one card", gap, outer_wholeness)
                found = [q for q in found if q is not a and q is not b] + [card]
                joined = True
                break
        return found

    def check_edges(self, frame: BGRImage, found: list[CardQuad], map_px: float) -> list[CardQuad]:
        """``found`` with each card's sides moved to its own edges (see ``_move_sides_to_card_edges``),
        but for cards crowded by others (see ``DetectorSettings.edge_crowd_reach``)."""
        for quad, is_crowded in zip(found, crowded(found, self.settings.edge_crowd_reach), strict=True):
            if not is_crowded:
                self._move_sides_to_card_edges(frame, quad)
        return found

    def _move_sides_to_card_edges(self, frame: BGRImage, quad: CardQuad) -> None:
        """``quad`` with any side that sits on another edge than the card's moved to the card's edge
        (see ``DetectorSettings.edge_check``), then, when its crop still does not look whole, grown from a
        piece into the whole card or outlined again (``grow_piece_below``, ``edge_recheck_below``), and
        last, when it is far from card-shaped, with a dragged-off corner rebuilt
        (``rebuild_corner_min_deviation``); unchanged when a result is not card-shaped."""
        s = self.settings
        corners, moved = self._edge_checked(frame, quad.corners)
        wholeness = partial(self._wholeness_of, frame)
        whole = wholeness(corners)
        other: FloatArray | None = None
        if s.grow_piece_below is not None and whole < s.grow_piece_below:
            other = self._whole_card_around_piece(frame, corners, whole)
            if other is not None:
                quad.extras["grown_from_piece"] = 1.0
        if other is None and s.edge_recheck_below is not None and whole < s.edge_recheck_below:
            other = outline_judged_whole(
                frame,
                corners,
                wholeness,
                s.edge_weights,
                edge_weight=s.edge_recheck_edge_weight,
                min_gain=s.edge_recheck_min_gain,
                acceptable=self.plausible,
                min_view=s.edge_min_view,
                own_wholeness=whole,
            )
            if other is not None:
                quad.extras["outline_rechecked"] = 1.0
        if other is not None:
            corners = order_clockwise(other)
        rebuilt = self._card_with_corner_rebuilt(frame, corners, whole if other is None else None)
        if rebuilt is not None:
            corners = rebuilt
            quad.extras["corner_rebuilt"] = 1.0
        elif other is None and not moved:
            return
        height, width = frame.shape[:2]
        quad.corners = corners
        quad.area_frac = polygon_area(quad.corners) / float(width * height)
        quad.touches_border = quad_touches_border(quad.corners, width, height)
        if moved:
            quad.extras["sides_moved"] = float(moved)

    def _edge_checked(self, frame: BGRImage, corners: FloatArray) -> tuple[FloatArray, int]:
        """``corners`` after the per-side edge check (clockwise), and how many sides it moved."""
        s = self.settings
        checked, moved = corrected_sides(
            frame,
            corners,
            s.edge_weights,
            min_score=s.edge_min_score,
            passes=s.edge_passes,
            acceptable=self.plausible,
            min_view=s.edge_min_view,
        )
        return order_clockwise(checked), moved

    def _wholeness_of(self, frame: BGRImage, corners: FloatArray) -> float:
        return quad_wholeness(frame, corners, self.settings.wholeness_weights)

    def _whole_card_around_piece(self, frame: BGRImage, piece: FloatArray, piece_wholeness: float) -> FloatArray | None:
        """The whole card ``piece`` (clockwise) is part of, when grown across one of its longer sides
        into a card's shape it looks whole (see ``DetectorSettings.grow_piece_below``); else None."""
        s = self.settings
        grown = (grown_across_side(piece, i) for i in range(4))
        # Where a card's shape puts the grown side it is within a few percent of the card's edge; grown
        # across the wrong side, or from a whole card, it rarely scores even this (3 % of the tries on
        # simulated captures), so those skip the edge check.
        best = self._most_whole_after_edge_check(
            frame, (quad for quad in grown if quad is not None), min_raw_wholeness=s.grow_piece_min_wholeness - 0.5
        )
        if best is None or best[0] < max(s.grow_piece_min_wholeness, piece_wholeness + s.edge_recheck_min_gain):
            return None
        return best[1]

    def _card_with_corner_rebuilt(
        self, frame: BGRImage, corners: FloatArray, wholeness: float | None
    ) -> FloatArray | None:
        """``corners`` (clockwise) with a corner dragged off the card put back, when the outline is far
        from card-shaped and the rebuilt one looks more whole (``DetectorSettings.rebuild_corner_*``;
        ``wholeness``: the outline's own, when already measured); else None."""
        s = self.settings
        if s.rebuild_corner_min_deviation is None or parallelogram_deviation(corners) < s.rebuild_corner_min_deviation:
            return None
        rebuilt = (np.vstack([corners[:i], parallelogram_corner(corners, i), corners[i + 1 :]]) for i in range(4))
        best = self._most_whole_after_edge_check(
            frame, (quad for quad in rebuilt if self.plausible(quad)), only_moved=True
        )
        if best is None:
            return None
        own = self._wholeness_of(frame, corners) if wholeness is None else wholeness
        if best[0] < max(s.rebuild_corner_min_wholeness, own + s.rebuild_corner_min_gain):
            return None
        return best[1]

    def _most_whole_after_edge_check(
        self,
        frame: BGRImage,
        candidates: Iterable[FloatArray],
        min_raw_wholeness: float | None = None,
        only_moved: bool = False,
    ) -> tuple[float, FloatArray] | None:
        """The candidate outline that, after the edge check (its sides moved to the card's edges) and
        still card-shaped, looks most whole, with its wholeness; None when none is left. A candidate
        whose own crop scores below ``min_raw_wholeness`` is dropped before the (costlier) edge check;
        ``only_moved``: so is one the edge check leaves as it is."""
        best: tuple[float, FloatArray] | None = None
        for candidate in candidates:
            whole: float | None = None
            if min_raw_wholeness is not None:
                whole = self._wholeness_of(frame, candidate)
                if whole < min_raw_wholeness:
                    continue
            checked, moved = self._edge_checked(frame, candidate)
            if not self.plausible(checked) or (only_moved and not moved):
                continue
            if moved or whole is None:  # unmoved, it outlines the same crop (corner order does not matter)
                whole = self._wholeness_of(frame, checked)
            if best is None or whole > best[0]:
                best = (whole, checked)
        return best

    def split_groups(self, frame: BGRImage, found: list[CardQuad], map_px: float) -> list[CardQuad]:
        """``found`` with each outline of a group of cards replaced by its cards (see
        ``DetectorSettings.group_min_area_ratio``)."""
        s = self.settings
        height, width = frame.shape[:2]
        areas = [quad.area_frac for quad in found]
        result: list[CardQuad] = []
        for i, quad in enumerate(found):
            others = areas[:i] + areas[i + 1 :]
            large = (
                s.group_min_area_ratio is not None
                and bool(others)
                and quad.area_frac >= s.group_min_area_ratio * float(np.median(others))
            )
            own = self._wholeness_of(frame, quad.corners) if large or s.group_split_below is not None else 0.0
            unlike_a_card = s.group_split_below is not None and own < s.group_split_below
            cards = self.cards_of_group(frame, quad.corners, own) if large or unlike_a_card else []
            if not cards:
                result.append(quad)
                continue
            logger.debug("An outline (wholeness %.2f) is a group of %d cards", own, len(cards))
            for corners, whole in cards:
                result.append(
                    CardQuad(
                        corners,
                        quad.score,
                        quad.edge_strength,
                        polygon_area(corners) / float(width * height),
                        refined=quad.refined,
                        touches_border=quad_touches_border(corners, width, height),
                        extras={"split_from_group": 1.0, "wholeness": whole},
                    )
                )
        return without_duplicates(result, s.duplicate_iou)

    def cards_of_group(self, frame: BGRImage, corners: FloatArray, own: float) -> list[tuple[FloatArray, float]]:
        """The cards (corners, wholeness) of the grid that best explains ``corners`` as a group of cards,
        or [] when no grid's cells look like whole cards (a single card's pieces do not)."""
        s = self.settings
        picture, to_frame = straighten(frame, corners)
        grids = grid_hypotheses(picture, s.group_min_support)[: s.group_max_grids]
        grids += even_grids(picture.shape[1], picture.shape[0])
        best: list[tuple[FloatArray, float]] = []
        best_key = (0, -math.inf)
        for grid in grids:
            cells = []
            for cell in cell_quads(grid, to_frame):
                if not self.plausible(order_clockwise(cell)):
                    continue
                cells.append(self._more_whole_of_cell_and_checked(frame, order_clockwise(cell)))
            whole = [w for _, w in cells if w >= s.group_cell_min_wholeness]
            if len(whole) < max(2, s.group_min_whole_share * grid.rows * grid.cols):
                continue
            mean = float(np.mean(whole))
            if mean < own + s.group_min_gain:
                continue
            key = (len(whole), mean)
            if key > best_key:
                best = [(c, w) for c, w in cells if w >= s.group_cell_keep_wholeness]
                best_key = key
        return best

    def _more_whole_of_cell_and_checked(self, frame: BGRImage, cell: FloatArray) -> tuple[FloatArray, float]:
        """A grid cell or the cell after the edge check, whichever looks more whole, with its wholeness:
        between two touching cards, the neighbour's printed frame line can draw a side off the card."""
        own = (cell, self._wholeness_of(frame, cell))
        checked, moved = self._edge_checked(frame, cell)
        if not moved or not self.plausible(checked):
            return own
        after = (checked, self._wholeness_of(frame, checked))
        return after if after[1] > own[1] else own


def crowded(found: list[CardQuad], reach: float | None) -> list[bool]:
    """Per card, whether another card's corner or side middle lies within ``reach`` of its size beyond
    its outline (its outline grown about its centre by that share), in a view of three or more cards;
    all False when ``reach`` is None. (With two, one is often a piece of the other, or a stray outline
    over it, on a listing photo, and the edge check's rechecks grow the piece back into the card.)"""
    if reach is None or len(found) < 3:
        return [False] * len(found)
    grown = [quad.corners.mean(axis=0) + (quad.corners - quad.corners.mean(axis=0)) * (1 + reach) for quad in found]
    points = [np.vstack([q.corners, (q.corners + q.corners[[1, 2, 3, 0]]) / 2]) for q in found]
    return [
        any(j != i and any(holds(area, point) for point in points[j]) for j in range(len(found)))
        for i, area in enumerate(grown)
    ]
