from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app import PROJECT_ROOT
from app.catalog.build import build_bundle
from app.catalog.pokemontcg import CatalogError, read_catalog
from app.embed.onnx_backend import OnnxEmbedder
from app.match.bundle import BundleError, BundleModelMismatch, ReferenceBundle
from tests.catalog_copy import small_catalog

MODEL = PROJECT_ROOT / "models" / "lite0_imagenet.onnx"


@pytest.fixture(scope="module")
def embedder() -> OnnxEmbedder:
    return OnnxEmbedder(MODEL, threads=2)


def test_build_then_load_round_trip(catalog_dir: Path, tmp_path: Path, embedder: OnnxEmbedder) -> None:
    catalog = small_catalog(catalog_dir, tmp_path / "cat")
    report = build_bundle(catalog, tmp_path / "bundle", embedder)
    assert report.embedded == 8 and not report.skipped
    bundle = ReferenceBundle.load(tmp_path / "bundle", embedder.model_sha256, embedder.dim)
    m = bundle.manifest
    assert (m.card_count, m.vector_count, m.dim) == (8, 8, embedder.dim)
    assert {s.id for s in m.sets} == {"sv3pt5", "xy12"}
    assert m.model_sha256 == embedder.model_sha256
    assert bundle.metadata["xy12-1"]["name"] == "Venusaur-EX"
    assert bundle.metadata["xy12-1"]["printed_total"] == 108
    assert np.allclose(np.linalg.norm(bundle.dense_embeddings(), axis=1), 1.0, atol=1e-4)
    for card_id in bundle.card_ids():
        thumb = bundle.thumb_path(card_id)
        assert thumb is not None and thumb.stat().st_size <= 30_000
    assert len(bundle.index) == 8


def test_missing_and_corrupt_images_are_reported_by_card_id(
    catalog_dir: Path, tmp_path: Path, embedder: OnnxEmbedder
) -> None:
    catalog = small_catalog(catalog_dir, tmp_path / "cat")
    (catalog / "images" / "xy12" / "xy12-2.jpg").unlink()
    (catalog / "images" / "xy12" / "xy12-3.jpg").write_bytes(b"\xff\xd8\xff garbage")
    report = build_bundle(catalog, tmp_path / "bundle", embedder)
    skipped = dict(report.skipped)
    assert set(skipped) == {"xy12-2", "xy12-3"}
    assert "no image" in skipped["xy12-2"]
    bundle = ReferenceBundle.load(tmp_path / "bundle")
    assert bundle.manifest.card_count == 6
    assert bundle.manifest.missing_images == ["xy12-2", "xy12-3"]


def test_bundle_from_another_model_is_refused_with_the_rebuild_command(
    catalog_dir: Path, tmp_path: Path, embedder: OnnxEmbedder
) -> None:
    catalog = small_catalog(catalog_dir, tmp_path / "cat", per_set=1)
    build_bundle(catalog, tmp_path / "bundle", embedder)
    with pytest.raises(BundleModelMismatch, match="cardsight catalog build --catalog"):
        ReferenceBundle.load(tmp_path / "bundle", model_sha256="0" * 64)
    with pytest.raises(BundleModelMismatch, match="768-d"):
        ReferenceBundle.load(tmp_path / "bundle", dim=768)


def test_adding_a_set_equals_a_full_rebuild(catalog_dir: Path, tmp_path: Path, embedder: OnnxEmbedder) -> None:
    catalog = small_catalog(catalog_dir, tmp_path / "cat", per_set=3, sets=("sv3pt5", "sv5", "xy12"))
    build_bundle(catalog, tmp_path / "full", embedder)
    build_bundle(catalog, tmp_path / "inc", embedder, set_ids=["sv3pt5", "xy12"])
    report = build_bundle(catalog, tmp_path / "inc", embedder, set_ids=["sv5"], add=True)
    assert report.kept == 6 and report.embedded == 3  # the old sets were not re-embedded
    full = ReferenceBundle.load(tmp_path / "full")
    inc = ReferenceBundle.load(tmp_path / "inc")
    assert inc.row_card_ids == full.row_card_ids
    assert np.allclose(inc.dense_embeddings(), full.dense_embeddings(), atol=1e-5)
    assert inc.metadata == full.metadata
    assert [s.model_dump() for s in inc.manifest.sets] == [s.model_dump() for s in full.manifest.sets]
    assert sorted(p.name for p in (tmp_path / "inc" / "thumbs").iterdir()) == sorted(
        p.name for p in (tmp_path / "full" / "thumbs").iterdir()
    )


def test_crash_during_build_leaves_the_previous_bundle_loadable(
    catalog_dir: Path, tmp_path: Path, embedder: OnnxEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = small_catalog(catalog_dir, tmp_path / "cat", per_set=2)
    build_bundle(catalog, tmp_path / "bundle", embedder, set_ids=["xy12"])

    def crash(folder: Path) -> None:
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr("app.match.bundle._fsync_tree", crash)
    with pytest.raises(KeyboardInterrupt):
        build_bundle(catalog, tmp_path / "bundle", embedder)
    bundle = ReferenceBundle.load(tmp_path / "bundle")
    assert bundle.manifest.card_count == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle", "cat"]  # no staging debris


def test_interrupted_swap_falls_back_to_the_previous_bundle(
    catalog_dir: Path, tmp_path: Path, embedder: OnnxEmbedder
) -> None:
    catalog = small_catalog(catalog_dir, tmp_path / "cat", per_set=1)
    build_bundle(catalog, tmp_path / "bundle", embedder)
    (tmp_path / "bundle").rename(tmp_path / "bundle.previous")  # crash between the two renames
    assert ReferenceBundle.load(tmp_path / "bundle").manifest.card_count == 2


def test_damaged_bundle_is_a_clear_error(catalog_dir: Path, tmp_path: Path, embedder: OnnxEmbedder) -> None:
    catalog = small_catalog(catalog_dir, tmp_path / "cat", per_set=1)
    build_bundle(catalog, tmp_path / "bundle", embedder)
    (tmp_path / "bundle" / "index.json").write_text("[")
    with pytest.raises(BundleError, match="damaged"):
        ReferenceBundle.load(tmp_path / "bundle")
    with pytest.raises(BundleError, match="No reference bundle"):
        ReferenceBundle.load(tmp_path / "nothing")


def test_catalogue_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="not found"):
        read_catalog(tmp_path / "missing")
    (tmp_path / "sets.json").write_text("{not json")
    with pytest.raises(CatalogError, match=r"sets\.json"):
        read_catalog(tmp_path)


def test_extra_views_are_deterministic_per_card_and_incremental_builds_keep_them(
    catalog_dir: Path, tmp_path: Path, embedder: OnnxEmbedder
) -> None:
    catalog = small_catalog(catalog_dir, tmp_path / "cat", per_set=2)
    build_bundle(catalog, tmp_path / "full", embedder, views=3)
    build_bundle(catalog, tmp_path / "inc", embedder, set_ids=["xy12"], views=3)
    build_bundle(catalog, tmp_path / "inc", embedder, set_ids=["sv3pt5"], add=True, views=3)
    full = ReferenceBundle.load(tmp_path / "full")
    inc = ReferenceBundle.load(tmp_path / "inc")
    assert full.manifest.vector_count == 12 and full.manifest.views_per_card == 3
    assert inc.row_card_ids == full.row_card_ids
    assert np.allclose(inc.dense_embeddings(), full.dense_embeddings(), atol=1e-5)
    with pytest.raises(ValueError, match="view"):
        build_bundle(catalog, tmp_path / "inc", embedder, set_ids=["sv3pt5"], add=True, views=1)


def test_adding_a_set_to_a_damaged_bundle_is_refused_and_leaves_it_as_it_was(
    catalog_dir: Path, tmp_path: Path, embedder: OnnxEmbedder
) -> None:
    """The kept vectors would carry the damage into the new bundle, sealed with fresh checksums."""
    catalog = small_catalog(catalog_dir, tmp_path / "cat", per_set=1, sets=("sv3pt5", "sv5", "xy12"))
    build_bundle(catalog, tmp_path / "bundle", embedder, set_ids=["sv3pt5", "xy12"])
    vectors = tmp_path / "bundle" / "embeddings.npy"
    with open(vectors, "r+b") as handle:
        handle.seek(200)
        handle.write(bytes(64))
    damaged = {p.name: p.read_bytes() for p in (tmp_path / "bundle").iterdir() if p.is_file()}
    with pytest.raises(BundleError, match=r"embeddings\.npy"):
        build_bundle(catalog, tmp_path / "bundle", embedder, set_ids=["sv5"], add=True)
    assert {p.name: p.read_bytes() for p in (tmp_path / "bundle").iterdir() if p.is_file()} == damaged
