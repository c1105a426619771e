"""Nearest-reference matching and the identified / uncertain / unknown / card_back decision."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from app.match.bundle import BACK_PREFIX, ReferenceBundle

logger = logging.getLogger(__name__)

Status = Literal["identified", "uncertain", "unknown", "card_back"]
#: The statuses that name what a crop shows (a card, or a back).
NAMED_STATUSES: tuple[Status, ...] = ("identified", "card_back")


@dataclass(frozen=True)
class MatchThresholds:
    """Cosine similarities. Defaults fit the shipped model; ``bench/`` scripts recalibrate them."""

    #: Below this the best reference is not the card: ``unknown``.
    unknown_below: float = 0.49
    #: At or above this, with ``min_margin``, the card is ``identified``; in between ``uncertain``.
    accept_at: float = 0.67
    #: Best minus second-best *different* card.
    min_margin: float = 0.19
    #: Below this margin to the best card of *another name* the picture matches many cards about
    #: equally: a card *not in the catalogue* (eBay fronts: median margin 0.02 vs 0.33 for
    #: catalogue cards) …
    unknown_margin: float = 0.045
    #: … unless the best is this similar: then it is a look-alike printing in the catalogue
    #: (same artwork, other number), and the user or the number OCR picks between them.
    lookalike_above: float = 0.8
    #: A card back wins when its similarity is at least this.
    back_at: float = 0.60
    #: Softmax temperature turning similarities into a confidence.
    temperature: float = 0.02
    #: An ``uncertain`` match this clear of the next card is ``identified`` when the crop lines up with
    #: the reference all over the card (``app.match.layout``; agreement ≥ ``layout_at``; above 1: off).
    layout_margin: float = 0.10
    layout_at: float = 0.8


@dataclass(frozen=True)
class Candidate:
    card_id: str
    similarity: float
    confidence: float


@dataclass(frozen=True)
class MatchResult:
    status: Status
    card_id: str | None
    similarity: float
    confidence: float
    margin: float
    alternatives: list[Candidate] = field(default_factory=list)


class Matcher:
    """Top-k search over a bundle. Below ``exact_below`` vectors a brute-force matrix product is exact
    and fastest; above it usearch's HNSW graph (i8) proposes candidates that are re-scored exactly.
    Measured (bench/identify.py, 768-d): 2,615 vectors exact 0.10–0.21 ms; 20,000 vectors exact
    1.2 ms vs HNSW-i8 + re-score 0.36 ms — the crossover is a few thousand vectors."""

    def __init__(
        self, bundle: ReferenceBundle, thresholds: MatchThresholds | None = None, exact_below: int = 4000
    ) -> None:
        self.bundle = bundle
        self.thresholds = thresholds or MatchThresholds()
        self.exact = len(bundle.row_card_ids) < exact_below
        # Rows → small integers per card, so picking the best row of each card is integer work.
        self._card_names: list[str] = list(dict.fromkeys(bundle.row_card_ids))
        number = {card_id: i for i, card_id in enumerate(self._card_names)}
        self._row_card = np.array([number[c] for c in bundle.row_card_ids], np.int64)

    def search(self, vectors: npt.NDArray[np.float32], k: int = 5) -> list[list[tuple[str, float]]]:
        """Per query: up to ``k`` distinct references (best vector per card), best first."""
        vectors = np.atleast_2d(np.asarray(vectors, np.float32))
        rows_total = len(self._row_card)
        fetch = min(rows_total, k * max(1, self.bundle.manifest.views_per_card) + 2)
        if fetch == 0:
            return [[] for _ in vectors]
        rows_sims: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]] = []
        if self.exact:
            sims = vectors @ self.bundle.embeddings.T
            top = np.argpartition(-sims, fetch - 1, axis=1)[:, :fetch]
            rows_sims = [(t, s[t]) for t, s in zip(top, sims, strict=True)]
        else:
            # The graph's i8 similarities only propose candidates (twice what the exact path keeps);
            # their float32 vectors decide the order.
            # One thread: the app asks about a handful of crops at a time, and handing each query to
            # usearch's thread pool costs more than it saves (20,000 vectors: ~15 % slower in a
            # throwaway timing on bench/identify.py's synthetic set).
            matches = self.bundle.index.search(vectors, min(rows_total, fetch * 2), threads=1)
            keys = np.atleast_2d(matches.keys).astype(np.int64)
            for query, candidates in zip(vectors, keys, strict=True):
                candidates = candidates[candidates < rows_total]
                rows_sims.append((candidates, self.bundle.embeddings[candidates] @ query))
        return [self._best_per_card(rows, sims_row, k) for rows, sims_row in rows_sims]

    def _best_per_card(
        self, rows: npt.NDArray[np.int64], sims: npt.NDArray[np.float32], k: int
    ) -> list[tuple[str, float]]:
        order = np.argsort(-sims)
        cards = self._row_card[rows[order]].tolist()
        ranked = sims[order].tolist()
        seen: dict[int, float] = {}
        for card, sim in zip(cards, ranked, strict=True):
            if card not in seen:
                seen[card] = sim
                if len(seen) == k:
                    break
        return [(self._card_names[card], sim) for card, sim in seen.items()]

    def decide(self, hits: list[tuple[str, float]]) -> MatchResult:
        t = self.thresholds
        if not hits:
            return MatchResult("unknown", None, 0.0, 0.0, 0.0)
        sims = np.array([s for _, s in hits])
        weights = np.exp((sims - sims.max()) / t.temperature)
        probs = weights / weights.sum()
        alternatives = [Candidate(c, s, float(p)) for (c, s), p in zip(hits, probs, strict=True)]
        best_id, best_sim = hits[0]
        margin = best_sim - hits[1][1] if len(hits) > 1 else best_sim
        # Confidence: how clearly the best beats the others, scaled down as it nears "unknown".
        closeness = float(np.clip((best_sim - t.unknown_below) / max(t.accept_at - t.unknown_below, 1e-6), 0.0, 1.0))
        confidence = float(probs[0]) * closeness
        cards = [a for a in alternatives if not a.card_id.startswith(BACK_PREFIX)]
        if best_id.startswith(BACK_PREFIX):
            if best_sim >= t.back_at:
                return MatchResult("card_back", None, best_sim, float(probs[0]), margin, cards)
            return MatchResult("unknown", None, best_sim, 0.0, margin, cards)
        if best_sim < t.unknown_below or (
            self.stranger_margin(hits) < t.unknown_margin and best_sim < t.lookalike_above
        ):
            return MatchResult("unknown", None, best_sim, confidence, margin, cards)
        status: Status = "identified" if best_sim >= t.accept_at and margin >= t.min_margin else "uncertain"
        return MatchResult(status, best_id, best_sim, confidence, margin, cards)

    def stranger_margin(self, hits: list[tuple[str, float]]) -> float:
        """Best minus the best card of *another name*. A card outside the catalogue matches many cards
        about equally; a small margin to another printing of the same card (a reprint, a reverse holo)
        is no such sign — the collector number decides between those."""
        if not hits:
            return 0.0
        best_id, best_sim = hits[0]
        name = self.bundle.metadata.get(best_id, {}).get("name")
        others = [s for c, s in hits[1:] if name is None or self.bundle.metadata.get(c, {}).get("name") != name]
        return best_sim - others[0] if others else best_sim

    def match(self, vectors: npt.NDArray[np.float32], k: int = 5) -> list[MatchResult]:
        return [self.decide(hits) for hits in self.search(vectors, k)]


def close_lookalike(match: MatchResult, metadata: dict[str, dict[str, Any]], within: float) -> bool:
    """Another printing of the same name scores within ``within`` of the best: the picture cannot
    choose between them, the collector number can."""
    if match.card_id is None:
        return False
    name = metadata.get(match.card_id, {}).get("name")
    return any(
        a.card_id != match.card_id
        and match.similarity - a.similarity <= within
        and metadata.get(a.card_id, {}).get("name") == name
        for a in match.alternatives
    )


#: How much better a card must match turned by 180° before the finder's orientation is overruled.
FLIP_MARGIN = 0.02


def worth_a_look_inside(match: MatchResult, thresholds: MatchThresholds) -> bool:
    """A reading that names nothing and matches its best card only loosely: the crop may be a
    top-loader's outline around the card (``FoundCard.inside_toploader``). One that matches a card
    closely but names nothing is a card with a look-alike printing: its outline is right, and the
    collector number decides."""
    return match.status not in NAMED_STATUSES and match.similarity < thresholds.lookalike_above


def better_way_up(upright: MatchResult, turned: MatchResult) -> tuple[MatchResult, bool]:
    """The reading to keep of a crop matched both ways up, and whether it was the turned one (the
    orientation classifier is good, the match is the final word)."""
    if turned.similarity > upright.similarity + FLIP_MARGIN:
        return turned, True
    return upright, False
