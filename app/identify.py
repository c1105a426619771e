"""Still-photo identification: find every card, embed it, match it against the reference bundle."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any

import cv2

from app.camera.base import BGRImage
from app.embed.base import EmbedderBackend
from app.match.bundle import ReferenceBundle
from app.match.layout import LayoutCheck
from app.match.matcher import Matcher, MatchResult, better_way_up, worth_a_look_inside
from app.match.voting import VotingConfig
from app.ocr.reader import NumberReader
from app.ocr.rerank import commit_by_number, number_text, strip_to_read, wants_number_check
from app.vision.finder import CardFinder, FoundCard
from app.vision.geometry import turned_180

logger = logging.getLogger(__name__)


@dataclass
class IdentifiedCard:
    match: MatchResult
    found: FoundCard
    #: True when the crop matched better turned by 180° than as the finder oriented it.
    turned: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)
    #: The collector number read from the card, when the picture alone was not enough.
    number_read: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The public ``cardsight identify --json`` per-card object (keep stable)."""
        m = self.match
        corners = self.found.corners
        if self.turned:
            corners = turned_180(corners)
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
        reader: NumberReader | None = None,
        lookalike_within: float = VotingConfig.lookalike_within,
    ) -> None:
        self.finder = finder
        self.embedder = embedder
        self.bundle = bundle
        self.matcher = matcher or Matcher(bundle)
        #: Reads the collector number where the picture is ambiguous, like the live scanner (None: off).
        self.reader = reader
        self.lookalike_within = lookalike_within
        self.layout = LayoutCheck(bundle)

    def identify_crops(self, crops: list[BGRImage]) -> list[tuple[MatchResult, bool]]:
        """Match each straightened crop both ways up and keep the better reading (the orientation
        classifier is good, the match is the final word); an ``uncertain`` one that lines up with its
        reference all over the card is ``identified`` (``app.match.layout``)."""
        if not crops:
            return []
        turned = [cv2.rotate(c, cv2.ROTATE_180) for c in crops]
        vectors = self.embedder.embed(crops + turned)
        results = self.matcher.match(vectors)
        n = len(crops)
        out = []
        for i in range(n):
            match, flip = better_way_up(results[i], results[n + i])
            oriented = turned[i] if flip else crops[i]
            t, meta = self.matcher.thresholds, self.bundle.metadata
            match = self.layout.confirm(match, oriented, t, meta, self.lookalike_within)
            out.append((match, flip))
        return out

    def identify_found(self, found: list[FoundCard]) -> list[tuple[FoundCard, MatchResult, bool]]:
        """:meth:`identify_crops` for finds, and a second look at each one the picture does not name
        and matches only loosely (``worth_a_look_inside``): read as a top-loader's outline, the card
        inside may be (``FoundCard.inside_toploader``). Its reading replaces the first only when it
        names a card; then the find is the card inside."""
        results = [
            (f, match, turned)
            for f, (match, turned) in zip(found, self.identify_crops([f.warped.image for f in found]), strict=True)
        ]
        retry = [i for i, (_, match, _) in enumerate(results) if worth_a_look_inside(match, self.matcher.thresholds)]
        if not retry:
            return results
        inner = [results[i][0].inside_toploader() for i in retry]
        for i, card, (match, turned) in zip(
            retry, inner, self.identify_crops([c.warped.image for c in inner]), strict=True
        ):
            if match.status == "identified":
                logger.debug("Read inside a top-loader: %s (%.2f)", match.card_id, match.similarity)
                results[i] = (card, match, turned)
        return results

    def identify_image(self, image: BGRImage) -> list[IdentifiedCard]:
        self.finder.reset()
        cards = []
        for f, match, turned in self.identify_found(self.finder.find_cards(image)):
            number_read = None
            if self.reader is not None and wants_number_check(match, self.bundle.metadata, self.lookalike_within):
                match, number_read = self._check_number(image, f, match, turned)
            meta = self.bundle.metadata.get(match.card_id, {}) if match.card_id else {}
            cards.append(IdentifiedCard(match=match, found=f, turned=turned, metadata=meta, number_read=number_read))
        return cards

    def _check_number(
        self, image: BGRImage, found: FoundCard, match: MatchResult, turned: bool
    ) -> tuple[MatchResult, str | None]:
        """The scanner's rule on one photo: the number picks among the close candidates; a number that
        contradicts them all keeps a confident picture match from being reported as ``identified``."""
        assert self.reader is not None
        strip, where = strip_to_read(image, found.corners, turned, match, self.bundle.metadata)
        try:
            reading = self.reader.read_strip(strip, corners=where)
        except Exception as error:  # the OCR engine's own failures: the picture's answer still stands
            logger.warning("Collector-number read failed (%s); keeping the picture's match", error)
            return match, None
        committed, reranked = commit_by_number(match, reading, self.bundle.metadata)
        if committed is not None:
            return committed, number_text(reading)
        if reranked.verdict == "contradicted" and match.status == "identified":
            return replace(match, status="uncertain"), number_text(reading)
        return match, number_text(reading)
