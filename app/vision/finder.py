"""Finder facade: frame → found cards (quad, upright crop, quality signals).

On a stream (``FollowSettings``), the network does not have to run on every frame: a card found in
the last frame is re-found from its last outline — shifted by the motion measured around it, each
side snapped to the strongest edge near there, as the network path's own refinement does — and
accepted only when at least three sides are found again, the card kept its shape and edge contrast,
and its straightened picture still looks like the last one. Anything else, and at least every
``network_every``-th frame, runs the network, which also finds cards that came into view.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from functools import lru_cache

import cv2
import numpy as np
import numpy.typing as npt

from app.camera.base import BGRImage
from app.config import FinderConfig, default_of
from app.imageops import area_downscale
from app.vision.detect import CardDetector
from app.vision.geometry import (
    CANONICAL_SIZE,
    FloatArray,
    order_clockwise,
    polygon_area,
    quad_diagonal,
    quad_iou,
    side_lengths,
)
from app.vision.quads import CardQuad
from app.vision.quality import GLARE_SIZE, SHARPNESS_SIZE, glare_fraction, quad_motion, sharpness
from app.vision.refine import quad_touches_border
from app.vision.warp import WarpedCard, inset_corners, inset_image, warp_card, warp_to

logger = logging.getLogger(__name__)

_THUMBNAIL_SIZE = (22, 31)


@dataclass(frozen=True)
class FoundCard:
    quad: CardQuad
    warped: WarpedCard
    sharpness: float
    glare: float
    #: Mean corner shift since the previous frame as a fraction of the diagonal (1.0 = new).
    motion: float
    #: Re-found from the last frame's outline, without the network (see ``FollowSettings``).
    followed: bool = False
    #: The crop as a tiny normalised grey picture (how following tells the card is still the card).
    thumbnail: npt.NDArray[np.float32] | None = field(default=None, repr=False, compare=False)

    @property
    def corners(self) -> FloatArray:
        """The card's TL, TR, BR, BL in the frame."""
        return self.warped.corners

    def inside_toploader(self) -> FoundCard:
        """This find read as a top-loader's outline: the card inside it (crop and corners). A
        top-loader's rim can be a stronger edge than the card's own; the finder then outlines it."""
        inner = replace(self.warped, image=inset_image(self.warped.image), corners=inset_corners(self.warped.corners))
        return replace(self, warped=inner)


@dataclass(frozen=True)
class FollowSettings:
    """When a card found in the last frame may be re-found without the network."""

    #: The network runs on at least every n-th frame (and whenever a card cannot be followed);
    #: 1 = on every frame. New cards in view are found by the next network frame.
    network_every: int = default_of(FinderConfig, "network_every")
    #: Least normalised correlation between the card's straightened picture (a small grey
    #: thumbnail) and the last frame's: below it, the outline slid onto something else or another
    #: card took the place. Consecutive frames of a followed simulated held card stay above it with
    #: room to spare; two different catalogue cards fall well below it, even the most alike pairs.
    min_similarity: float = 0.95
    #: Most any side's length may change from one frame to the next (a fraction of it).
    max_side_change: float = 0.12
    #: How far (frame pixels) each side is looked for around where the measured motion puts it. Short
    #: enough that a printed line inside the card's border (~10 px in at 720p) is out of reach.
    search_px: float = 6.0
    #: Least edge contrast across the sides, as a fraction of it when the network last found the card.
    min_edge_ratio: float = 0.5

    def __post_init__(self) -> None:
        if self.network_every < 1:
            raise ValueError(f"network_every must be at least 1, got {self.network_every}")


@dataclass(frozen=True)
class _Followed:
    """What the next frame needs to re-find one card."""

    card: FoundCard
    #: Shift of the card's centre over the last frame, in pixels (the guess for the next frame).
    velocity: FloatArray
    #: Edge contrast when the network last found the card.
    edge_strength: float
    #: Where the card's shift is measured: a fixed box of the frame around it, and that box's last picture.
    box: tuple[int, int, int, int]
    patch: npt.NDArray[np.float32]


class CardFinder:
    """Finds, straightens and rates every card in a stream of frames (remembers the last frame's
    quads for the motion signal). ``follow``: treat the frames as a live stream and re-find known
    cards between network frames (see the module's doc); without it every frame is found afresh.
    Not thread-safe: one per capture loop."""

    def __init__(
        self,
        detector: CardDetector | None = None,
        size: tuple[int, int] = CANONICAL_SIZE,
        follow: FollowSettings | None = None,
    ) -> None:
        self.detector = detector or CardDetector()
        self.size = size
        self.follow = follow
        self._previous: list[FloatArray] = []
        self._followed: list[_Followed] = []
        self._frame_shape: tuple[int, ...] = ()
        self._frames_since_network = 0
        #: Frames found by the network and by following, since construction (for benches and logs).
        self.network_frames = 0
        self.followed_frames = 0

    def find_cards(self, frame: BGRImage, analysis: BGRImage | None = None) -> list[FoundCard]:
        followed = self._follow_all(frame)
        if followed is not None:
            self._frames_since_network += 1
            self.followed_frames += 1
            found = [card for card, _ in followed]
            self._previous = [f.quad.corners for f in found]
            self._followed = [
                replace(
                    before,
                    card=card,
                    velocity=card.corners.mean(axis=0) - before.card.corners.mean(axis=0),
                    patch=patch,
                )
                for before, (card, patch) in zip(self._followed, followed, strict=True)
            ]
            return found
        found = []
        for quad in self.detector.find_quads(frame, analysis):
            warped = warp_card(frame, quad.corners, self.size)
            found.append(self._rated(quad, warped))
        self._frames_since_network = 0
        self.network_frames += 1
        self._followed = self._to_follow(frame, found)
        self._previous = [f.quad.corners for f in found]
        self._frame_shape = frame.shape
        return found

    def reset(self) -> None:
        self._previous = []
        self._followed = []

    # ------------------------------------------------------------------ following
    def _rated(self, quad: CardQuad, warped: WarpedCard, followed: bool = False) -> FoundCard:
        # The signals are measured on the crop shrunk by halving steps (area_downscale): shrink it
        # once, step by step, and hand each its size. The values are the same as from the crop itself.
        half = area_downscale(warped.image, SHARPNESS_SIZE)
        small = area_downscale(half, GLARE_SIZE)
        return FoundCard(
            quad=quad,
            warped=warped,
            sharpness=sharpness(half),
            glare=glare_fraction(small),
            motion=quad_motion(self._previous, quad.corners),
            followed=followed,
            thumbnail=_thumbnail(small) if self.follow is not None else None,
        )

    def _to_follow(self, frame: BGRImage, found: list[FoundCard]) -> list[_Followed]:
        """What the next frames need to follow the cards the network just found (none unless every
        card's outline was refined on the frame: the network's coarse outline is not worth following)."""
        if self.follow is None or not all(card.quad.refined and card.thumbnail is not None for card in found):
            return []
        followed: list[_Followed] = []
        earlier = [q.mean(axis=0) for q in self._previous]
        for card in found:
            assert card.thumbnail is not None
            centre = card.corners.mean(axis=0)
            reach = 0.5 * quad_diagonal(card.corners)
            near = [c for c in earlier if float(np.linalg.norm(c - centre)) < reach]
            velocity = centre - min(near, key=lambda c: float(np.linalg.norm(c - centre))) if near else np.zeros(2)
            box = _motion_box(card.corners, frame.shape)
            if box[2] - box[0] < 16 or box[3] - box[1] < 16:
                return []  # almost all of it outside the frame: nothing to measure its motion on
            followed.append(_Followed(card, velocity, card.quad.edge_strength, box, _motion_patch(frame, box)))
        return followed

    def _follow_all(self, frame: BGRImage) -> list[tuple[FoundCard, npt.NDArray[np.float32]]] | None:
        """Every card of the last frame re-found in this one (with its motion patch), or None when
        the network must run."""
        follow = self.follow
        if (
            follow is None
            or not self._followed
            or self._frames_since_network + 1 >= follow.network_every
            or frame.shape != self._frame_shape
        ):
            return None
        found = []
        for previous in self._followed:
            result = self._follow_one(frame, previous, follow)
            if result is None:
                return None
            found.append(result)
        for i, (a, _) in enumerate(found):
            if any(
                quad_iou(a.quad.corners, b.quad.corners) > self.detector.settings.duplicate_iou for b, _ in found[:i]
            ):
                return None  # two outlines slid onto one card
        return found

    def _follow_one(
        self, frame: BGRImage, previous: _Followed, follow: FollowSettings
    ) -> tuple[FoundCard, npt.NDArray[np.float32]] | None:
        height, width = frame.shape[:2]
        last = previous.card.corners  # the card's own TL, TR, BR, BL: the order survives refinement
        patch = _motion_patch(frame, previous.box)
        shift = _measured_shift(previous.patch, patch, previous.box)
        guess = last + (previous.velocity if shift is None else shift)[None, :]
        map_px = 2.0 * max(width, height) / self.detector.segmenter.long_side
        refined = self.detector.refine(frame, guess, map_px, follow.search_px)
        # One side may stay where the motion put it (a finger or a sleeve's rim over it), as the
        # network path keeps a side it cannot find; two may not.
        if refined is None or refined.sides_found < 3:
            logger.debug("Not followed: %s", "no outline" if refined is None else f"{refined.sides_found} sides found")
            return None
        corners = refined.corners
        if not self.detector.plausible_shape(corners):
            logger.debug("Not followed: not card-shaped")
            return None
        change = np.abs(side_lengths(corners) / np.maximum(side_lengths(last), 1e-6) - 1.0)
        if change.max() > follow.max_side_change:
            logger.debug("Not followed: a side changed length by %.0f %%", 100 * change.max())
            return None
        if refined.edge_strength < follow.min_edge_ratio * previous.edge_strength:
            logger.debug("Not followed: edges faded to %.1f from %.1f", refined.edge_strength, previous.edge_strength)
            return None
        quad = CardQuad(
            order_clockwise(corners),
            previous.card.quad.score,
            refined.edge_strength,
            polygon_area(corners) / float(width * height),
            refined=True,
            touches_border=quad_touches_border(corners, width, height),
        )
        # Same card, same way up: the orientation decided on the network frame stands.
        warped = replace(previous.card.warped, image=warp_to(frame, corners, self.size), corners=corners)
        card = self._rated(quad, warped, followed=True)
        assert card.thumbnail is not None and previous.card.thumbnail is not None
        similarity = _similarity(card.thumbnail, previous.card.thumbnail)
        if similarity < follow.min_similarity:
            logger.debug("Not followed: the crop changed (similarity %.3f)", similarity)
            return None
        return card, patch


def _thumbnail(card: BGRImage) -> npt.NDArray[np.float32]:
    """The straightened card as a tiny grey picture, zero mean and unit norm (for ``_similarity``)."""
    grey = cv2.cvtColor(area_downscale(card, _THUMBNAIL_SIZE), cv2.COLOR_BGR2GRAY).astype(np.float32)
    grey -= grey.mean()
    return np.asarray(grey / (float(np.linalg.norm(grey)) + 1e-6), np.float32)


def _similarity(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> float:
    """Normalised correlation of two thumbnails (1 = the same picture up to brightness and contrast)."""
    return float(np.dot(a.ravel(), b.ravel()))


#: Long side of the picture the card's shift is measured on (pixels): coarse, but refinement only
#: needs a guess within a few frame pixels. Larger is slower and, as linear shrinking aliases, not
#: reliably closer; much smaller misses by more than the refinement's reach allows for.
_MOTION_PATCH_SIDE = 112


def _motion_box(corners: FloatArray, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """The card's bounding box with room to move (a tenth of its diagonal each way), inside the frame."""
    margin = 0.1 * float(np.linalg.norm(corners[2] - corners[0]))
    lo = np.floor(corners.min(axis=0) - margin).astype(int)
    hi = np.ceil(corners.max(axis=0) + margin).astype(int)
    return max(0, int(lo[0])), max(0, int(lo[1])), min(shape[1], int(hi[0])), min(shape[0], int(hi[1]))


def _motion_patch(frame: BGRImage, box: tuple[int, int, int, int]) -> npt.NDArray[np.float32]:
    x0, y0, x1, y1 = box
    scale = _MOTION_PATCH_SIDE / max(x1 - x0, y1 - y0)
    size = (max(8, round((x1 - x0) * scale)), max(8, round((y1 - y0) * scale)))
    # Linear, not area, shrinking: many times cheaper, and the aliasing it lets through costs the shift
    # estimate less than the search reach refinement allows for.
    small = cv2.resize(frame[y0:y1, x0:x1], size, interpolation=cv2.INTER_LINEAR)
    return np.asarray(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), np.float32)


@lru_cache(maxsize=16)
def _hanning_window(width: int, height: int) -> npt.NDArray[np.float32]:
    """Tapers a motion patch's edges (a box keeps its size while a card is followed)."""
    return np.asarray(cv2.createHanningWindow((width, height), cv2.CV_32F), np.float32)


def _measured_shift(
    before: npt.NDArray[np.float32], after: npt.NDArray[np.float32], box: tuple[int, int, int, int]
) -> FloatArray | None:
    """How far the picture in ``box`` moved between two frames (frame pixels), by phase correlation —
    the card fills most of the box, so its motion dominates; None when no clear shift was found."""
    if before.shape != after.shape:
        return None
    (dx, dy), response = cv2.phaseCorrelate(before, after, _hanning_window(before.shape[1], before.shape[0]))
    if response < 0.1:
        return None
    x0, y0, x1, y1 = box
    scale = max(x1 - x0, y1 - y0) / _MOTION_PATCH_SIDE
    return np.array([dx, dy]) * scale
