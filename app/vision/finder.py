"""Finder facade: frame → found cards (quad, upright crop, quality signals)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from app.camera.base import BGRImage
from app.vision.detect import CardDetector, CardQuad
from app.vision.geometry import CANONICAL_SIZE, FloatArray
from app.vision.quality import glare_fraction, quad_motion, sharpness
from app.vision.warp import WarpedCard, inset_corners, inset_image, warp_card

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FoundCard:
    quad: CardQuad
    warped: WarpedCard
    sharpness: float
    glare: float
    #: Mean corner shift since the previous frame as a fraction of the diagonal (1.0 = new).
    motion: float

    @property
    def corners(self) -> FloatArray:
        """The card's TL, TR, BR, BL in the frame."""
        return self.warped.corners

    def inside_toploader(self) -> FoundCard:
        """This find read as a top-loader's outline: the card inside it (crop and corners). A
        top-loader's rim can be a stronger edge than the card's own; the finder then outlines it."""
        inner = replace(self.warped, image=inset_image(self.warped.image), corners=inset_corners(self.warped.corners))
        return replace(self, warped=inner)


class CardFinder:
    """Finds, straightens and rates every card in a stream of frames (remembers the last frame's
    quads for the motion signal). Not thread-safe: one per capture loop."""

    def __init__(self, detector: CardDetector | None = None, size: tuple[int, int] = CANONICAL_SIZE) -> None:
        self.detector = detector or CardDetector()
        self.size = size
        self._previous: list[FloatArray] = []

    def find_cards(self, frame: BGRImage, analysis: BGRImage | None = None) -> list[FoundCard]:
        found = []
        for quad in self.detector.find_quads(frame, analysis):
            warped = warp_card(frame, quad.corners, self.size)
            found.append(
                FoundCard(
                    quad=quad,
                    warped=warped,
                    sharpness=sharpness(warped.image),
                    glare=glare_fraction(warped.image),
                    motion=quad_motion(self._previous, quad.corners),
                )
            )
        self._previous = [f.quad.corners for f in found]
        return found

    def reset(self) -> None:
        self._previous = []
