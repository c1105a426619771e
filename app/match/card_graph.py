"""The graph over cards that searches the installed sets at catalogue scale.

One node per card, not per stored view: each card's views averaged, then projected onto the
``GRAPH_DIMS`` directions along which the catalogue's cards differ most (the principal axes of
their mean views). The graph only proposes a few cards per query; the matcher re-scores every
stored view of them in full (``app.match.matcher``), so the projection decides which cards are
looked at, never which one wins. Cards per node and dimensions per node are what keep the graph
small on disk and fast to search with 20,000 cards (docs/catalogue.md,
bench/results/catalog_scale.json; its cost in decisions on real pictures:
bench/results/compact_vectors.json).

The graph and its projection are a cache, rebuilt from the installed sets whenever they change:
``<key>.usearch`` and ``<key>.usearch.projection.npy``, where the key (``app.match.shards``) names
``GRAPH_KIND`` and every part's vectors.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from app.match.graph import ROWS_PER_BATCH, build_index, restore_index

if TYPE_CHECKING:
    from app.match.bundle import ReferenceBundle

logger = logging.getLogger(__name__)

#: Dimensions a card's node keeps. Real card embeddings spread over far fewer directions than the
#: model's 768, so 256 keeps the right card among the few proposed (compact_vectors.json) at a
#: third of the graph's vector bytes (catalog_scale.json).
GRAPH_DIMS = 256
#: What the combined graph's nodes are: a cache of another kind has another name, so it is never
#: read as this one.
GRAPH_KIND = f"card-means-pca{GRAPH_DIMS}"
#: File name suffix of a graph cached outside a bundle, and of its projection next to it.
GRAPH_FILE_SUFFIX = ".usearch"
PROJECTION_SUFFIX = ".projection.npy"


def card_numbers(row_card_ids: Sequence[str]) -> tuple[list[str], npt.NDArray[np.int64]]:
    """Each distinct card in the order of its first row, and each row's card number (the keys of a
    graph over cards)."""
    names = list(dict.fromkeys(row_card_ids))
    number = {card_id: i for i, card_id in enumerate(names)}
    return names, np.fromiter((number[c] for c in row_card_ids), np.int64, len(row_card_ids))


def card_means(embeddings: Any, row_cards: npt.NDArray[np.int64], cards: int) -> npt.NDArray[np.float32]:
    """Each card's rows averaged and L2-normalised (read in batches: the rows may be memory-mapped
    int8 that would not fit in memory as float32 all at once)."""
    sums = np.zeros((cards, int(embeddings.shape[1])), np.float32)
    for start in range(0, len(row_cards), ROWS_PER_BATCH):
        rows = np.arange(start, min(start + ROWS_PER_BATCH, len(row_cards)))
        np.add.at(sums, row_cards[rows], np.asarray(embeddings[rows], np.float32))
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    return (sums / np.maximum(norms, 1e-12)).astype(np.float32)


def principal_axes(means: npt.NDArray[np.float32], dims: int) -> npt.NDArray[np.float32]:
    """[D, dims]: the directions that keep the most of the cards' similarities (the top eigenvectors
    of the uncentred second moment: cosine works on the vectors as they are, not on their spread
    around the mean). Fewer cards than ``dims`` leave the rest orthogonal to every card, which
    changes no ranking."""
    moment = np.zeros((means.shape[1], means.shape[1]), np.float64)
    for start in range(0, len(means), ROWS_PER_BATCH):
        block = means[start : start + ROWS_PER_BATCH]
        moment += (block.T @ block).astype(np.float64)
    _, vectors = np.linalg.eigh(moment)  # ascending eigenvalues
    return np.ascontiguousarray(vectors[:, ::-1][:, :dims], np.float32)


class CardGraph:
    """A usearch graph over projected card means, searched with queries projected the same way."""

    def __init__(self, index: Any, projection: npt.NDArray[np.float32]) -> None:
        self.index = index
        self.projection = projection

    def __len__(self) -> int:
        return len(self.index)

    def search(self, vectors: npt.NDArray[np.float32], count: int, threads: int = 1) -> Any:
        """usearch's matches (``.keys`` are card numbers) for each of ``vectors`` (model dimension)."""
        return self.index.search(unit_rows(np.atleast_2d(vectors) @ self.projection), count, threads=threads)


def unit_rows(rows: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Rows scaled to length 1: cosine ignores length, but usearch's i8 codes keep more of a
    vector whose components use their whole range."""
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return np.ascontiguousarray(rows / np.maximum(norms, 1e-12), np.float32)


def projection_path(graph: Path) -> Path:
    return graph.with_name(graph.name + PROJECTION_SUFFIX)


def _restore(path: Path, dim: int, count: int) -> CardGraph | None:
    """The graph saved at ``path`` with its projection, or None (with a warning) if either is
    missing, unreadable or does not fit."""
    try:
        projection = np.load(projection_path(path), allow_pickle=False)
    except (OSError, ValueError) as error:
        logger.warning("Search graph projection next to %s unreadable (%s); rebuilding the graph", path, error)
        return None
    if projection.dtype != np.float32 or projection.ndim != 2 or projection.shape[0] != dim:
        logger.warning("Search graph projection next to %s does not fit the vectors; rebuilding the graph", path)
        return None
    if not np.all(np.isfinite(projection)):
        logger.warning("Search graph projection next to %s is damaged; rebuilding the graph", path)
        return None
    index = restore_index(path, projection.shape[1], count, view=True)
    return None if index is None else CardGraph(index, projection)


def cached_graph(bundle: ReferenceBundle, path: Path, cancel: threading.Event | None = None) -> CardGraph:
    """The graph over ``bundle``'s cards saved at ``path`` (memory-mapped), or one built now and saved
    there for the next load (other graphs in that folder are stale and removed). A ``cancel`` during
    the build raises ``GraphBuildCancelled`` and saves nothing (the next load builds it)."""
    names, row_cards = card_numbers(bundle.row_card_ids)
    count, dim = len(names), bundle.manifest.dim
    if path.is_file():
        restored = _restore(path, dim, count)
        if restored is not None:
            return restored
    started = time.monotonic()
    logger.warning("Building the search graph over %d cards (once, when the sets change)", count)
    means = card_means(bundle.embeddings, row_cards, count)
    projection = principal_axes(means, min(GRAPH_DIMS, dim))
    index = build_index(unit_rows(means @ projection), cancel=cancel)
    del means
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        suffix = f".tmp-{os.getpid()}"
        partial_projection = projection_path(path).with_name(projection_path(path).name + suffix)
        with open(partial_projection, "wb") as handle:
            np.save(handle, projection, allow_pickle=False)
        os.replace(partial_projection, projection_path(path))
        partial = path.with_name(path.name + suffix)
        index.save(str(partial))
        os.replace(partial, path)
        for stale in path.parent.glob(f"*{GRAPH_FILE_SUFFIX}*"):
            if stale not in (path, projection_path(path)):
                stale.unlink(missing_ok=True)
    except OSError as error:
        logger.warning("Could not cache the search graph at %s (%s); it will be rebuilt at the next load", path, error)
    logger.info("Built the search graph over %d cards in %.1f s", count, time.monotonic() - started)
    return CardGraph(index, projection)
