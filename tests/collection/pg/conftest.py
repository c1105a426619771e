"""A throwaway PostgreSQL cluster for the shop-server tests, and a collection fixture that runs the
shared behaviour tests on both backends.

Without the server binaries the tests skip, naming the Debian package to install — unless
``CARDSIGHT_REQUIRE_SYSTEM_TOOLS`` is set (CI), where they fail instead.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.collection import Collection
from app.collection.postgres import PostgresCollection
from tests.collection.conftest import CARDS
from tests.collection.pg.cluster import Cluster, find_bin_dir, make_cluster

_names = itertools.count()


def _need_server() -> None:
    if find_bin_dir() is not None:
        return
    reason = "PostgreSQL server binaries (initdb, pg_ctl) not found: install the Debian package `postgresql`"
    if os.environ.get("CARDSIGHT_REQUIRE_SYSTEM_TOOLS"):
        pytest.fail(reason + " (CARDSIGHT_REQUIRE_SYSTEM_TOOLS is set)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    _need_server()
    cluster = make_cluster()
    yield cluster
    cluster.remove()


@pytest.fixture
def pg_url(pg_cluster: Cluster) -> str:
    """A new, empty database on the shared test cluster."""
    return pg_cluster.createdb(f"shop_{os.getpid()}_{next(_names)}")


def open_backend(kind: str, tmp_path: Path, url: str, kiosk: str = "kiosk-a") -> Any:
    if kind == "sqlite":
        return Collection(tmp_path / "collection.db")
    return PostgresCollection(url, kiosk=kiosk, crops_dir=tmp_path / "crops")


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A collection holding the test cards, on each backend in turn."""
    url = request.getfixturevalue("pg_url") if request.param == "postgres" else ""
    collection = open_backend(request.param, tmp_path, url)
    collection.upsert_cards(CARDS)
    yield collection
    collection.close()
