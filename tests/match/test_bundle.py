from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from app.catalog.build import write_checksums
from app.match.bundle import BundleError, BundleManifest, BundleSet, ReferenceBundle
from app.match.vectors import QuantizedRows

CARDS = [f"c{i}" for i in range(40)]
REBUILD = "cardsight catalog build --catalog"


def unit_vectors(count: int, dim: int = 8, seed: int = 5) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(count, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def make_bundle(folder: Path, vectors: np.ndarray | None = None, dtype: str = "f32") -> Path:
    """A small bundle of 40 cards with a thumbnail each, written by ReferenceBundle.save."""
    vectors = unit_vectors(len(CARDS)) if vectors is None else vectors
    manifest = BundleManifest(
        model_name="test",
        model_sha256="0" * 64,
        dim=vectors.shape[1],
        preprocessing={},
        card_count=len(CARDS),
        vector_count=len(CARDS),
        sets=[BundleSet(id="t", name="Test", cards=len(CARDS))],
        build_time="now",
        catalog="/catalogue",
        dtype=dtype,
    )
    thumbs = folder.parent / f"{folder.name}-thumbs"
    thumbs.mkdir()
    for card_id in CARDS:
        (thumbs / f"{card_id}.jpg").write_bytes(f"jpeg of {card_id}".encode())
    metadata: dict[str, dict[str, object]] = {c: {"name": c} for c in CARDS}
    return ReferenceBundle(manifest, vectors, list(CARDS), metadata).save(folder, thumbs_from=thumbs)


def drop_checksums(bundle: Path) -> None:
    """Make ``bundle`` look like one written before checksums were recorded."""
    manifest = json.loads((bundle / "manifest.json").read_text())
    del manifest["checksums"]
    (bundle / "manifest.json").write_text(json.dumps(manifest))


def overwrite_inside(path: Path, data: bytes, offset: int = 200) -> None:
    """Damage a file in place, keeping its size (and, for .npy, its header and shape)."""
    with open(path, "r+b") as handle:
        handle.seek(offset)
        handle.write(data)


def save_vectors(bundle: Path, vectors: np.ndarray) -> None:
    np.save(bundle / "embeddings.npy", vectors.astype(np.float32))


def with_a_nan_row(bundle: Path) -> None:
    vectors = np.load(bundle / "embeddings.npy")
    vectors[3] = np.nan
    save_vectors(bundle, vectors)


def with_zeroed_rows(bundle: Path) -> None:
    vectors = np.load(bundle / "embeddings.npy")
    vectors[5:9] = 0.0
    save_vectors(bundle, vectors)


def with_random_bytes(bundle: Path) -> None:
    overwrite_inside(bundle / "embeddings.npy", np.random.default_rng(1).bytes(600))


def with_zero_bytes(bundle: Path) -> None:
    overwrite_inside(bundle / "embeddings.npy", bytes(600))


def edit_metadata(bundle: Path) -> None:
    metadata = json.loads((bundle / "metadata.json").read_text())
    metadata["c7"]["name"] = "Charizard"
    (bundle / "metadata.json").write_text(json.dumps(metadata))


def truncate_index(bundle: Path) -> None:
    index = bundle / "usearch.index"
    index.write_bytes(index.read_bytes()[: index.stat().st_size // 2])


DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "random bytes in the vectors": (with_random_bytes, "embeddings.npy"),
    "zeros in the vectors": (with_zero_bytes, "embeddings.npy"),
    "a NaN vector": (with_a_nan_row, "embeddings.npy"),
    "a truncated graph": (truncate_index, "usearch.index"),
    "a missing graph": (lambda b: (b / "usearch.index").unlink(), "usearch.index"),
    "edited metadata": (edit_metadata, "metadata.json"),
    "a deleted thumbnail": (lambda b: (b / "thumbs" / "c12.jpg").unlink(), "thumbs/c12.jpg"),
    "no thumbnails": (lambda b: shutil.rmtree(b / "thumbs"), "thumbs/"),
    "a missing row index": (lambda b: (b / "index.json").unlink(), "index.json"),
}


def test_a_saved_bundle_records_the_sha256_of_every_file_but_the_manifest(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "bundle")
    checksums = ReferenceBundle.load(bundle).manifest.checksums
    files = sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file())
    assert sorted(checksums) == [f for f in files if f != "manifest.json"]
    assert len(checksums) == 4 + len(CARDS)
    for name, digest in checksums.items():
        assert hashlib.sha256((bundle / name).read_bytes()).hexdigest() == digest


def test_an_intact_bundle_loads(tmp_path: Path) -> None:
    loaded = ReferenceBundle.load(make_bundle(tmp_path / "bundle"))
    assert loaded.row_card_ids == CARDS
    assert np.array_equal(loaded.dense_embeddings(), unit_vectors(len(CARDS)))


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_or_incomplete_bundle_is_refused_naming_the_file_and_the_rebuild(damage: str, tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "bundle")
    harm, culprit = DAMAGE[damage]
    harm(bundle)
    with pytest.raises(BundleError) as refused:
        ReferenceBundle.load(bundle)
    message = str(refused.value)
    assert str(bundle / culprit) in message
    assert f"{REBUILD} /catalogue --out {bundle}" in message
    assert "\n" not in message


@pytest.mark.parametrize("harm", [with_random_bytes, with_zero_bytes, with_a_nan_row, with_zeroed_rows])
def test_vectors_that_are_not_finite_unit_vectors_are_refused_even_without_checksums(
    harm: Callable[[Path], None], tmp_path: Path
) -> None:
    bundle = make_bundle(tmp_path / "bundle")
    drop_checksums(bundle)
    harm(bundle)
    with pytest.raises(BundleError, match=r"embeddings\.npy is damaged: \d+ of 40 vectors are not finite unit"):
        ReferenceBundle.load(bundle)


def test_vectors_saved_without_normalising_are_refused(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "bundle", vectors=unit_vectors(len(CARDS)) * 1.5)
    with pytest.raises(BundleError, match=r"embeddings\.npy is damaged"):
        ReferenceBundle.load(bundle)


def test_a_bundle_from_before_checksums_loads_with_a_warning_naming_the_rebuild(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bundle = make_bundle(tmp_path / "bundle")
    drop_checksums(bundle)
    with caplog.at_level(logging.WARNING, logger="app.match.bundle"):
        loaded = ReferenceBundle.load(bundle)
    assert loaded.row_card_ids == CARDS and loaded.manifest.checksums == {}
    assert "records no checksums" in caplog.text and REBUILD in caplog.text


def test_an_unreadable_manifest_is_one_line_naming_it(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "bundle")
    (bundle / "manifest.json").write_text('{"format_version": 1, "dim": "wide"}')
    with pytest.raises(BundleError) as refused:
        ReferenceBundle.load(bundle)
    assert str(bundle / "manifest.json") in str(refused.value) and "\n" not in str(refused.value)


def test_rewritten_checksums_seal_the_bundle_as_it_is_now(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "bundle")
    drop_checksums(bundle)
    (bundle / "thumbs" / "c3.jpg").unlink()
    manifest = write_checksums(bundle)
    assert "thumbs/c3.jpg" not in manifest.checksums and len(manifest.checksums) == 4 + len(CARDS) - 1
    assert ReferenceBundle.load(bundle).manifest.checksums == manifest.checksums
    edit_metadata(bundle)
    with pytest.raises(BundleError, match=r"metadata\.json is damaged"):
        ReferenceBundle.load(bundle)


def test_checksums_are_not_rewritten_over_damaged_vectors(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "bundle")
    before = (bundle / "manifest.json").read_bytes()
    with_a_nan_row(bundle)
    with pytest.raises(BundleError, match=r"embeddings\.npy"):
        write_checksums(bundle)
    assert (bundle / "manifest.json").read_bytes() == before


def test_an_int8_bundle_keeps_codes_and_scales_and_reads_back_unit_rows(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "bundle", unit_vectors(len(CARDS), dim=64), dtype="i8")
    assert np.load(bundle / "embeddings.npy").dtype == np.int8
    assert np.load(bundle / "scales.npy").shape == (len(CARDS),)
    loaded = ReferenceBundle.load(bundle)
    assert isinstance(loaded.embeddings, QuantizedRows)
    assert isinstance(loaded.embeddings.codes, np.memmap)
    decoded = loaded.dense_embeddings()
    assert np.allclose(np.linalg.norm(decoded, axis=1), 1.0, atol=1e-5)
    assert np.sum(decoded * unit_vectors(len(CARDS), dim=64), axis=1).min() > 0.999


def test_a_damaged_int8_scale_file_is_refused_naming_it(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "bundle", dtype="i8")
    overwrite_inside(bundle / "scales.npy", b"\x00" * 16, offset=140)
    with pytest.raises(BundleError) as refused:
        ReferenceBundle.load(bundle)
    assert str(bundle / "scales.npy") in str(refused.value) and REBUILD in str(refused.value)


def test_int8_scales_that_break_unit_length_are_refused_even_without_checksums(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "bundle", dtype="i8")
    drop_checksums(bundle)
    np.save(bundle / "scales.npy", np.load(bundle / "scales.npy") * 2)
    with pytest.raises(BundleError, match=r"embeddings\.npy is damaged: 40 of 40 vectors are not finite unit"):
        ReferenceBundle.load(bundle)


def test_vectors_in_a_type_this_version_does_not_read_are_refused(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "bundle")
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["dtype"] = "f64"
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="stores f64 vectors; this cardsight reads f32, i8"):
        ReferenceBundle.load(bundle)


def test_vectors_that_are_not_unit_vectors_are_never_written_as_int8(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not finite unit vectors"):
        make_bundle(tmp_path / "bundle", unit_vectors(len(CARDS)) * 1.5, dtype="i8")
    assert not (tmp_path / "bundle").exists()
