"""The shop-server tests' cluster and databases (see :mod:`tests.collection.backends`)."""

from __future__ import annotations

import itertools
import os
from typing import Any

import pytest

from tests.collection.backends import shared_cluster
from tests.collection.pg.cluster import Cluster

_names = itertools.count()


@pytest.fixture(scope="session")
def pg_cluster() -> Cluster:
    """This process's throwaway cluster (shared with every both-backends test)."""
    return shared_cluster()


@pytest.fixture
def pg_url(pg_cluster: Cluster) -> str:
    """A new, empty database on the shared test cluster."""
    return pg_cluster.createdb(f"shop_{os.getpid()}_{next(_names)}")


@pytest.fixture
def store(collection: Any) -> Any:
    """A collection holding the test cards, on each backend in turn."""
    return collection
