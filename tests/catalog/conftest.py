from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.catalog import database
from tests.conftest import SHARED

METADATA = SHARED / "data" / "pokemontcg-metadata"


@pytest.fixture(scope="session")
def metadata_dir() -> Path:
    if not (METADATA / "sets" / "en.json").is_file():
        pytest.fail(f"shared metadata missing at {METADATA}; set CARDSIGHT_SHARED to the shared/ folder")
    return METADATA


def small_metadata(src: Path, dst: Path, sets: tuple[str, ...]) -> Path:
    """A copy of a few sets of the shared metadata, in the same layout."""
    all_sets = json.loads((src / "sets" / "en.json").read_text(encoding="utf-8"))
    (dst / "sets").mkdir(parents=True, exist_ok=True)
    (dst / "cards" / "en").mkdir(parents=True, exist_ok=True)
    (dst / "sets" / "en.json").write_text(json.dumps([s for s in all_sets if s["id"] in sets]), encoding="utf-8")
    for set_id in sets:
        name = f"{set_id}.json"
        (dst / "cards" / "en" / name).write_bytes((src / "cards" / "en" / name).read_bytes())
    return dst


@pytest.fixture(autouse=True)
def private_data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Each test its own data folder (no user copy of the catalogue unless it makes one)."""
    home = tmp_path / "data-home"
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    clear = database.default_catalog.cache_clear
    clear()
    yield home
    clear()
