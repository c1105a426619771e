from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.match.bundle import BundleManifest, BundleModelMismatch, BundleSet, ReferenceBundle
from app.match.card_graph import projection_path
from app.match.matcher import Matcher
from app.match.shards import index_cache_dir, load_reference, shard_names

DIM = 16
MODEL = "0" * 64


def unit_vectors(count: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(count, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def write_bundle(folder: Path, set_id: str, cards: int, seed: int, dtype: str = "i8") -> np.ndarray:
    """A bundle of one set, ``cards`` cards × 2 views; returns its float32 vectors."""
    vectors = unit_vectors(cards * 2, seed)
    card_ids = [f"{set_id}-{i}" for i in range(cards)]
    manifest = BundleManifest(
        model_name="test",
        model_sha256=MODEL,
        dim=DIM,
        preprocessing={},
        dtype=dtype,
        card_count=cards,
        vector_count=len(vectors),
        sets=[BundleSet(id=set_id, name=set_id.upper(), cards=cards)],
        build_time="now",
        views_per_card=2,
    )
    rows = [card_id for card_id in card_ids for _ in range(2)]
    metadata: dict[str, dict[str, object]] = {c: {"name": c, "set_id": set_id} for c in card_ids}
    ReferenceBundle(manifest, vectors, rows, metadata).save(folder, with_index=dtype == "f32")
    return vectors


@pytest.fixture
def shipped(tmp_path: Path) -> Path:
    write_bundle(tmp_path / "shipped", "base", 30, seed=1, dtype="f32")
    return tmp_path / "shipped"


def near(vectors: np.ndarray, seed: int) -> np.ndarray:
    noisy = vectors + np.random.default_rng(seed).normal(scale=0.1, size=vectors.shape).astype(np.float32)
    return noisy / np.linalg.norm(noisy, axis=1, keepdims=True)


def test_without_installed_sets_the_shipped_bundle_is_used_as_it_is(shipped: Path, tmp_path: Path) -> None:
    bundle = load_reference(shipped, tmp_path / "no-such-folder", MODEL, DIM)
    assert bundle.path == shipped and bundle.index_cache is None and bundle.problems == []
    assert isinstance(bundle.embeddings, np.ndarray)


def test_rows_are_the_shipped_bundles_then_each_set_in_id_order(shipped: Path, tmp_path: Path) -> None:
    sets_dir = tmp_path / "sets"
    second = write_bundle(sets_dir / "zz", "zz", 5, seed=3)
    first = write_bundle(sets_dir / "aa", "aa", 4, seed=2)
    bundle = load_reference(shipped, sets_dir, MODEL, DIM)
    assert bundle.row_card_ids[60] == "aa-0" and bundle.row_card_ids[68] == "zz-0"
    assert len(bundle.row_card_ids) == 60 + 8 + 10 == bundle.manifest.vector_count
    assert bundle.manifest.card_count == 39
    assert [s.id for s in bundle.manifest.sets] == ["base", "aa", "zz"]
    decoded = bundle.embeddings[np.arange(60, 78)]
    cosines = np.sum(decoded * np.vstack([first, second]), axis=1)
    assert cosines.min() > 0.999
    assert np.allclose(np.linalg.norm(decoded, axis=1), 1.0, atol=1e-5)
    shipped_rows = ReferenceBundle.load(shipped).dense_embeddings()
    mixed = bundle.embeddings[np.array([61, 0, 59])]
    assert np.array_equal(mixed[1:], shipped_rows[[0, 59]])
    assert float(mixed[0] @ first[1]) > 0.999


def test_search_through_the_cached_graph_finds_what_the_exact_search_finds(shipped: Path, tmp_path: Path) -> None:
    sets_dir = tmp_path / "sets"
    vectors = write_bundle(sets_dir / "aa", "aa", 40, seed=2)
    bundle = load_reference(shipped, sets_dir, MODEL, DIM)
    queries = near(vectors[::2], seed=9)
    exact = Matcher(bundle, exact_below=10**6).search(queries, 3)
    graph = Matcher(bundle, exact_below=1).search(queries, 3)
    assert [hits[0][0] for hits in exact] == [f"aa-{i}" for i in range(40)]
    # The graph is approximate (built on several threads, so not the same graph every run): it may
    # miss a query now and then, never most of them; what it finds is scored exactly.
    agreeing = [g for g, e in zip(graph, exact, strict=True) if g[0][0] == e[0][0]]
    assert len(agreeing) >= len(exact) - 1
    assert graph[0][0][1] == pytest.approx(exact[0][0][1], abs=1e-6) or graph[0][0][0] != exact[0][0][0]
    assert bundle.index_cache is not None and bundle.index_cache.is_file()
    assert bundle.index_cache.parent == index_cache_dir(sets_dir)


def test_a_graph_cached_for_other_sets_is_never_used(shipped: Path, tmp_path: Path) -> None:
    sets_dir = tmp_path / "sets"
    write_bundle(sets_dir / "aa", "aa", 10, seed=2)
    before = load_reference(shipped, sets_dir, MODEL, DIM)
    _ = before.index
    vectors = write_bundle(sets_dir / "bb", "bb", 10, seed=3)
    after = load_reference(shipped, sets_dir, MODEL, DIM)
    assert after.index_cache != before.index_cache
    hits = Matcher(after, exact_below=1).search(near(vectors[::2], seed=4), 1)
    assert [h[0][0] for h in hits] == [f"bb-{i}" for i in range(10)]
    assert after.index_cache is not None
    assert sorted(p.name for p in index_cache_dir(sets_dir).iterdir()) == sorted(
        [after.index_cache.name, projection_path(after.index_cache).name]
    )


def test_a_damaged_cached_graph_is_rebuilt_and_answers_stay_right(shipped: Path, tmp_path: Path) -> None:
    sets_dir = tmp_path / "sets"
    vectors = write_bundle(sets_dir / "aa", "aa", 20, seed=2)
    first = load_reference(shipped, sets_dir, MODEL, DIM)
    _ = first.index
    assert first.index_cache is not None
    first.index_cache.write_bytes(first.index_cache.read_bytes()[:500])
    again = load_reference(shipped, sets_dir, MODEL, DIM)
    hits = Matcher(again, exact_below=1).search(near(vectors[::2], seed=5), 1)
    assert [h[0][0] for h in hits] == [f"aa-{i}" for i in range(20)]
    # One node per card (30 shipped, 20 installed), each card's mean view: not one per stored view.
    assert len(load_reference(shipped, sets_dir, MODEL, DIM).index) == 50


def test_an_installed_copy_of_a_shipped_set_is_not_used_twice(shipped: Path, tmp_path: Path) -> None:
    write_bundle(tmp_path / "sets" / "base", "base", 30, seed=8)
    bundle = load_reference(shipped, tmp_path / "sets", MODEL, DIM)
    assert len(bundle.row_card_ids) == 60 and bundle.path == shipped


def test_a_folder_holding_another_set_than_its_name_is_left_out(shipped: Path, tmp_path: Path) -> None:
    write_bundle(tmp_path / "sets" / "aa", "bb", 3, seed=8)
    bundle = load_reference(shipped, tmp_path / "sets", MODEL, DIM)
    assert len(bundle.problems) == 1 and "Installed set aa is left out" in bundle.problems[0]
    assert "cardsight catalog download aa" in bundle.problems[0]


def test_an_unreadable_shard_manifest_is_left_out_with_the_reinstall_command(shipped: Path, tmp_path: Path) -> None:
    sets_dir = tmp_path / "sets"
    write_bundle(sets_dir / "aa", "aa", 3, seed=2)
    write_bundle(sets_dir / "bb", "bb", 3, seed=3)
    (sets_dir / "aa" / "manifest.json").write_text("{not json")
    bundle = load_reference(shipped, sets_dir, MODEL, DIM)
    assert [p.split(" is left out")[0] for p in bundle.problems] == ["Installed set aa"]
    assert bundle.problems[0].endswith("Reinstall it: cardsight catalog remove aa && cardsight catalog download aa")
    assert "catalog build" not in bundle.problems[0]
    assert "bb-0" in bundle.card_ids() and "aa-0" not in bundle.card_ids()


def test_an_interrupted_install_falls_back_to_the_previous_copy_and_ignores_staging(
    shipped: Path, tmp_path: Path
) -> None:
    sets_dir = tmp_path / "sets"
    write_bundle(sets_dir / "aa.previous", "aa", 3, seed=2)
    (sets_dir / "aa.tmp-1-2").mkdir()
    (sets_dir / "aa.tmp-1-2" / "embeddings.npy").write_bytes(b"half written")
    assert shard_names(sets_dir) == ["aa"]
    bundle = load_reference(shipped, sets_dir, MODEL, DIM)
    assert bundle.problems == [] and "aa-2" in bundle.card_ids()


def test_the_shipped_bundle_from_another_model_is_still_refused_whole(shipped: Path, tmp_path: Path) -> None:
    write_bundle(tmp_path / "sets" / "aa", "aa", 3, seed=2)
    with pytest.raises(BundleModelMismatch):
        load_reference(shipped, tmp_path / "sets", "f" * 64, DIM)


def test_a_combined_bundle_saves_as_one_bundle_without_its_cached_graph(shipped: Path, tmp_path: Path) -> None:
    sets_dir = tmp_path / "sets"
    vectors = write_bundle(sets_dir / "aa", "aa", 10, seed=2)
    combined = load_reference(shipped, sets_dir, MODEL, DIM)
    _ = combined.index
    saved = ReferenceBundle.load(combined.save(tmp_path / "together"), MODEL, DIM)
    assert not (tmp_path / "together" / "usearch.index").exists()
    assert saved.row_card_ids == combined.row_card_ids
    hits = Matcher(saved).search(near(vectors[::2], seed=6), 1)
    assert [h[0][0] for h in hits] == [f"aa-{i}" for i in range(10)]
