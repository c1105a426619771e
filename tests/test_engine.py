from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app import PROJECT_ROOT
from app.catalog.install import installed_sets_dir
from app.config import load_settings
from app.engine import load_engine
from app.match.bundle import BundleManifest, BundleSet, ReferenceBundle, read_manifest

SHIPPED = PROJECT_ROOT / "reference" / "default"


def install_synthetic_set(sets_dir: Path, set_id: str, cards: int) -> None:
    """An installed set built with the shipped model (random vectors: only its presence matters)."""
    shipped = read_manifest(SHIPPED)
    vectors = np.random.default_rng(3).normal(size=(cards, shipped.dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    card_ids = [f"{set_id}-{i}" for i in range(1, cards + 1)]
    manifest = BundleManifest(
        model_name=shipped.model_name,
        model_sha256=shipped.model_sha256,
        dim=shipped.dim,
        preprocessing=shipped.preprocessing,
        dtype="i8",
        card_count=cards,
        vector_count=cards,
        sets=[BundleSet(id=set_id, name=set_id, cards=cards)],
        build_time="now",
    )
    metadata: dict[str, dict[str, object]] = {c: {"name": c, "set_id": set_id} for c in card_ids}
    ReferenceBundle(manifest, vectors, card_ids, metadata).save(sets_dir / set_id, with_index=False)


@pytest.fixture
def installed_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    install_synthetic_set(installed_sets_dir(), "base1", 3)
    return "base1-1"


def test_the_configured_bundle_comes_with_the_installed_sets(installed_set: str) -> None:
    settings = load_settings()
    settings.ocr.enabled = False
    engine = load_engine(settings)
    try:
        assert installed_set in engine.bundle.card_ids()
        assert "sv5-1" in engine.bundle.card_ids() and engine.bundle.problems == []
    finally:
        engine.close()


def test_a_bundle_named_explicitly_is_used_alone(installed_set: str) -> None:
    settings = load_settings()
    settings.ocr.enabled = False
    engine = load_engine(settings, bundle=str(SHIPPED))
    try:
        assert installed_set not in engine.bundle.card_ids() and "sv5-1" in engine.bundle.card_ids()
    finally:
        engine.close()


def test_the_tests_never_see_the_users_data_folder() -> None:
    assert not str(installed_sets_dir()).startswith(str(Path.home() / ".local" / "share"))
