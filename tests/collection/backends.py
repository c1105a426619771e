"""The two places a collection lives, for tests that run on both: an SQLite file in the test's folder,
and a database on one throwaway PostgreSQL cluster per test process (initdb + pg_ctl on 127.0.0.1).

The cluster starts on first use and is removed when the process ends. Every test gets the same
server database emptied (``TRUNCATE … RESTART IDENTITY``: ids start at 1 again, as in a new file),
which costs ~15 ms where a new database would cost ~120 ms.

Without the server binaries the PostgreSQL half skips, naming the Debian package to install — unless
``CARDSIGHT_REQUIRE_SYSTEM_TOOLS`` is set (CI), where it fails instead.
"""

from __future__ import annotations

import atexit
import os
from pathlib import Path
from typing import Any

import psycopg
import pytest

from app.collection import Collection
from app.collection.open import is_server_url
from app.collection.postgres import PostgresCollection
from app.collection.sql import TABLE_ORDER
from tests.collection.pg.cluster import Cluster, find_bin_dir, make_cluster

BACKENDS = ("sqlite", "postgres")
#: The database every both-backends test of this process shares (emptied before each).
SHARED_DATABASE = f"cardsight_tests_{os.getpid()}"

_cluster: Cluster | None = None
_admin: psycopg.Connection[Any] | None = None


def need_server() -> None:
    """Skip (or, with ``CARDSIGHT_REQUIRE_SYSTEM_TOOLS``, fail) when PostgreSQL is not installed."""
    if find_bin_dir() is not None:
        return
    reason = "PostgreSQL server binaries (initdb, pg_ctl) not found: install the Debian package `postgresql`"
    if os.environ.get("CARDSIGHT_REQUIRE_SYSTEM_TOOLS"):
        pytest.fail(reason + " (CARDSIGHT_REQUIRE_SYSTEM_TOOLS is set)")
    pytest.skip(reason)


def shared_cluster() -> Cluster:
    """This process's test cluster, started on first use."""
    global _cluster
    need_server()
    if _cluster is None:
        _cluster = make_cluster()
        atexit.register(_remove_cluster)
    return _cluster


def _remove_cluster() -> None:
    global _admin
    if _admin is not None:
        _admin.close()
        _admin = None
    if _cluster is not None:
        _cluster.remove()


def empty_server_collection() -> str:
    """The URL of this process's shared server database, holding an empty collection."""
    global _admin
    cluster = shared_cluster()
    url = cluster.url(SHARED_DATABASE)
    if _admin is None or _admin.closed:
        if not cluster.psql(f"SELECT 1 FROM pg_database WHERE datname = '{SHARED_DATABASE}'"):
            cluster.psql(f'CREATE DATABASE "{SHARED_DATABASE}"')
            with PostgresCollection(url, kiosk="tests") as server:
                server.ensure_schema()
        _admin = psycopg.connect(url, autocommit=True)
        # A test that left a connection holding a lock fails here, rather than hanging the suite.
        _admin.execute("SET lock_timeout = '10s'")
    _admin.execute(f"TRUNCATE {', '.join(TABLE_ORDER)} RESTART IDENTITY CASCADE")
    return url


def address_for(backend: str, tmp_path: Path) -> str:
    """Where a test's collection lives on ``backend``: a file path, or the (emptied) server URL."""
    return str(tmp_path / "collection.db") if backend == "sqlite" else empty_server_collection()


def open_address(address: str, crops: Path, kiosk: str = "kiosk-a") -> Any:
    """The collection at ``address`` (either backend); ``crops``: where the server's kiosk keeps crops."""
    if is_server_url(address):
        return PostgresCollection(address, kiosk=kiosk, crops_dir=crops)
    return Collection(address)


def address_of(collection: Any) -> str:
    """Where an open collection lives: what :func:`open_address` opens again."""
    return collection.url if isinstance(collection, PostgresCollection) else str(collection.path)
