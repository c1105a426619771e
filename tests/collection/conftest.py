from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.collection import Collection, InventoryKey
from tests.collection.backends import BACKENDS, address_for, open_address

CARDS = [
    {"card_id": "sv3pt5-25", "name": "Pikachu", "set_id": "sv3pt5", "set_name": "151", "number": "25",
     "printed_total": 165, "rarity": "Common", "supertype": "Pokémon", "ptcgo_code": "MEW"},
    {"card_id": "sv3pt5-29", "name": "Nidoran ♀", "set_id": "sv3pt5", "set_name": "151", "number": "29",
     "printed_total": 165, "rarity": "Common", "supertype": "Pokémon", "ptcgo_code": "MEW"},
    {"card_id": "xy12-1", "name": "Venusaur-EX", "set_id": "xy12", "set_name": "Evolutions", "number": "1",
     "printed_total": 108, "rarity": "Rare Holo EX", "supertype": "Pokémon", "ptcgo_code": "EVO"},
    {"card_id": "sv5-10", "name": '=HYPERLINK("http://x")', "set_id": "sv5", "set_name": "Temporal Forces",
     "number": "10", "printed_total": 162, "rarity": "Common", "supertype": "Pokémon", "ptcgo_code": "TEF"},
    {"card_id": "xy12-2", "name": "Flabébé ★", "set_id": "xy12", "set_name": "Evolutions", "number": "2",
     "printed_total": 108, "rarity": "Common", "supertype": "Pokémon", "ptcgo_code": "EVO"},
]  # fmt: skip


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Each test that asks runs twice: on an SQLite file and on the shop server (PostgreSQL)."""
    return str(request.param)


@pytest.fixture
def collection_address(backend: str, tmp_path: Path) -> str:
    """Where this test's (empty) collection lives: a file path or a server URL."""
    return address_for(backend, tmp_path)


@pytest.fixture
def collection(collection_address: str, tmp_path: Path) -> Iterator[Any]:
    """A collection holding the test cards, on each backend in turn."""
    c = open_address(collection_address, tmp_path / "crops")
    c.upsert_cards(CARDS)
    yield c
    c.close()


@pytest.fixture
def sqlite_collection(tmp_path: Path) -> Iterator[Collection]:
    """The collection as an SQLite file, for tests of the file as such (WAL, pragmas, damage, backup
    of the file's own pages)."""
    c = Collection(tmp_path / "collection.db")
    c.upsert_cards(CARDS)
    yield c
    c.close()


def table(collection: Any, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """Rows of a query on either backend (``?`` placeholders), for checks the contract has no method for."""
    return list(collection.read_with(lambda tx: tx.rows(sql, params)))


def stocked_file(path: Path, rows: int = 300) -> Path:
    """A closed collection with enough rows to span many pages."""
    with Collection(path) as c:
        c.upsert_cards(CARDS)
        for i in range(rows):
            c.add(InventoryKey("xy12-1", location=f"box {i}"), 1, notes="x" * 50)
    return path


def overwrite_pages(path: Path, offset: int = 3 * 4096, size: int = 8192) -> None:
    """What a failing disk does: 8 KB of 0xFF over pages of the file."""
    data = bytearray(path.read_bytes())
    data[offset : offset + size] = b"\xff" * size
    path.write_bytes(bytes(data))


def make_index_stale(path: Path) -> None:
    """Damage only an index's contents: ``quick_check`` passes, ``integrity_check`` fails."""
    conn = sqlite3.connect(path)
    sql, root = conn.execute("SELECT sql, rootpage FROM sqlite_master WHERE name = 'changes_action'").fetchone()
    conn.execute("PRAGMA writable_schema = ON")
    conn.execute("DELETE FROM sqlite_master WHERE name = 'changes_action'")
    conn.commit()
    conn.close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE inventory_changes SET action_id = action_id + 100")
    conn.execute("PRAGMA writable_schema = ON")
    conn.execute("INSERT INTO sqlite_master VALUES ('index', 'changes_action', 'inventory_changes', ?, ?)", (root, sql))
    conn.commit()
    conn.close()


def foreign_database(path: Path, application_id: int = 0, user_version: int = 42, table: str = "") -> Path:
    """An SQLite file in the default rollback-journal mode, as another program leaves it."""
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA application_id = {application_id}")
    conn.execute(f"PRAGMA user_version = {user_version}")
    if table:
        conn.execute(f"CREATE TABLE {table} (id INTEGER)")
    conn.commit()
    conn.close()
    return path


def folder_state(path: Path) -> tuple[bytes, list[str]]:
    """The file's bytes and every file beside it (side files -wal, -shm, -journal included)."""
    return path.read_bytes(), sorted(p.name for p in path.parent.iterdir())
