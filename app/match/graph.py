"""The HNSW graph (usearch) a bundle's search goes through above a few thousand rows: how it is
built, saved and read back. The matcher re-scores whatever the graph proposes against the stored
vectors, so the graph only has to find the candidates."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

#: Scalar type inside the HNSW graph: i8 is faster than f32 at the same recall of the nearest
#: (bench/results/identify.json); candidates are re-scored against the stored vectors anyway.
INDEX_DTYPE = "i8"
#: Graph links per node (usearch's default is 16) and candidates kept per search step (its default
#: is 64): with 24 / 32 the true nearest is among the graph's candidates more often than with
#: 16 / 48 at the same speed (bench/results/catalog_scale.json records the recall). The matcher
#: re-scores the candidates, so the graph only has to find them. Connectivity is fixed when a graph
#: is built; the expansion is set at every load.
GRAPH_CONNECTIVITY = 24
SEARCH_EXPANSION = 32
#: A sparser graph, as bundles built before connectivity 24 have, needs a wider search to find
#: the nearest as often.
SPARSE_GRAPH_SEARCH_EXPANSION = 48


def search_expansion(connectivity: int) -> int:
    """The search width for a graph built with ``connectivity`` links per node."""
    return SEARCH_EXPANSION if connectivity >= GRAPH_CONNECTIVITY else SPARSE_GRAPH_SEARCH_EXPANSION


#: Rows decoded and added to a graph at a time, so a compact bundle is never decoded whole.
ROWS_PER_BATCH = 16384


class GraphBuildCancelled(Exception):
    """A graph build stopped because its ``cancel`` event was set; nothing was saved."""


def build_index(
    embeddings: Any, dtype: str = INDEX_DTYPE, threads: int = 0, cancel: threading.Event | None = None
) -> Any:
    """An HNSW graph over ``embeddings`` (float32 rows, or anything ``rows[indices]`` decodes).
    ``cancel`` is checked between batches of rows (:class:`GraphBuildCancelled`): a big graph takes
    minutes, and a user who cancels should not wait for it."""
    from usearch.index import Index

    index = Index(
        ndim=int(embeddings.shape[1]),
        metric="cos",
        dtype=dtype,
        connectivity=GRAPH_CONNECTIVITY,
        expansion_search=SEARCH_EXPANSION,
    )
    for start in range(0, len(embeddings), ROWS_PER_BATCH):
        if cancel is not None and cancel.is_set():
            raise GraphBuildCancelled("building the search graph was cancelled")
        rows = np.arange(start, min(start + ROWS_PER_BATCH, len(embeddings)))
        index.add(rows.astype(np.uint64), np.ascontiguousarray(embeddings[rows], np.float32), threads=threads)
    return index


def restore_index(path: Path, dim: int, count: int, view: bool = False) -> Any:
    """The graph saved at ``path``, or None (with a warning) if it is unreadable or does not fit
    ``count`` vectors of ``dim``; ``view`` memory-maps it instead of reading it."""
    from usearch.index import Index

    try:
        index = Index.restore(str(path), view=view)
    except Exception as error:  # usearch raises RuntimeError/ValueError variants for damaged files
        logger.warning("usearch index %s unreadable (%s); rebuilding it in memory", path, error)
        return None
    if index is None or index.ndim != dim or len(index) != count:
        logger.warning("usearch index %s does not match the vectors; rebuilding it in memory", path)
        return None
    # A search-time setting, not kept in the file (usearch has a setter; mypy misreads the property).
    index.expansion_search = search_expansion(int(index.connectivity))  # type: ignore[misc]
    return index
