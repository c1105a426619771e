"""Card finder: the four corners of every card in a BGR frame.

1. segmentation: CardSegNet (a ~0.1 M-parameter network trained on simulated captures, shipped as
   ONNX in ``models/finder/``) marks card surfaces and card outlines at ~1/10 of a 1280 px frame;
   the outline band keeps neighbouring cards (binder pages) apart;
2. coarse quads: each card blob's contour is reduced to its four dominant straight runs (sequential
   RANSAC), so a finger over an edge or a rounded corner does not bend the quad;
3. refinement: each side is re-found on the full-resolution frame as the strongest colour gradient
   near the coarse side, fitted with a robust line; corners are intersections of the sides (sub-pixel,
   and exact for rounded corners, where a corner detector would sit on the arc);
4. checks: convex, card-like aspect under up to ~40° tilt, mostly card pixels inside;
5. whole cards: each blob's outline is fitted within a tight and a wider reach of it, and the outline
   whose straightened crop looks more like a whole card is kept; two quads that are the halves of one
   card cut along a printed line are joined (both judged by ``app.vision.wholeness``);
6. several cards: a frame with signs of small cards (a far binder page, a table of cards) is segmented
   again at twice the network's size, and an outline much larger than the other cards is tried as a
   grid of cards (``app.vision.groups``), so a page or a group is not reported as one card.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from app.camera.base import BGRImage
from app.vision.geometry import (
    CARD_ASPECT,
    FloatArray,
    grown_across_side,
    interior_angles_deg,
    intersect_lines,
    is_convex,
    join_across_facing_sides,
    line_through,
    order_clockwise,
    parallelogram_corner,
    parallelogram_deviation,
    polygon_area,
    quad_iou,
    side_lengths,
)
from app.vision.groups import cell_quads, even_grids, grid_hypotheses, straighten
from app.vision.segment import DEFAULT_MODEL, CardSegmenter, SegmentationResult
from app.vision.sides import DEFAULT_WEIGHTS as EDGE_WEIGHTS
from app.vision.sides import corrected_sides, load_scorer, outline_judged_whole
from app.vision.wholeness import DEFAULT_WEIGHTS as WHOLENESS_WEIGHTS
from app.vision.wholeness import load_weights as load_wholeness_weights
from app.vision.wholeness import quad_wholeness

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FinderSettings:
    model_path: Path = DEFAULT_MODEL
    threads: int = 2
    #: Average the network's output over the frame and its mirror image (see CardSegmenter).
    mirror_pass: bool = True
    card_threshold: float = 0.5
    outline_threshold: float = 0.5
    min_area_frac: float = 0.01  # of the frame
    #: The network sees the frame at its usual size (256 px the long side): a card less than about a
    #: tenth of the frame high — a binder page or a table of cards seen whole — is a few map pixels
    #: across, too few to outline. When a frame shows signs of such cards (a card found smaller than
    #: ``fine_pass_below_area`` of the frame, or card-like blobs too small to outline), the network runs
    #: again at this long side, where cards down to ``fine_min_area_frac`` of the frame are outlined;
    #: its cards replace those of the first pass they overlap. None turns it off.
    fine_long_side: int | None = 512
    fine_pass_below_area: float = 0.04
    fine_min_area_frac: float = 0.004
    #: A first-pass card at least this large (of the frame) is kept over the fine pass's outline of it.
    fine_keeps_first_above: float = 0.02
    #: short/long side ratio of a card seen with up to ~40° tilt (a flat card is 0.716).
    min_aspect: float = 0.50
    max_aspect: float = 0.98
    min_angle_deg: float = 45.0
    min_mean_card_prob: float = 0.6
    #: A quad whose sides could not be found in the frame needs more network confidence.
    min_unrefined_card_prob: float = 0.85
    refine_samples_per_side: int = 24
    #: Measured outward bias of the network's card boundary, in map pixels.
    coarse_inset_map_px: float = 0.14
    #: ± search along a side's normal, in segmentation-map pixels.
    refine_search_map_px: float = 1.6
    duplicate_iou: float = 0.5
    #: Thin dips in the card map narrower than this (map pixels) are bridged where the network sees no
    #: outline: a printed line or a glare streak inside a card otherwise cuts its blob in two, and a
    #: half-card is card-shaped turned 90° (3 of the 28 misses of ``bench/detect.py``'s 500 captures).
    #: 0 turns it off.
    bridge_map_px: int = 5
    #: When the network takes a printed line across the card (the art window's lower border) for an
    #: outline, the card comes out as two card-shaped halves facing each other across a side. Two found
    #: quads whose facing sides are at most this far apart (a fraction of the side; the halves' are
    #: 5–22 % apart on bench/detect.py's captures) are joined when the whole looks more like a card than
    #: either piece (app/vision/wholeness.py). Two whole cards side by side stay apart: each piece is
    #: then a whole card. 0 turns it off.
    rejoin_gap: float = 0.35
    #: A blob's outline is looked for within 2 map pixels of it, and again within the blob grown this many
    #: map pixels through card pixels no other blob holds, plus a pixel (3 at the default). The network's
    #: outline band can lie inside the card (a printed line, a dark border) and stop the blob short of its
    #: edge, which the wider reach mends; but it can also let the outline leak into a sleeve's rim. Of the
    #: two outlines, the one whose straightened crop looks more like a whole card (app/vision/wholeness.py)
    #: is kept. 0: the tight reach only.
    wide_reach_map_px: int = 2
    #: The whole-card classifier both of the above consult.
    wholeness_weights: Path = WHOLENESS_WEIGHTS
    #: Last, each side of each card is checked against the straight edges near it (±20 % of the card's
    #: depth) and moved to the one a learned scorer takes for the card's own edge (app/vision/sides.py):
    #: a finger or a shadow biting into the blob, a top-loader's rim or an object beside the card no
    #: longer carries a side off the card.
    edge_check: bool = True
    edge_weights: Path = EDGE_WEIGHTS
    #: A side moves to an edge scoring at least this (and better than its own).
    edge_min_score: float = 0.0
    #: Rounds of the check (a moved side changes its neighbours' ends; a second round finds a few more).
    edge_passes: int = 2
    #: A side is checked only where the frame shows this share of the card's depth beyond it: the scorer
    #: needs to see what lies outside the edge (a card filling the picture: its inner frame otherwise
    #: looks like its edge).
    edge_min_view: float = 0.1
    #: The edge check (and the rechecks after it) is left out for a card with another card found within
    #: this share of its size beyond its outline, among three or more cards: its scorer learned single
    #: cards, with table or hand beyond the edge, and beside a neighbouring card or a pocket's seam it
    #: moved a side onto them (bench/multicard.py: 26 of 436 cards' outlines off with it, 5 without).
    #: None: always checked.
    edge_crowd_reach: float | None = 0.25
    #: After the check, a card whose straightened crop still does not look whole (wholeness below this:
    #: ~4 % of simulated cards, most of the outlines a side off among them) is outlined again from every
    #: combination of each side's own line and the best other edge near it, judged by wholeness and the
    #: edge scores together (app/vision/sides.py: ``outline_judged_whole``). None turns it off.
    edge_recheck_below: float | None = 0.3
    #: Weight of the sides' edge scores against wholeness in that choice, and how much more whole the
    #: chosen outline must look than the card's own.
    edge_recheck_edge_weight: float = 0.1
    edge_recheck_min_gain: float = 0.5
    #: Before that, a card whose crop looks less whole than this may be a piece of one: the network
    #: outlined one part of a card whose printed line (the art window's border) it took for an outline,
    #: and did not find the other part (a plain-coloured art area) to join it to. It is grown across
    #: each of its two longer sides into a whole card's shape, that far side checked like any other, and
    #: the grown card kept when it looks whole (at least ``grow_piece_min_wholeness``) and at least
    #: ``edge_recheck_min_gain`` more whole than the piece. None turns it off.
    grow_piece_below: float | None = 0.5
    grow_piece_min_wholeness: float = 0.8
    #: Last, a card whose outline is further than this from a parallelogram (``geometry.parallelogram_
    #: deviation``; a card's own perspective keeps 99 % of simulated captures' outlines below 0.18) may
    #: have a corner dragged off the card: a side taken along an object beside the card, a finger or a
    #: shadow turns about its good end, beyond where the edge check looks. Each corner in turn is put
    #: where the other three put it were the card a parallelogram and the two sides through it are found
    #: by the edge check (one it leaves unmoved has no edge to go by and is passed over); the most whole
    #: of the four is kept when it looks whole (at least ``rebuild_corner_min_wholeness``) and
    #: ``rebuild_corner_min_gain`` more whole than the outline it replaces. None turns it off.
    rebuild_corner_min_deviation: float | None = 0.2
    rebuild_corner_min_wholeness: float = 0.5
    rebuild_corner_min_gain: float = 0.2
    #: Last of all, an outline may be a group of cards: a binder page of 2×2 or 3×3 pockets or cards
    #: lying edge to edge nearly have a card's shape, and the network can outline the group as one
    #: card (the network shipped before multi-card scenes were in its training did so on most pages;
    #: the retrained one, on bench/multicard.py's 140 scenes, on two pairs of touching cards). An
    #: outline ``group_min_area_ratio`` times larger than the median other card found (two cards side
    #: by side: twice), or whose crop looks less whole than ``group_split_below``, is tried as grids of
    #: card-shaped cells (``app.vision.groups``: the grids whose lines the picture shows as edges across
    #: the whole outline, and the even splits); each cell, or its outline after the edge check if that
    #: looks more whole, is judged by the whole-card classifier, and the grid whose cells look whole
    #: replaces the outline by its cards. The wholeness trigger is off by default: it tries ~4 % of
    #: single cards (those looking least whole) at ~50–300 ms each and found no group the retrained
    #: network had missed. None turns that trigger, or the size trigger, off.
    group_min_area_ratio: float | None = 1.7
    group_split_below: float | None = None
    #: Grids looked at: the best supported ones whose lines run along edges over this share of the outline.
    group_min_support: float = 0.25
    group_max_grids: int = 4
    #: A grid is taken when at least ``group_min_whole_share`` of its cells (and two) look at least
    #: ``group_cell_min_wholeness`` whole, ``group_min_gain`` more whole on average
    #: than the outline. Its cards are then the cells looking at least ``group_cell_keep_wholeness``
    #: whole (a sleeve's shine or a pocket's rim lowers a card's wholeness; an empty pocket's is lower).
    group_cell_min_wholeness: float = 0.3
    group_min_whole_share: float = 0.4
    group_min_gain: float = 0.3
    group_cell_keep_wholeness: float = -0.4


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
class _Reach:
    """Where a blob's outline may lie: a mask over a window of the card map starting at (x0, y0)."""

    mask: npt.NDArray[np.bool_]
    x0: int
    y0: int


class CardDetector:
    """Finds cards in frames. Holds one ONNX Runtime session; use one instance per thread."""

    def __init__(self, settings: FinderSettings | None = None, segmenter: CardSegmenter | None = None) -> None:
        self.settings = settings or FinderSettings()
        self.segmenter = segmenter or CardSegmenter(
            self.settings.model_path, self.settings.threads, self.settings.mirror_pass
        )
        s = self.settings
        #: The finder of the fine pass (``FinderSettings.fine_long_side``): the same network and steps,
        #: smaller cards allowed.
        self._fine = (
            CardDetector(replace(s, fine_long_side=None, min_area_frac=s.fine_min_area_frac), self.segmenter)
            if s.fine_long_side
            else None
        )
        # Fail at start-up, not mid-stream.
        rechecks = s.edge_recheck_below is not None or s.grow_piece_below is not None
        if s.rejoin_gap > 0 or s.wide_reach_map_px > 0 or (s.edge_check and rechecks):
            load_wholeness_weights(str(self.settings.wholeness_weights))
        if self.settings.edge_check:
            load_scorer(str(self.settings.edge_weights))

    def find_quads(self, frame: BGRImage, analysis: BGRImage | None = None) -> list[CardQuad]:
        """Quads in ``frame`` coordinates. ``analysis``: a smaller picture of the same view (a camera's
        low-resolution stream) for the network; the sub-pixel refinement still uses ``frame``."""
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"expected a BGR uint8 frame, got shape {frame.shape} {frame.dtype}")
        if analysis is None:
            seg = self.segmenter.segment(frame)
        else:
            ratio = frame.shape[1] / analysis.shape[1]
            if abs(frame.shape[0] / analysis.shape[0] - ratio) > 0.02 * ratio:
                raise ValueError(f"analysis picture {analysis.shape[:2]} is not the frame {frame.shape[:2]} scaled")
            seg = self.segmenter.segment(analysis)
            seg = replace(seg, frame_per_map_px=seg.frame_per_map_px * ratio)
        found = self.quads_from_segmentation(frame, seg)
        if self._fine is not None and self._wants_fine_pass(frame, seg, found):
            fine = self._fine.quads_from_segmentation(
                frame, self.segmenter.segment(frame, self.settings.fine_long_side)
            )
            found = _merged_passes(fine, found, self.settings.fine_keeps_first_above)
        return found

    def _wants_fine_pass(self, frame: BGRImage, seg: SegmentationResult, found: list[CardQuad]) -> bool:
        """Whether the frame may hold cards too small for the network's usual resolution: a card found
        is small, or the network saw card-like blobs too small to be outlined (a binder page far away)."""
        s = self.settings
        if any(quad.area_frac < s.fine_pass_below_area for quad in found):
            return True
        card, interior = self._interior(frame, seg)
        count, _, stats, _ = cv2.connectedComponentsWithStats(interior, connectivity=4)
        min_area = s.min_area_frac * card.size * 0.6
        areas = stats[1:count, cv2.CC_STAT_AREA]
        return bool(((areas >= min_area / 8) & (areas < min_area)).sum() >= 2)

    def _interior(
        self, frame: BGRImage, seg: SegmentationResult
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.uint8]]:
        """The card map over the frame (thin inner dips bridged) and its card interiors (card pixels off
        the outline band)."""
        s = self.settings
        height, width = frame.shape[:2]
        f = seg.frame_per_map_px
        map_w = min(seg.card.shape[1], math.ceil(width / f))
        map_h = min(seg.card.shape[0], math.ceil(height / f))
        outline = seg.outline[:map_h, :map_w]
        card = bridge_inner_lines(seg.card[:map_h, :map_w], outline, s.bridge_map_px, s.outline_threshold)
        return card, ((card > s.card_threshold) & (outline < s.outline_threshold)).astype(np.uint8)

    def quads_from_segmentation(self, frame: BGRImage, seg: SegmentationResult) -> list[CardQuad]:
        s = self.settings
        f = seg.frame_per_map_px
        card, interior = self._interior(frame, seg)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(interior, connectivity=4)
        min_area = s.min_area_frac * card.size * 0.6
        blobs = [label for label in range(1, count) if stats[label, cv2.CC_STAT_AREA] >= min_area]
        claimed = _grown_labels(labels, blobs, card > s.card_threshold, s.wide_reach_map_px) if blobs else labels
        found: list[CardQuad] = []
        for label in blobs:
            # The blob is the card's interior; its outline is taken from the card map within a reach of
            # it. Two reaches, two candidate outlines (see ``FinderSettings.wide_reach_map_px``).
            own = claimed == label
            x0, y0, x1, y1 = _window(own, pad=5)
            window = np.s_[y0:y1, x0:x1]
            tight = _Reach(
                cv2.dilate((labels[window] == label).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0, x0, y0
            )
            coarse = [self._coarse_quad(card, tight)]
            if s.wide_reach_map_px > 0:
                others = (claimed[window] != label) & (claimed[window] > 0)
                wide_mask = (cv2.dilate(own[window].astype(np.uint8), np.ones((3, 3), np.uint8)) > 0) & ~others
                wide = self._coarse_quad(card, _Reach(wide_mask, x0, y0))
                # Within half a map pixel of the tight one: the same sides after refinement, mostly.
                if wide is not None and (coarse[0] is None or np.abs(wide - coarse[0]).max() > 0.5):
                    coarse.append(wide)
            candidates = [self._candidate(frame, card, seg, c) for c in coarse if c is not None]
            quads = [quad for quad in candidates if quad is not None]
            if len(quads) > 1 and np.abs(quads[0].corners - quads[1].corners).max() > 1.0:
                wholeness = [quad_wholeness(frame, quad.corners, s.wholeness_weights) for quad in quads]
                quads = [quads[int(np.argmax(wholeness))]]
            found += quads[:1]
        found = self._rejoin_split_cards(frame, self._drop_duplicates(found), f)
        if s.edge_check:
            for quad, crowded in zip(found, _crowded(found, s.edge_crowd_reach), strict=True):
                if not crowded:
                    self._move_sides_to_card_edges(frame, quad)
        if s.edge_check and (s.group_split_below is not None or s.group_min_area_ratio is not None):
            found = self._drop_duplicates(self._groups_split_into_cards(frame, found))
        return found

    # ------------------------------------------------------------------ steps
    def _candidate(
        self, frame: BGRImage, card: npt.NDArray[np.float32], seg: SegmentationResult, coarse_map: FloatArray
    ) -> CardQuad | None:
        """A coarse outline (map coordinates) checked and refined on the frame; None when it is not a
        plausible card."""
        s = self.settings
        height, width = frame.shape[:2]
        f = seg.frame_per_map_px
        coarse = (coarse_map + seg.offset) * f
        area_frac = polygon_area(coarse) / float(width * height)
        if area_frac < s.min_area_frac or not self.plausible_shape(coarse):
            return None
        score = _mean_inside(card, coarse_map)
        if score < s.min_mean_card_prob:
            return None
        refined = self.refine(frame, coarse, f)
        quad = CardQuad(coarse, score, 0.0, area_frac, refined=False)
        if refined is not None and self.plausible_shape(refined.corners):
            quad.corners, quad.edge_strength, quad.refined = refined.corners, refined.edge_strength, True
        elif score < s.min_unrefined_card_prob:
            # No crisp outline in the frame and the network is unsure: a box or a mat, not a card.
            return None
        quad.corners = order_clockwise(quad.corners)
        quad.touches_border = quad_touches_border(quad.corners, width, height)
        return quad

    def _coarse_quad(self, card: npt.NDArray[np.float32], reach: _Reach) -> FloatArray | None:
        """Quad of the card map within ``reach``, in map coordinates (pixel centres as in training),
        sub-pixel: the map is upsampled 3× so the 0.5 crossing is found to a third of a pixel.
        """
        up = 3
        x0, y0 = reach.x0, reach.y0
        h, w = reach.mask.shape
        prob = np.where(reach.mask, card[y0 : y0 + h, x0 : x0 + w], 0.0).astype(np.float32)
        fine = cv2.resize(prob, (w * up, h * up), interpolation=cv2.INTER_LINEAR)
        mask = (fine > self.settings.card_threshold).astype(np.uint8)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        if not contours:
            return None
        contour = max(contours, key=cv2.contourArea)
        quad = quad_from_contour(contour, plausible=self.plausible_shape, mask=mask)
        if quad is None:
            return None
        # Upsampled pixel j sits at map coordinate (j + 0.5) / up - 0.5. The network's 0.5 crossing
        # lies ~0.3 map px outside the true edge on simulated captures (bias measured over 300 sides),
        # so corners move inward by that much.
        centre = quad.mean(axis=0)
        outward = (quad - centre) / (np.linalg.norm(quad - centre, axis=1, keepdims=True) + 1e-9)
        quad = quad - outward * self.settings.coarse_inset_map_px * up * np.sqrt(2)
        return np.asarray((quad + 0.5) / up - 0.5 + np.array([x0, y0]))

    def plausible_shape(self, quad: FloatArray) -> bool:
        s = self.settings
        if not is_convex(quad):
            return False
        angles = interior_angles_deg(quad)
        if angles.min() < s.min_angle_deg or angles.max() > 180.0 - s.min_angle_deg:
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
        return s.min_aspect <= min(a, b) / max(a, b) <= s.max_aspect

    def refine(
        self, frame: BGRImage, coarse: FloatArray, map_px: float, search_px: float | None = None
    ) -> Refinement | None:
        """Re-find each side of ``coarse`` as the strongest colour edge near it; intersect the fitted
        lines. ``map_px``: frame pixels per segmentation-map pixel (the network's precision, which
        sets how far to look); ``search_px``: look only this far instead (a guess known to be closer).
        Corner ``i`` of the result is the refined corner ``i`` of ``coarse``, in the same order."""
        s = self.settings
        height, width = frame.shape[:2]
        search = max(3.0, s.refine_search_map_px * map_px) if search_px is None else search_px
        # A fitted side may leave the guess by this much at its ends (more: another straight edge).
        drift = max(2.0, 1.2 * map_px) if search_px is None else 0.75 * search_px
        n = s.refine_samples_per_side
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

    def _rejoin_split_cards(self, frame: BGRImage, found: list[CardQuad], map_px: float) -> list[CardQuad]:
        """``found`` with each card that was cut in two joined again (see ``FinderSettings.rejoin_gap``)."""
        s = self.settings
        if s.rejoin_gap <= 0 or len(found) < 2:
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
                if gap > s.rejoin_gap or not self.plausible_shape(outer):
                    continue
                outer_wholeness = quad_wholeness(frame, outer, s.wholeness_weights)
                if outer_wholeness <= max(0.0, whole(a), whole(b)):
                    continue
                # The long sides are each two pieces' sides: fit them again as one line.
                refined = self.refine(frame, outer, map_px)
                if refined is not None and not self.plausible_shape(refined.corners):
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

    def _move_sides_to_card_edges(self, frame: BGRImage, quad: CardQuad) -> None:
        """``quad`` with any side that sits on another edge than the card's moved to the card's edge
        (see ``FinderSettings.edge_check``), then, when its crop still does not look whole, grown from a
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
                acceptable=self.plausible_shape,
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
            acceptable=self.plausible_shape,
            min_view=s.edge_min_view,
        )
        return order_clockwise(checked), moved

    def _wholeness_of(self, frame: BGRImage, corners: FloatArray) -> float:
        return quad_wholeness(frame, corners, self.settings.wholeness_weights)

    def _whole_card_around_piece(self, frame: BGRImage, piece: FloatArray, piece_wholeness: float) -> FloatArray | None:
        """The whole card ``piece`` (clockwise) is part of, when grown across one of its longer sides
        into a card's shape it looks whole (see ``FinderSettings.grow_piece_below``); else None."""
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
        from card-shaped and the rebuilt one looks more whole (``FinderSettings.rebuild_corner_*``;
        ``wholeness``: the outline's own, when already measured); else None."""
        s = self.settings
        if s.rebuild_corner_min_deviation is None or parallelogram_deviation(corners) < s.rebuild_corner_min_deviation:
            return None
        rebuilt = (np.vstack([corners[:i], parallelogram_corner(corners, i), corners[i + 1 :]]) for i in range(4))
        best = self._most_whole_after_edge_check(
            frame, (quad for quad in rebuilt if self.plausible_shape(quad)), only_moved=True
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
            if not self.plausible_shape(checked) or (only_moved and not moved):
                continue
            if moved or whole is None:  # unmoved, it outlines the same crop (corner order does not matter)
                whole = self._wholeness_of(frame, checked)
            if best is None or whole > best[0]:
                best = (whole, checked)
        return best

    def _groups_split_into_cards(self, frame: BGRImage, found: list[CardQuad]) -> list[CardQuad]:
        """``found`` with each outline of a group of cards replaced by its cards (see
        ``FinderSettings.group_min_area_ratio``)."""
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
            cards = self._cards_of_group(frame, quad.corners, own) if large or unlike_a_card else []
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
        return result

    def _cards_of_group(self, frame: BGRImage, corners: FloatArray, own: float) -> list[tuple[FloatArray, float]]:
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
                if not self.plausible_shape(order_clockwise(cell)):
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
        if not moved or not self.plausible_shape(checked):
            return own
        after = (checked, self._wholeness_of(frame, checked))
        return after if after[1] > own[1] else own

    def _drop_duplicates(self, found: list[CardQuad]) -> list[CardQuad]:
        kept: list[CardQuad] = []
        for quad in sorted(found, key=lambda c: -c.score * c.area_frac):
            if all(quad_iou(quad.corners, k.corners) < self.settings.duplicate_iou for k in kept):
                kept.append(quad)
        return kept


def _crowded(found: list[CardQuad], reach: float | None) -> list[bool]:
    """Per card, whether another card's corner or side middle lies within ``reach`` of its size beyond
    its outline (its outline grown about its centre by that share), in a view of three or more cards;
    all False when ``reach`` is None. (With two, one is often a piece of the other, or a stray outline
    over it, on a listing photo, and the edge check's rechecks grow the piece back into the card.)"""
    if reach is None or len(found) < 3:
        return [False] * len(found)
    grown = [quad.corners.mean(axis=0) + (quad.corners - quad.corners.mean(axis=0)) * (1 + reach) for quad in found]
    points = [np.vstack([q.corners, (q.corners + q.corners[[1, 2, 3, 0]]) / 2]) for q in found]
    return [
        any(j != i and any(_holds(area, point) for point in points[j]) for j in range(len(found)))
        for i, area in enumerate(grown)
    ]


def _merged_passes(fine: list[CardQuad], coarse: list[CardQuad], small_area: float) -> list[CardQuad]:
    """The two passes' cards together: a first-pass card of at least ``small_area`` of the frame stays
    (the network outlines it best at its usual size) unless it holds two or more fine cards' centres (a
    group of them), and the fine cards overlapping none that stays."""

    def overlap(a: CardQuad, b: CardQuad) -> bool:
        return (
            _holds(a.corners, b.corners.mean(axis=0))
            or _holds(b.corners, a.corners.mean(axis=0))
            or quad_iou(a.corners, b.corners) > 0.2
        )

    kept = [
        quad
        for quad in coarse
        if quad.area_frac >= small_area and sum(_holds(quad.corners, f.corners.mean(axis=0)) for f in fine) < 2
    ]
    fine_kept = [f for f in fine if not any(overlap(f, quad) for quad in kept)]
    rest = [q for q in coarse if all(q is not k for k in kept) and not any(overlap(q, f) for f in fine)]
    return kept + fine_kept + rest


def _holds(quad: FloatArray, point: FloatArray) -> bool:
    return cv2.pointPolygonTest(quad.astype(np.float32), (float(point[0]), float(point[1])), False) > 0


def _grown_labels(
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


def _window(mask: npt.NDArray[np.bool_], pad: int) -> tuple[int, int, int, int]:
    """x0, y0, x1, y1 of a mask's bounding box grown by ``pad``, inside the mask's picture."""
    ys, xs = np.nonzero(mask)
    height, width = mask.shape
    return (
        max(0, int(xs.min()) - pad),
        max(0, int(ys.min()) - pad),
        min(width, int(xs.max()) + 1 + pad),
        min(height, int(ys.max()) + 1 + pad),
    )


def _median(values: npt.NDArray[np.floating]) -> float:
    """np.median of a small 1-d array (the same value) without its general-purpose overhead, which is
    most of its cost on the finder's 24-sample sides."""
    ordered = np.sort(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[middle])
    return float((ordered[middle - 1] + ordered[middle]) / 2)


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


def _mean_inside(prob: npt.NDArray[np.float32], quad: FloatArray) -> float:
    mask = np.zeros(prob.shape, np.uint8)
    cv2.fillConvexPoly(mask, np.round(quad * 4).astype(np.int32), 1, cv2.LINE_8, shift=2)
    inside = mask > 0
    return float(prob[inside].mean()) if inside.any() else 0.0


def _border_line(p: FloatArray, q: FloatArray, width: int, height: int, tol: float) -> FloatArray:
    """The frame edge that the side p–q runs along."""
    if p[0] <= tol and q[0] <= tol:
        return line_through(np.array([0.0, 0.0]), np.array([0.0, 1.0]))
    if p[1] <= tol and q[1] <= tol:
        return line_through(np.array([0.0, 0.0]), np.array([1.0, 0.0]))
    if p[0] >= width - 1 - tol and q[0] >= width - 1 - tol:
        return line_through(np.array([width - 1.0, 0.0]), np.array([width - 1.0, 1.0]))
    return line_through(np.array([0.0, height - 1.0]), np.array([1.0, height - 1.0]))


def quad_from_contour(
    contour: npt.NDArray[np.int32],
    support_edges: npt.NDArray[np.uint8] | None = None,
    plausible: Callable[[FloatArray], bool] | None = None,
    mask: npt.NDArray[np.uint8] | None = None,
) -> FloatArray | None:
    """The card quadrilateral a contour outlines, or None.

    A card's edge contour is often joined to other edges (a finger over the border, an object
    touching the card, a printed grid), so the quad is built from the contour's dominant straight
    runs, found by sequential RANSAC over local tangents; the four lines that enclose a convex
    quadrilateral explaining the most contour points win. Corners are line intersections, which also
    restores the sharp corner of a rounded card corner.
    """
    hull_perimeter = cv2.arcLength(cv2.convexHull(contour), True)
    if hull_perimeter < 40:
        return None
    poly = cv2.approxPolyDP(contour, 0.01 * hull_perimeter, True).reshape(-1, 2).astype(np.float64)
    if mask is None and len(poly) == 4 and is_convex(poly):
        return order_clockwise(poly)
    lines = _ransac_lines(contour.reshape(-1, 2).astype(np.float64), hull_perimeter)
    if len(lines) < 4:
        return None
    best: FloatArray | None = None
    best_score = 0.0
    for combo in itertools.combinations(range(len(lines)), 4):
        quad = _quad_from_lines([lines[i][0] for i in combo])
        if quad is None or (plausible is not None and not plausible(quad)):
            continue
        if mask is not None:
            score = _mask_iou(mask, quad)
        elif support_edges is not None:
            # Supported outline length: the quad that puts the most of its outline on edges.
            score = _edge_support(support_edges, quad) ** 2 * cv2.arcLength(quad.astype(np.float32), True)
        else:
            score = sum(lines[i][1] for i in combo)
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
        # nothing to discount (Huber's iterations took ~0.5 ms a frame; bench/detect.py located the same
        # 8 of 500 misses with both, and 28 instead of 30 of the `--seed 7` 1,000).
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


def _edge_support(edges: npt.NDArray[np.uint8], quad: FloatArray, samples: int = 40) -> float:
    """Share of points along the quad's sides that lie on an edge pixel."""
    height, width = edges.shape
    t = np.linspace(0.08, 0.92, samples)
    hits = 0
    total = 0
    for i in range(4):
        p, q = quad[i], quad[(i + 1) % 4]
        pts = np.round(p[None, :] + t[:, None] * (q - p)[None, :]).astype(int)
        inside = (pts[:, 0] >= 0) & (pts[:, 0] < width) & (pts[:, 1] >= 0) & (pts[:, 1] < height)
        pts = pts[inside]
        total += samples
        hits += int((edges[pts[:, 1], pts[:, 0]] > 0).sum())
    return hits / max(total, 1)


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


def card_aspect_error(quad: FloatArray) -> float:
    sides = side_lengths(quad)
    a = (sides[0] + sides[2]) / 2
    b = (sides[1] + sides[3]) / 2
    return abs(min(a, b) / max(a, b) - CARD_ASPECT) if max(a, b) > 0 else math.inf
