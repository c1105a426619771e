"""Card detector: the four corners of every card in a BGR frame, stage by stage.

1. segmentation (:mod:`app.vision.segment`): CardSegNet (a ~0.1 M-parameter network trained on
   simulated captures, shipped as ONNX in ``models/finder/``) marks card surfaces and card outlines at
   ~1/10 of a 1280 px frame; the outline band keeps neighbouring cards (binder pages) apart;
2. outline candidates (:mod:`app.vision.quads`): each card blob's contour is reduced to its four
   dominant straight runs, within a tight and a wider reach of the blob, and checked for a card's shape
   and confidence;
3. refinement (:mod:`app.vision.refine`): each side is re-found on the full-resolution frame, corners
   are the sides' intersections; of a blob's two outlines the one whose straightened crop looks more
   like a whole card is kept (``app.vision.wholeness``);
4. repairs (:mod:`app.vision.repairs`): halves of one card joined, sides moved onto the card's own
   edges, groups of cards split into cards — each one step in a list;
5. several cards: a frame with signs of small cards (a far binder page, a table of cards) is
   segmented again at twice the network's size.

The straightened crop is then :func:`app.vision.warp.warp_card`'s; :mod:`app.vision.finder` runs all
this on a stream.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from app.camera.base import BGRImage
from app.config import FinderConfig, default_of
from app.vision.geometry import FloatArray, order_clockwise, polygon_area, quad_iou
from app.vision.quads import (
    CardQuad,
    Reach,
    bridge_inner_lines,
    coarse_quad,
    grown_labels,
    holds,
    mean_inside,
    plausible_card_shape,
    window_of,
    without_duplicates,
)
from app.vision.refine import Refinement, quad_touches_border, refine_sides
from app.vision.repairs import CardRepairs
from app.vision.segment import DEFAULT_MODEL, CardSegmenter, SegmentationResult
from app.vision.sides import DEFAULT_WEIGHTS as EDGE_WEIGHTS
from app.vision.sides import load_scorer
from app.vision.wholeness import DEFAULT_WEIGHTS as WHOLENESS_WEIGHTS
from app.vision.wholeness import load_weights as load_wholeness_weights
from app.vision.wholeness import quad_wholeness

__all__ = ["CardDetector", "CardQuad", "DetectorSettings", "Refinement", "quad_touches_border"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DetectorSettings:
    """What :class:`CardDetector` does. The fields named as ``[finder]`` settings take their defaults
    from there (``app.config.FinderConfig``, where they are described); the rest are the detector's
    own tunables, each with why it is what it is."""

    model: Path = DEFAULT_MODEL
    threads: int = default_of(FinderConfig, "threads")
    mirror_pass: bool = default_of(FinderConfig, "mirror_pass")
    card_threshold: float = 0.5
    outline_threshold: float = 0.5
    min_area_frac: float = default_of(FinderConfig, "min_area_frac")
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
    edge_check: bool = default_of(FinderConfig, "edge_check")
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
    #: single cards (those looking least whole), each try costing several network frames, and found no
    #: group the retrained network had missed. None turns that trigger, or the size trigger, off.
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


class CardDetector:
    """Finds cards in frames. Holds one ONNX Runtime session; use one instance per thread."""

    def __init__(self, settings: DetectorSettings | None = None, segmenter: CardSegmenter | None = None) -> None:
        self.settings = settings or DetectorSettings()
        self.segmenter = segmenter or CardSegmenter(
            self.settings.model, self.settings.threads, self.settings.mirror_pass
        )
        s = self.settings
        self.repairs = CardRepairs(s, self.plausible_shape, self.refine)
        #: The detector of the fine pass (``DetectorSettings.fine_long_side``): the same network and steps,
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
        claimed = grown_labels(labels, blobs, card > s.card_threshold, s.wide_reach_map_px) if blobs else labels
        found: list[CardQuad] = []
        for label in blobs:
            # The blob is the card's interior; its outline is taken from the card map within a reach of
            # it. Two reaches, two candidate outlines (see ``DetectorSettings.wide_reach_map_px``).
            own = claimed == label
            x0, y0, x1, y1 = window_of(own, pad=5)
            window = np.s_[y0:y1, x0:x1]
            tight = Reach(cv2.dilate((labels[window] == label).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0, x0, y0)
            coarse = [self._coarse_quad(card, tight)]
            if s.wide_reach_map_px > 0:
                others = (claimed[window] != label) & (claimed[window] > 0)
                wide_mask = (cv2.dilate(own[window].astype(np.uint8), np.ones((3, 3), np.uint8)) > 0) & ~others
                wide = self._coarse_quad(card, Reach(wide_mask, x0, y0))
                # Within half a map pixel of the tight one: the same sides after refinement, mostly.
                if wide is not None and (coarse[0] is None or np.abs(wide - coarse[0]).max() > 0.5):
                    coarse.append(wide)
            candidates = [self._candidate(frame, card, seg, c) for c in coarse if c is not None]
            quads = [quad for quad in candidates if quad is not None]
            if len(quads) > 1 and np.abs(quads[0].corners - quads[1].corners).max() > 1.0:
                wholeness = [quad_wholeness(frame, quad.corners, s.wholeness_weights) for quad in quads]
                quads = [quads[int(np.argmax(wholeness))]]
            found += quads[:1]
        found = without_duplicates(found, s.duplicate_iou)
        for repair in self.repairs.steps:
            found = repair(frame, found, f)
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
        score = mean_inside(card, coarse_map)
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

    def _coarse_quad(self, card: npt.NDArray[np.float32], reach: Reach) -> FloatArray | None:
        s = self.settings
        return coarse_quad(card, reach, s.card_threshold, s.coarse_inset_map_px, self.plausible_shape)

    def plausible_shape(self, quad: FloatArray) -> bool:
        """Whether ``quad`` can be a card at the tilts these settings allow (``min_angle_deg``,
        ``min_aspect``, ``max_aspect``)."""
        s = self.settings
        return plausible_card_shape(quad, s.min_angle_deg, s.min_aspect, s.max_aspect)

    def refine(
        self, frame: BGRImage, coarse: FloatArray, map_px: float, search_px: float | None = None
    ) -> Refinement | None:
        """``coarse``'s sides re-found on ``frame`` (:func:`app.vision.refine.refine_sides`) with these
        settings' sampling and reach; ``search_px``: look only this far (a guess known to be closer)."""
        s = self.settings
        return refine_sides(frame, coarse, map_px, s.refine_samples_per_side, s.refine_search_map_px, search_px)


def _merged_passes(fine: list[CardQuad], coarse: list[CardQuad], small_area: float) -> list[CardQuad]:
    """The two passes' cards together: a first-pass card of at least ``small_area`` of the frame stays
    (the network outlines it best at its usual size) unless it holds two or more fine cards' centres (a
    group of them), and the fine cards overlapping none that stays."""

    def overlap(a: CardQuad, b: CardQuad) -> bool:
        return (
            holds(a.corners, b.corners.mean(axis=0))
            or holds(b.corners, a.corners.mean(axis=0))
            or quad_iou(a.corners, b.corners) > 0.2
        )

    kept = [
        quad
        for quad in coarse
        if quad.area_frac >= small_area and sum(holds(quad.corners, f.corners.mean(axis=0)) for f in fine) < 2
    ]
    fine_kept = [f for f in fine if not any(overlap(f, quad) for quad in kept)]
    rest = [q for q in coarse if all(q is not k for k in kept) and not any(overlap(q, f) for f in fine)]
    return kept + fine_kept + rest
