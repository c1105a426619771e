"""Still-photo identification: find every card, embed it, match it against the reference bundle, and
judge it by ``app.match.decision``."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

import cv2

from app.camera.base import BGRImage
from app.catalog.database import CatalogDatabase
from app.embed.base import EmbedderBackend
from app.match.bundle import ReferenceBundle
from app.match.catalogue_rules import catalogue_rules, installed_sets, usable_catalog
from app.match.decision import LayoutProbe, NumberProbe, NumberRead, Sighting, decide_card, read_sighting
from app.match.layout import LayoutCheck
from app.match.matcher import Matcher, MatchResult
from app.match.voting import VotingConfig
from app.ocr.proposals import number_read
from app.ocr.reader import NumberReader
from app.ocr.rerank import strip_to_read
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
        out: dict[str, Any] = {
            "status": m.status,
            "card_id": m.card_id,
            "name": self.metadata.get("name"),
            "set_id": self.metadata.get("set_id"),
            "number": self.metadata.get("number"),
            "confidence": round(m.confidence, 4),
            "alternatives": [{"card_id": a.card_id, "confidence": round(a.confidence, 4)} for a in m.alternatives[:5]],
            "quad": [[round(float(x), 1), round(float(y), 1)] for x, y in corners],
        }
        if m.status == "uncertain":
            # Why a person must check: "same art as Base Set 58/102 — number not read", "read 4/102 …".
            out["reason"] = m.reason
        return out


class Identifier:
    """Names the cards of single photos by ``app.match.decision``'s rule (:func:`decide_card`): the
    picture both ways up, the layout, a second look inside a top-loader, then the collector number
    where the picture is ambiguous — one read, so its verdict is final."""

    def __init__(
        self,
        finder: CardFinder,
        embedder: EmbedderBackend,
        bundle: ReferenceBundle,
        matcher: Matcher | None = None,
        reader: NumberReader | None = None,
        lookalike_within: float = VotingConfig.lookalike_within,
        catalog: CatalogDatabase | None = None,
    ) -> None:
        self.finder = finder
        self.embedder = embedder
        self.bundle = bundle
        self.matcher = matcher or Matcher(bundle)
        #: Reads the collector number where the picture is ambiguous, like the live scanner (None: off).
        self.reader = reader
        self.lookalike_within = lookalike_within
        self.layout = LayoutCheck(bundle)
        #: Every card this identifier can name: the bundle's, and the catalogue's beyond it (None: the
        #: catalogue cannot be read — the bundle alone).
        self.catalog = usable_catalog(catalog)
        self.rules = catalogue_rules(self.matcher.thresholds, bundle.metadata, lookalike_within, self.catalog)
        self.installed = installed_sets(bundle.metadata)

    # ------------------------------------------------------------------ evidence
    def sightings(self, crops: list[BGRImage]) -> list[Sighting]:
        """Each straightened crop's top-k references as found and turned by 180° (one embedding batch)."""
        if not crops:
            return []
        turned = [cv2.rotate(c, cv2.ROTATE_180) for c in crops]
        hits = self.matcher.search(self.embedder.embed(crops + turned))
        n = len(crops)
        return [Sighting(hits[i], hits[n + i]) for i in range(n)]

    def layout_probe(self, crop: BGRImage) -> LayoutProbe:
        """The layout agreement of ``crop``, the way up it was matched, with a card's reference."""

        def agreement(card_id: str, turned: bool) -> float | None:
            return self.layout.agreement(cv2.rotate(crop, cv2.ROTATE_180) if turned else crop, card_id)

        return agreement

    def read_number(self, image: BGRImage, found: FoundCard, decision: MatchResult, turned: bool) -> NumberRead | None:
        """The collector number of ``found`` in ``image``, read where ``decision``'s close candidates
        print it (both corners when it has none), what it says about them and the catalogue cards of
        sets not installed that it names; None when the OCR engine itself fails (logged)."""
        assert self.reader is not None
        metadata = self.rules.metadata
        strip, where = strip_to_read(image, found.corners, turned, decision, metadata)
        try:
            reading = self.reader.read_strip(strip, corners=where)
        except Exception as error:  # the OCR engine's own failures: the picture's answer still stands
            logger.warning("Collector-number read failed (%s); keeping the picture's match", error)
            return None
        return number_read(decision, reading, metadata, self.installed, self.catalog)

    # ------------------------------------------------------------------ decisions
    def identify_crops(self, crops: list[BGRImage]) -> list[tuple[MatchResult, bool]]:
        """Each straightened crop's reading (``app.match.decision.read_sighting``) and whether it was
        read turned by 180°."""
        sightings = self.sightings(crops)
        looks = [read_sighting(s, self.layout_probe(c), self.rules) for s, c in zip(sightings, crops, strict=True)]
        return [(look.decision, look.turned) for look in looks]

    def identify_found(self, found: list[FoundCard]) -> list[tuple[FoundCard, MatchResult, bool]]:
        """:meth:`identify_crops` for finds, with the second look at the card inside each one the picture
        does not name and matches only loosely: then the find is the card inside
        (``FoundCard.inside_toploader``). No number is read."""
        return [(card.found, card.match, card.turned) for card in self._decide(found, None)]

    def identify_image(self, image: BGRImage) -> list[IdentifiedCard]:
        self.finder.reset()
        return self._decide(self.finder.find_cards(image), image if self.reader is not None else None)

    def _decide(self, found: list[FoundCard], image: BGRImage | None) -> list[IdentifiedCard]:
        """``decide_card`` for each find; ``image``: the photo to read numbers from (None: no reads)."""
        cards = []
        for find, sighting in zip(found, self.sightings([f.warped.image for f in found]), strict=True):
            inner = find.inside_toploader()
            read_text: list[str | None] = [None]
            number = self._number_probe(image, (find, inner), read_text) if image is not None else None
            outcome = decide_card(
                (sighting, self.layout_probe(find.warped.image)), self._inside(inner), number, self.rules
            )
            match = outcome.decision
            logger.debug("%s %s (%.2f): %s", match.status, match.card_id, match.confidence, match.reason)
            meta = self.rules.metadata.get(match.card_id, {}) if match.card_id else {}
            chosen = inner if outcome.inside else find
            cards.append(IdentifiedCard(match, chosen, outcome.turned, dict(meta), read_text[0]))
        return cards

    def _inside(self, inner: FoundCard) -> Callable[[], tuple[Sighting, LayoutProbe]]:
        """The evidence of the card inside a find read as a top-loader's outline, measured on demand."""

        def look() -> tuple[Sighting, LayoutProbe]:
            (sighting,) = self.sightings([inner.warped.image])
            return sighting, self.layout_probe(inner.warped.image)

        return look

    def _number_probe(
        self, image: BGRImage, finds: tuple[FoundCard, FoundCard], read_text: list[str | None]
    ) -> NumberProbe:
        """Reads the number of the find as found (or of the card inside it) in ``image``; what was read
        goes to ``read_text[0]``."""

        def number(decision: MatchResult, turned: bool, inside: bool) -> NumberRead | None:
            read = self.read_number(image, finds[1] if inside else finds[0], decision, turned)
            if read is not None:
                read_text[0] = read.text
            return read

        return number


class Progress:
    """A batch's count and time left, on ``stream`` (stderr: never mixed into a command's output).
    On a terminal one line rewritten in place (at most every ``refresh_s``) and a last line when done;
    otherwise — a log, a pipe — a line every ``every`` items, so a long batch still shows it lives."""

    def __init__(
        self,
        total: int,
        noun: str = "photos",
        stream: TextIO | None = None,
        every: int = 100,
        refresh_s: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.noun = noun
        self.stream = stream if stream is not None else sys.stderr
        self.every = max(1, every)
        self.refresh_s = refresh_s
        self.clock = clock
        self.started = clock()
        self._shown_at = -float("inf")
        #: The progress line is on the terminal now.
        self._visible = False
        self._terminal = _is_terminal(self.stream)

    def update(self, done: int) -> None:
        """``done`` of ``total`` items are finished."""
        now = self.clock()
        if self._terminal:
            if done < self.total and self._visible and now - self._shown_at < self.refresh_s:
                return
            self._shown_at, self._visible = now, done < self.total
            self.stream.write(f"\r\x1b[K{self.line(done, now)}" + ("" if self._visible else "\n"))
        elif done % self.every == 0 or (done >= self.total and self.total >= self.every):
            self.stream.write(self.line(done, now) + "\n")
        self.stream.flush()

    def clear(self) -> None:
        """Takes the progress line away on a terminal, so that other output starts on a clean line
        (the next :meth:`update` draws it again)."""
        if self._visible:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._visible = False

    def line(self, done: int, now: float) -> str:
        elapsed = now - self.started
        if done >= self.total:
            return f"{done}/{self.total} {self.noun} in {_duration(elapsed)}"
        percent = 100 * done // max(self.total, 1)
        left = f", about {_duration(elapsed / done * (self.total - done))} left" if done else ""
        return f"{done}/{self.total} {self.noun} ({percent} %){left}"


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or minimal stream
        return False


def _duration(seconds: float) -> str:
    """``42 s``, ``3 min 05 s``, ``1 h 02 min``."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
