from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("CARDSIGHT_SHARED", REPO.parent / "shared"))
CATALOG = SHARED / "data" / "pokemon-tcg"
EBAY = SHARED / "data" / "ebay-photos"


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
