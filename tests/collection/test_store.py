from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from app.collection import Collection, CollectionError, InventoryKey, ScanRecord


def quantities(collection: Collection) -> dict[tuple[str, str, str], int]:
    return {(r["card_id"], r["finish"], r["condition"]): r["quantity"] for r in collection.inventory()}


def test_new_database_is_wal_with_foreign_keys_and_versioned(collection: Collection) -> None:
    conn = collection.conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    with pytest.raises(CollectionError), collection.write() as c:
        c.execute(
            "INSERT INTO inventory (card_id, finish, condition, language, location)"
            " VALUES ('nope', 'normal', 'NM', 'English', '')"
        )


def test_add_by_hand_and_search(collection: Collection) -> None:
    collection.add(InventoryKey("sv3pt5-25"), 2, notes="binder 1", price_paid=0.5)
    collection.add(InventoryKey("xy12-1", "holo", "LP"), 1)
    collection.add(InventoryKey("sv3pt5-25"), 1)
    assert quantities(collection) == {("sv3pt5-25", "normal", "NM"): 3, ("xy12-1", "holo", "LP"): 1}
    assert [r["card_id"] for r in collection.inventory("pika")] == ["sv3pt5-25"]
    assert [r["card_id"] for r in collection.inventory("1", set_id="xy12")] == ["xy12-1"]
    assert [r["card_id"] for r in collection.inventory(rarity="Rare Holo EX")] == ["xy12-1"]
    assert collection.inventory("pika")[0]["notes"] == "binder 1"


def test_bad_requests_are_refused_with_clear_messages(collection: Collection) -> None:
    with pytest.raises(CollectionError, match="unknown card"):
        collection.add(InventoryKey("nope-1"))
    with pytest.raises(CollectionError, match="condition"):
        collection.add(InventoryKey("sv3pt5-25", condition="mint-ish"))
    with pytest.raises(CollectionError, match="at least 1"):
        collection.add(InventoryKey("sv3pt5-25"), 0)
    with pytest.raises(CollectionError, match="no scan"):
        collection.correct_scan(99, "sv3pt5-25")


def test_kiosk_auto_add_logs_the_scan_and_adds_the_card(collection: Collection) -> None:
    session = collection.start_session("Saturday stack", operator="Ana", kiosk_id="pi-1")
    alternatives = [{"card_id": "sv3pt5-25", "confidence": 0.9}, {"card_id": "sv3pt5-29", "confidence": 0.05}]
    scan_id = collection.record_scan(
        ScanRecord("identified", "sv3pt5-25", 0.9, 0.2, alternatives, session_id=session, crop_jpeg=b"\xff\xd8jpeg"),
        auto_add=InventoryKey("", finish="reverse holo"),
    )
    scan = collection.scans()[0]
    assert scan["id"] == scan_id and scan["action"] == "accepted" and scan["session_id"] == session
    assert (collection.crops_dir / scan["crop_path"]).read_bytes() == b"\xff\xd8jpeg"
    assert quantities(collection) == {("sv3pt5-25", "reverse holo", "NM"): 1}
    # An uncertain scan is logged but never auto-added.
    collection.record_scan(ScanRecord("uncertain", "xy12-1", 0.4), auto_add=InventoryKey(""))
    assert quantities(collection) == {("sv3pt5-25", "reverse holo", "NM"): 1}
    assert [s["action"] for s in collection.scans()] == ["accepted", "pending"]


def test_confirm_mode_accept_and_reject(collection: Collection) -> None:
    first = collection.record_scan(ScanRecord("identified", "xy12-1", 0.95))
    second = collection.record_scan(ScanRecord("unknown", None))
    assert quantities(collection) == {}
    collection.accept_scan(first, InventoryKey("xy12-1", "holo"))
    with pytest.raises(CollectionError, match="already"):
        collection.accept_scan(first)
    with pytest.raises(CollectionError, match="choose one"):
        collection.accept_scan(second)
    collection.accept_scan(second, InventoryKey("sv3pt5-29"))  # picked by hand
    third = collection.record_scan(ScanRecord("identified", "sv3pt5-25", 0.9))
    collection.reject_scan(third)
    assert quantities(collection) == {("xy12-1", "holo", "NM"): 1, ("sv3pt5-29", "normal", "NM"): 1}
    assert [s["action"] for s in collection.scans()] == ["accepted", "accepted", "rejected"]


def test_correcting_a_scan_moves_the_inventory_and_undo_restores_it(collection: Collection) -> None:
    scan_id = collection.record_scan(
        ScanRecord("identified", "sv3pt5-25", 0.8), auto_add=InventoryKey("", "holo", "LP")
    )
    collection.correct_scan(scan_id, "sv3pt5-29")
    assert quantities(collection) == {("sv3pt5-29", "holo", "LP"): 1}  # finish and condition kept
    scan = collection.scans()[0]
    assert scan["card_id"] == "sv3pt5-29" and scan["corrected_from"] == "sv3pt5-25" and scan["action"] == "corrected"
    collection.undo()
    assert quantities(collection) == {("sv3pt5-25", "holo", "LP"): 1}
    assert collection.scans()[0]["card_id"] == "sv3pt5-25" and collection.scans()[0]["action"] == "accepted"
    collection.undo()
    assert quantities(collection) == {}
    assert collection.scans()[0]["action"] == "pending"
    assert collection.undo() == []


def test_edit_quantity_move_and_merge(collection: Collection) -> None:
    row = collection.add(InventoryKey("xy12-1"), 3)
    collection.set_quantity(row, 5)
    target = collection.move(row, condition="LP")
    assert quantities(collection) == {("xy12-1", "normal", "LP"): 5}
    other = collection.add(InventoryKey("xy12-1", "normal", "NM", location="box 2"), 2)
    collection.merge(target, other)
    assert quantities(collection) == {("xy12-1", "normal", "LP"): 7}
    with pytest.raises(CollectionError, match="same card"):
        collection.merge(target, collection.add(InventoryKey("sv3pt5-25")))
    collection.undo(2)
    assert quantities(collection) == {("xy12-1", "normal", "LP"): 5, ("xy12-1", "normal", "NM"): 2}
    with pytest.raises(CollectionError, match="negative"):
        collection.set_quantity(row, -1)


def test_every_change_is_traceable_and_replays_to_the_inventory(collection: Collection) -> None:
    scan_id = collection.record_scan(ScanRecord("identified", "sv3pt5-25", 0.9), auto_add=InventoryKey(""))
    collection.correct_scan(scan_id, "xy12-1")
    collection.add(InventoryKey("xy12-2"), 4)
    collection.undo()
    changes = collection.conn.execute("SELECT * FROM inventory_changes").fetchall()
    assert all(c["action_id"] for c in changes)
    assert {c["scan_id"] for c in changes} == {scan_id, None}
    stored, replayed = collection.stored_quantities(), collection.replayed_quantities()
    assert stored and all(stored[row] == replayed.get(row, 0) for row in stored)


def test_foreign_and_corrupt_files_are_refused_not_overwritten(tmp_path: Path) -> None:
    text = tmp_path / "notes.db"
    text.write_text("my shopping list")
    with pytest.raises(CollectionError, match="not an SQLite"):
        Collection(text)
    assert text.read_text() == "my shopping list"
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE photos (id INTEGER)")
    conn.commit()
    conn.close()
    with pytest.raises(CollectionError, match="another program"):
        Collection(other)
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"SQLite format 3\x00" + b"\x13" * 200)
    with pytest.raises(CollectionError):
        Collection(broken)


def test_backup_is_a_consistent_openable_copy(collection: Collection, tmp_path: Path) -> None:
    collection.add(InventoryKey("xy12-1"), 2)
    out = collection.backup(tmp_path / "backup.db")
    with Collection(out) as copy:
        assert [(r["card_id"], r["quantity"]) for r in copy.inventory()] == [("xy12-1", 2)]
    with pytest.raises(CollectionError, match="exists"):
        collection.backup(out)


def test_durability_mode_is_full_by_default_and_configurable(tmp_path: Path) -> None:
    with Collection(tmp_path / "a.db") as full:
        assert full.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    with Collection(tmp_path / "b.db", synchronous="NORMAL") as normal:
        assert normal.conn.execute("PRAGMA synchronous").fetchone()[0] == 1
    with pytest.raises(CollectionError, match="FULL or NORMAL"):
        Collection(tmp_path / "c.db", synchronous="OFF")
