"""Still-photo identification: find every card, embed it, match it against the reference bundle."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from app.camera.base import BGRImage
from app.embed.base import EmbedderBackend
from app.match.bundle import ReferenceBundle
from app.match.matcher import Matcher, MatchResult, better_way_up
from app.vision.finder import CardFinder, FoundCard

logger = logging.getLogger(__name__)


@dataclass
class IdentifiedCard:
    match: MatchResult
    found: FoundCard
    #: True when the crop matched better turned by 180° than as the finder oriented it.
    turned: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The public ``cardsight identify --json`` per-card object (keep stable)."""
        m = self.match
        corners = self.found.corners
        if self.turned:
            corners = np.roll(corners, 2, axis=0)
        return {
            "status": m.status,
            "card_id": m.card_id,
            "name": self.metadata.get("name"),
            "set_id": self.metadata.get("set_id"),
            "number": self.metadata.get("number"),
            "confidence": round(m.confidence, 4),
            "alternatives": [{"card_id": a.card_id, "confidence": round(a.confidence, 4)} for a in m.alternatives[:5]],
            "quad": [[round(float(x), 1), round(float(y), 1)] for x, y in corners],
        }


class Identifier:
    def __init__(
        self,
        finder: CardFinder,
        embedder: EmbedderBackend,
        bundle: ReferenceBundle,
        matcher: Matcher | None = None,
    ) -> None:
        self.finder = finder
        self.embedder = embedder
        self.bundle = bundle
        self.matcher = matcher or Matcher(bundle)

    def identify_crops(self, crops: list[BGRImage]) -> list[tuple[MatchResult, bool]]:
        """Match each straightened crop both ways up and keep the better reading (the orientation
        classifier is good, the match is the final word)."""
        if not crops:
            return []
        turned = [cv2.rotate(c, cv2.ROTATE_180) for c in crops]
        vectors = self.embedder.embed(crops + turned)
        results = self.matcher.match(vectors)
        n = len(crops)
        out = []
        for i in range(n):
            upright, flipped = results[i], results[n + i]
            out.append(better_way_up(upright, flipped))
        return out

    def identify_image(self, image: BGRImage) -> list[IdentifiedCard]:
        self.finder.reset()
        found = self.finder.find_cards(image)
        results = self.identify_crops([f.warped.image for f in found])
        cards = []
        for f, (match, turned) in zip(found, results, strict=True):
            meta = self.bundle.metadata.get(match.card_id, {}) if match.card_id else {}
            cards.append(IdentifiedCard(match=match, found=f, turned=turned, metadata=meta))
        return cards
