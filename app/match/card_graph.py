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

from app.embed.preprocess import l2_normalise
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
    return l2_normalise(sums)


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
        # Unit length: cosine ignores it, but usearch's i8 codes keep more of a vector whose
        # components use their whole range.
        return self.index.search(l2_normalise(np.atleast_2d(vectors) @ self.projection), count, threads=threads)


def projection_path(graph: Path) -> Path:
    return graph.with_name(graph.name + PROJECTION_SUFFIX)


def _read_projection(path: Path, dim: int) -> npt.NDArray[np.float32] | None:
    """The projection saved next to the graph at ``path``, or None (with a warning) when it is
    missing, unreadable, of another shape or not finite."""
    try:
        # Memory-mapped first, so a damaged header claiming a huge shape allocates nothing.
        mapped = np.load(projection_path(path), mmap_mode="r", allow_pickle=False)
        if mapped.dtype != np.float32 or mapped.ndim != 2 or mapped.shape[0] != dim or mapped.shape[1] > dim:
            raise ValueError(f"shape {mapped.shape} {mapped.dtype}, expected [{dim}, ≤{dim}] float32")
        projection = np.array(mapped)
        if not np.all(np.isfinite(projection)):
            raise ValueError("not finite")
    except Exception as error:  # numpy raises OSError/ValueError/EOFError variants for damaged files
        logger.warning("Search graph projection next to %s unusable (%s); rebuilding the graph", path, error)
        return None
    return projection


def _restore(path: Path, dim: int, count: int) -> CardGraph | None:
    projection = _read_projection(path, dim)
    if projection is None:
        return None
    index = restore_index(path, projection.shape[1], count, view=True)
    return None if index is None else CardGraph(index, projection)


def _save(index: Any, projection: npt.NDArray[np.float32], path: Path, sets_read_at: float) -> None:
    """Projection first, then the graph (a graph is only read with a projection that fits it); each
    written under a temporary name and renamed. Other graphs in the folder last written before the
    sets were read are stale and removed; a newer one may be another process's, for a newer list of
    sets, and is kept."""
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = f".tmp-{os.getpid()}-{threading.get_ident()}"
    partial_projection = projection_path(path).with_name(projection_path(path).name + suffix)
    partial = path.with_name(path.name + suffix)
    try:
        with open(partial_projection, "wb") as handle:
            np.save(handle, projection, allow_pickle=False)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial_projection, projection_path(path))
        index.save(str(partial))
        os.replace(partial, path)
    except (OSError, RuntimeError) as error:  # usearch reports a failed write (a full disk) as RuntimeError
        partial_projection.unlink(missing_ok=True)
        partial.unlink(missing_ok=True)
        logger.warning("Could not cache the search graph at %s (%s); it will be rebuilt at the next load", path, error)
        return
    for stale in path.parent.glob(f"*{GRAPH_FILE_SUFFIX}*"):
        if stale in (path, projection_path(path)):
            continue
        try:
            if stale.stat().st_mtime < sets_read_at:
                stale.unlink()
        except OSError:  # gone already, or not ours to remove
            continue


def cached_graph(bundle: ReferenceBundle, path: Path, cancel: threading.Event | None = None) -> CardGraph:
    """The graph over ``bundle``'s cards saved at ``path`` (memory-mapped), or one built now and saved
    there for the next load. A ``cancel`` during the build raises ``GraphBuildCancelled`` and saves
    nothing (the next load builds it)."""
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
    index = build_index(l2_normalise(means @ projection), cancel=cancel)
    del means
    _save(index, projection, path, bundle.made_at)
    logger.info("Built the search graph over %d cards in %.1f s", count, time.monotonic() - started)
    return CardGraph(index, projection)
