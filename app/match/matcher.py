"""Nearest-reference search; the decision on what it finds is ``app.match.decision``'s."""

from __future__ import annotations

import logging

import numpy as np
import numpy.typing as npt

from app.match.bundle import ReferenceBundle
from app.match.card_graph import card_numbers
from app.match.decision import (
    FLIP_MARGIN,
    NAMED_STATUSES,
    Candidate,
    Decision,
    MatchThresholds,
    Status,
    better_way_up,
    close_lookalike,
    decide_picture,
    worth_a_look_inside,
)

logger = logging.getLogger(__name__)

#: Cards a graph over cards proposes beyond the ``k`` asked for: the right one is among the first few
#: nearly always, and each extra card costs a graph step and the re-scoring of its views
#: (bench/catalog_scale.py).
CARDS_BEYOND_K = 3

#: The picture's decision on one crop (``app.match.decision`` makes it; the name is the matcher's).
MatchResult = Decision

__all__ = [
    "FLIP_MARGIN",
    "NAMED_STATUSES",
    "Candidate",
    "MatchResult",
    "MatchThresholds",
    "Matcher",
    "Status",
    "better_way_up",
    "close_lookalike",
    "worth_a_look_inside",
]


class Matcher:
    """Top-k search over a bundle. Below ``exact_below`` vectors a brute-force matrix product is exact
    and fastest; above it usearch's HNSW graph (i8) proposes candidates that are re-scored against
    the stored vectors (float32, or int8 codes decoded). The crossover is a few thousand vectors
    (bench/results/identify.json; at 80,000 vectors bench/results/catalog_scale.json)."""

    def __init__(
        self, bundle: ReferenceBundle, thresholds: MatchThresholds | None = None, exact_below: int = 4000
    ) -> None:
        self.bundle = bundle
        self.thresholds = thresholds or MatchThresholds()
        self.exact = len(bundle.row_card_ids) < exact_below
        # The exact product needs every row in memory as float32: small bundles only.
        self._dense = bundle.dense_embeddings() if self.exact else None
        # Rows → small integers per card, so picking the best row of each card is integer work; the
        # same numbers key a graph over cards (app.match.card_graph).
        self._card_names, self._row_card = card_numbers(bundle.row_card_ids)
        # Each card's rows, for re-scoring every view of the cards a graph over cards proposes.
        self._rows_by_card = np.argsort(self._row_card, kind="stable")
        self._card_starts = np.searchsorted(self._row_card[self._rows_by_card], np.arange(len(self._card_names) + 1))

    def search(self, vectors: npt.NDArray[np.float32], k: int = 5) -> list[list[tuple[str, float]]]:
        """Per query: up to ``k`` distinct references (best vector per card), best first."""
        vectors = np.atleast_2d(np.asarray(vectors, np.float32))
        rows_total = len(self._row_card)
        fetch = min(rows_total, k * max(1, self.bundle.manifest.views_per_card) + 2)
        if fetch == 0:
            return [[] for _ in vectors]
        rows_sims: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]] = []
        if self._dense is not None:
            sims = vectors @ self._dense.T
            top = np.argpartition(-sims, fetch - 1, axis=1)[:, :fetch]
            rows_sims = [(t, s[t]) for t, s in zip(top, sims, strict=True)]
        elif self.bundle.graph_over_cards:
            # The graph over each card's mean view proposes cards; every stored view of them is
            # re-scored exactly, so the graph only has to get the right card among a few.
            cards_total = len(self._card_names)
            # One thread: the app asks about a handful of crops at a time, and handing each query to
            # usearch's thread pool costs more than it saves.
            matches = self.bundle.index.search(vectors, min(cards_total, k + CARDS_BEYOND_K), threads=1)
            keys = np.atleast_2d(matches.keys).astype(np.int64)
            for query, cards in zip(vectors, keys, strict=True):
                rows = self._rows_of(cards[cards < cards_total])
                rows_sims.append((rows, self.bundle.embeddings[rows] @ query))
        else:
            # The graph's i8 similarities only propose candidates (twice what the exact path keeps);
            # their float32 vectors decide the order.
            matches = self.bundle.index.search(vectors, min(rows_total, fetch * 2), threads=1)
            keys = np.atleast_2d(matches.keys).astype(np.int64)
            for query, candidates in zip(vectors, keys, strict=True):
                candidates = candidates[candidates < rows_total]
                rows_sims.append((candidates, self.bundle.embeddings[candidates] @ query))
        return [self._best_per_card(rows, sims_row, k) for rows, sims_row in rows_sims]

    def _rows_of(self, cards: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        starts, ends = self._card_starts[cards], self._card_starts[cards + 1]
        if not len(cards):
            return np.zeros(0, np.int64)
        return np.concatenate([self._rows_by_card[a:b] for a, b in zip(starts, ends, strict=True)])

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
        """The picture's decision on one crop's top-k (``app.match.decision.decide_picture``)."""
        return decide_picture(hits, self.thresholds, self.bundle.metadata)

    def match(self, vectors: npt.NDArray[np.float32], k: int = 5) -> list[MatchResult]:
        return [self.decide(hits) for hits in self.search(vectors, k)]
