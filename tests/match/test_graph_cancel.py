from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from app.match.bundle import BundleManifest, ReferenceBundle
from app.match.card_graph import cached_graph
from app.match.graph import GraphBuildCancelled, build_index


def unit_rows(count: int, dim: int = 8) -> np.ndarray:
    rows = np.random.default_rng(7).normal(size=(count, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_a_cancelled_graph_build_stops_before_adding_rows() -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(GraphBuildCancelled):
        build_index(unit_rows(10), cancel=cancel)


def test_a_cancelled_cached_graph_saves_nothing_and_a_later_one_is_built(tmp_path: Path) -> None:
    rows = unit_rows(12)
    ids = [f"c-{i}" for i in range(12)]
    manifest = BundleManifest.model_construct(dim=8)
    bundle = ReferenceBundle(manifest, rows, ids, {c: {} for c in ids})
    path = tmp_path / "graphs" / "g.usearch"
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(GraphBuildCancelled):
        cached_graph(bundle, path, cancel)
    assert not path.exists()
    assert len(cached_graph(bundle, path)) == 12 and path.is_file()
