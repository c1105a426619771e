from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("CARDSIGHT_SHARED", REPO.parent / "shared"))
CATALOG = SHARED / "data" / "pokemon-tcg"
EBAY = SHARED / "data" / "ebay-photos"
_DATA_HOME = pytest.StashKey[str]()


def pytest_configure(config: pytest.Config) -> None:
    """The tests never read or write the user's data folder (installed sets, the catalogue copy,
    downloaded images): a machine with sets installed must give the same results as a fresh one."""
    import tempfile

    config.stash[_DATA_HOME] = os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="cardsight-test-data-")


def pytest_unconfigure(config: pytest.Config) -> None:
    import shutil

    if _DATA_HOME in config.stash:
        shutil.rmtree(config.stash[_DATA_HOME], ignore_errors=True)


def need_shared() -> None:
    if not (CATALOG / "images").is_dir():
        pytest.fail(f"shared data missing at {CATALOG}; set CARDSIGHT_SHARED to the shared/ folder")


@pytest.fixture(scope="session")
def catalog_dir() -> Path:
    need_shared()
    return CATALOG


@pytest.fixture(scope="session")
def ebay_dir() -> Path:
    need_shared()
    return EBAY


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
