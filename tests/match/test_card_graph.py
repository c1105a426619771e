from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pytest

from app.match import card_graph
from app.match.bundle import BundleManifest, ReferenceBundle
from app.match.card_graph import cached_graph, card_means, card_numbers, principal_axes, projection_path

DIM = 32
#: The directions the test cards differ along: far fewer than the model's dimension, as real ones.
SPREAD = 6


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=-1, keepdims=True)).astype(np.float32)


def low_rank_cards(count: int, seed: int = 3) -> np.ndarray:
    """``count`` card vectors in a ``SPREAD``-dimensional subspace of ``DIM``, plus a little noise."""
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.normal(size=(DIM, SPREAD)))[0]
    return unit(rng.normal(size=(count, SPREAD)) @ basis.T + rng.normal(scale=0.01, size=(count, DIM)))


def bundle_of(cards: np.ndarray, views: int = 3, seed: int = 5) -> ReferenceBundle:
    rng = np.random.default_rng(seed)
    rows = unit(np.repeat(cards, views, axis=0) + rng.normal(scale=0.05, size=(len(cards) * views, DIM)))
    ids = [f"c-{i}" for i in range(len(cards)) for _ in range(views)]
    return ReferenceBundle(BundleManifest.model_construct(dim=DIM), rows, ids, {c: {} for c in set(ids)})


def queries_near(cards: np.ndarray, seed: int = 9) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return unit(cards + rng.normal(scale=0.05, size=cards.shape))


def refuse_to_build(*args: object, **kwargs: object) -> None:
    raise AssertionError("the cached graph should have been read, not built again")


def test_card_means_average_each_cards_rows_in_first_seen_order() -> None:
    names, row_cards = card_numbers(["b", "a", "b", "a", "c"])
    rows = unit(np.eye(4, dtype=np.float32)[[0, 1, 0, 2, 3]])
    means = card_means(rows, row_cards, len(names))
    assert names == ["b", "a", "c"]
    assert np.allclose(means[0], rows[0]) and np.allclose(means[1], unit(rows[1] + rows[3]))


def test_the_principal_axes_keep_which_card_is_nearest() -> None:
    cards = low_rank_cards(200)
    axes = principal_axes(cards, SPREAD)
    queries = queries_near(cards)
    assert axes.shape == (DIM, SPREAD)
    assert np.allclose(axes.T @ axes, np.eye(SPREAD), atol=1e-5)
    nearest_full = np.argmax(queries @ cards.T, axis=1)
    nearest_projected = np.argmax(unit(queries @ axes) @ unit(cards @ axes).T, axis=1)
    assert (nearest_projected == nearest_full).mean() == 1.0


def test_the_graph_holds_cards_in_fewer_dimensions_and_finds_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(card_graph, "GRAPH_DIMS", SPREAD)
    cards = low_rank_cards(120)
    path = tmp_path / "graphs" / "g.usearch"
    built = cached_graph(bundle_of(cards), path)
    monkeypatch.setattr(card_graph, "build_index", refuse_to_build)
    loaded = cached_graph(bundle_of(cards), path)
    assert built.index.ndim == loaded.index.ndim == SPREAD and len(loaded) == 120
    assert np.load(projection_path(path)).shape == (DIM, SPREAD)
    keys = np.atleast_2d(loaded.search(queries_near(cards), 3).keys)
    assert np.mean([i in row for i, row in enumerate(keys.tolist())]) == 1.0


@pytest.mark.parametrize(
    "damage",
    [
        lambda p: p.write_bytes(p.read_bytes()[:40]),
        lambda p: np.save(p, np.zeros((DIM + 1, SPREAD), np.float32)),
        lambda p: np.save(p, np.full((DIM, SPREAD), np.nan, np.float32)),
        lambda p: p.unlink(),
        lambda p: p.write_bytes(b""),
        lambda p: p.write_bytes(p.read_bytes().replace(b"(32, 6)", b"(99999999999, 6)")),
    ],
    ids=["truncated", "other-dimension", "not-finite", "missing", "empty", "header-claims-a-huge-shape"],
)
def test_a_damaged_or_missing_projection_rebuilds_the_graph(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, damage: object
) -> None:
    monkeypatch.setattr(card_graph, "GRAPH_DIMS", SPREAD)
    cards = low_rank_cards(60)
    path = tmp_path / "g.usearch"
    cached_graph(bundle_of(cards), path)
    damage(projection_path(path))  # type: ignore[operator]
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        again = cached_graph(bundle_of(cards), path)
    assert "Building the search graph" in caplog.text
    assert np.load(projection_path(path)).shape == (DIM, SPREAD)
    keys = np.atleast_2d(again.search(queries_near(cards), 3).keys)
    assert np.mean([i in row for i, row in enumerate(keys.tolist())]) == 1.0


def test_a_graph_that_cannot_be_saved_is_still_searched_and_leaves_no_partial_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real_build = card_graph.build_index

    def unsaveable(*args: object, **kwargs: object) -> object:
        index = real_build(*args, **kwargs)  # type: ignore[arg-type]

        def disk_full(*_: object, **__: object) -> None:
            raise RuntimeError("Failed to serialize into stream")  # what usearch raises on a full disk

        index.save = disk_full
        return index

    monkeypatch.setattr(card_graph, "build_index", unsaveable)
    cards = low_rank_cards(40)
    path = tmp_path / "g.usearch"
    with caplog.at_level(logging.WARNING):
        graph = cached_graph(bundle_of(cards), path)
    assert "Could not cache the search graph" in caplog.text
    assert not path.exists() and not any(".tmp-" in p.name for p in tmp_path.iterdir())
    keys = np.atleast_2d(graph.search(queries_near(cards), 3).keys)
    assert np.mean([i in row for i, row in enumerate(keys.tolist())]) == 1.0


def test_saving_removes_graphs_older_than_the_sets_read_and_keeps_newer_ones(tmp_path: Path) -> None:
    """A graph written after these sets were read may be another running cardsight's, for newer sets."""
    cards = low_rank_cards(30)
    bundle = bundle_of(cards)
    older, newer = tmp_path / "older.usearch", tmp_path / "newer.usearch"
    for stale in (older, projection_path(older), newer, projection_path(newer)):
        stale.write_bytes(b"graph")
    for stale, at in ((older, bundle.made_at - 60), (newer, bundle.made_at + 60)):
        os.utime(stale, (at, at))
        os.utime(projection_path(stale), (at, at))
    cached_graph(bundle, tmp_path / "g.usearch")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["g.usearch", "g.usearch.projection.npy", "newer.usearch", "newer.usearch.projection.npy"]
    )
