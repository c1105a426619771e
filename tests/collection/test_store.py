"""The collection's operations, on an SQLite file and on the shop server (tests taking ``collection``);
the tests of the file itself — WAL and pragmas, damaged or foreign files, read-only opens, schema
upgrades, the file backup's integrity check — take a path or ``sqlite_collection``."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from app.collection import Collection, CollectionError, InventoryKey, ScanRecord
from app.collection.schema import MIGRATIONS
from app.collection.store import MAX_QUANTITY, MAX_UNDO, describe_action, integrity_problems
from tests.collection.conftest import CARDS

from .conftest import folder_state, foreign_database, make_index_stale, overwrite_pages, stocked_file, table


def quantities(collection: Collection) -> dict[tuple[str, str, str], int]:
    return {(r["card_id"], r["finish"], r["condition"]): r["quantity"] for r in collection.inventory()}


def test_new_database_is_wal_with_foreign_keys_and_versioned(sqlite_collection: Collection) -> None:
    """The SQLite file's own settings (the server's schema guard is tested in pg/test_postgres.py)."""
    collection = sqlite_collection
    conn = collection.conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
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
    changes = table(collection, "SELECT * FROM inventory_changes")
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


# ---------------------------------------------------------------------------- undo bounds


@pytest.mark.parametrize("count", [-1, 0, MAX_UNDO + 1])
def test_undo_refuses_a_count_outside_1_to_100(collection: Collection, count: int) -> None:
    collection.add(InventoryKey("xy12-1"), 2)
    collection.add(InventoryKey("sv3pt5-25"), 1)
    with pytest.raises(CollectionError, match=f"1 to {MAX_UNDO}"):
        collection.undo(count)
    with pytest.raises(CollectionError, match=f"1 to {MAX_UNDO}"):
        collection.undoable(count)
    assert quantities(collection) == {("xy12-1", "normal", "NM"): 2, ("sv3pt5-25", "normal", "NM"): 1}


def test_undo_lists_first_and_refuses_when_the_list_went_stale(collection: Collection) -> None:
    collection.add(InventoryKey("xy12-1"), 2)
    collection.add(InventoryKey("sv3pt5-25"), 1)
    shown = collection.undoable(2)
    assert [a["kind"] for a in shown] == ["add", "add"]
    assert "1 × sv3pt5-25" in describe_action(shown[0])
    collection.add(InventoryKey("xy12-2"), 1)  # another program acts meanwhile
    with pytest.raises(CollectionError, match="nothing was undone"):
        collection.undo(2, expected=[a["id"] for a in shown])
    assert len(quantities(collection)) == 3


# ---------------------------------------------------------------------------- opening damaged or foreign files


def test_a_damaged_collection_is_refused_untouched(tmp_path: Path) -> None:
    db = stocked_file(tmp_path / "c.db")
    overwrite_pages(db)
    before = folder_state(db)
    for readonly in (False, True):
        with pytest.raises(CollectionError, match="damaged") as refused:
            Collection(db, readonly=readonly)
        assert "cardsight collection backup" in str(refused.value) and "move the file away" in str(refused.value)
    assert folder_state(db) == before


@pytest.mark.parametrize(
    ("application_id", "user_version", "table", "reason"),
    [
        (0, 42, "", "another program"),  # no tables yet, but a version cardsight never wrote
        (0x43645374, 99, "cards", "newer cardsight"),
        (7, 0, "", "another program"),
        (0, 0, "photos", "another program"),
    ],
)
def test_a_refused_file_is_not_switched_to_wal_or_migrated(
    tmp_path: Path, application_id: int, user_version: int, table: str, reason: str
) -> None:
    db = foreign_database(tmp_path / "other.db", application_id, user_version, table)
    before = folder_state(db)
    for readonly in (False, True):
        with pytest.raises(CollectionError, match=reason):
            Collection(db, readonly=readonly)
    assert folder_state(db) == before
    assert db.read_bytes()[18:20] == b"\x01\x01"  # still a rollback-journal file


def test_read_only_open_never_writes_the_file(tmp_path: Path) -> None:
    db = stocked_file(tmp_path / "c.db", rows=3)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode = DELETE")  # a collection restored as a plain file
    conn.close()
    before = db.read_bytes()
    with Collection(db, readonly=True) as c:
        assert sum(r["quantity"] for r in c.inventory()) == 3
        with pytest.raises(CollectionError, match="read-only"):
            c.add(InventoryKey("xy12-1"))
    assert db.read_bytes() == before


def test_read_only_open_of_a_missing_file_reads_empty_and_creates_nothing(tmp_path: Path) -> None:
    with Collection(tmp_path / "sub" / "none.db", readonly=True) as c:
        assert c.inventory() == [] and c.stand_in
        with pytest.raises(CollectionError, match="no collection"):
            c.backup(tmp_path / "b.db")
    assert list(tmp_path.iterdir()) == []


def test_opening_an_up_to_date_collection_writes_nothing(tmp_path: Path) -> None:
    db = stocked_file(tmp_path / "c.db", rows=2)
    before = db.read_bytes()
    Collection(db).close()
    assert db.read_bytes() == before


def test_an_sqlite_failure_inside_a_write_rolls_back_as_a_collection_error(sqlite_collection: Collection) -> None:
    """SQLite's own write transaction (the server's is one ``_run``, tested with the kiosks)."""
    collection = sqlite_collection
    collection.add(InventoryKey("xy12-1"), 1)
    with pytest.raises(CollectionError, match="nothing was written"), collection.write() as conn:
        conn.execute("UPDATE inventory SET quantity = 5")
        conn.execute("SELECT * FROM no_such_table")
    assert quantities(collection) == {("xy12-1", "normal", "NM"): 1}
    assert not collection.conn.in_transaction


# ---------------------------------------------------------------------------- backup


def test_backup_into_a_missing_folder_is_refused_clearly(collection: Collection, tmp_path: Path) -> None:
    with pytest.raises(CollectionError, match=r"folder .* does not exist"):
        collection.backup(tmp_path / "nope" / "b.db")
    assert not (tmp_path / "nope").exists()


def test_backup_copy_is_verified_and_a_failed_copy_is_deleted(tmp_path: Path) -> None:
    db = stocked_file(tmp_path / "c.db", rows=3)
    make_index_stale(db)  # passes the quick check on open, fails the full check of the copy
    with Collection(db, readonly=True) as c, pytest.raises(CollectionError, match=r"integrity check.*deleted"):
        c.backup(tmp_path / "b.db")
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith("c.db")] == []


def test_backup_is_one_self_contained_file(collection: Collection, tmp_path: Path) -> None:
    collection.add(InventoryKey("xy12-1"), 2)
    out = collection.backup(tmp_path / "copy.db")
    assert integrity_problems(out) == ""
    assert out.read_bytes()[18:20] == b"\x01\x01"  # no -wal needed beside it
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


# ---------------------------------------------------------------------------- quantity bound


def test_quantity_over_the_bound_is_refused_with_the_bound_in_the_message(collection: Collection) -> None:
    for quantity in (MAX_QUANTITY + 1, 9223372036854775807, 99999999999999999999):
        with pytest.raises(CollectionError, match="1,000,000"):
            collection.add(InventoryKey("xy12-1"), quantity)
    row = collection.add(InventoryKey("xy12-1"), MAX_QUANTITY)
    with pytest.raises(CollectionError, match=r"would hold 1,000,001 cards; .* at most 1,000,000"):
        collection.add(InventoryKey("xy12-1"), 1)
    with pytest.raises(CollectionError, match="1,000,000"):
        collection.set_quantity(row, MAX_QUANTITY + 1)
    scan = collection.record_scan(ScanRecord("identified", "xy12-1", 0.9))
    with pytest.raises(CollectionError, match="1,000,000"):
        collection.accept_scan(scan)
    other = collection.add(InventoryKey("xy12-1", location="box"), 5)
    with pytest.raises(CollectionError, match="1,000,000"):
        collection.merge(row, other)
    with pytest.raises(CollectionError, match="1,000,000"):
        collection.move(other, location="")
    assert collection.stored_quantities() == {row: MAX_QUANTITY, other: 5}
    assert collection.scans()[0]["action"] == "pending"
    stored, replayed = collection.stored_quantities(), collection.replayed_quantities()
    assert all(stored[r] == replayed.get(r, 0) for r in stored)


def test_a_kiosk_auto_add_onto_a_full_row_logs_nothing(collection: Collection) -> None:
    collection.add(InventoryKey("xy12-1"), MAX_QUANTITY)
    with pytest.raises(CollectionError, match="1,000,000"):
        collection.record_scan(ScanRecord("identified", "xy12-1", 0.9), auto_add=InventoryKey(""))
    assert collection.scans() == []


@pytest.mark.parametrize("price", [float("nan"), float("inf"), -1.0])
def test_a_price_that_is_not_a_real_amount_is_refused(collection: Collection, price: float) -> None:
    with pytest.raises(CollectionError, match="price"):
        collection.add(InventoryKey("xy12-1"), 1, price_paid=price)
    assert quantities(collection) == {}


# ---------------------------------------------------------------------------- sessions


def kiosk_run(collection: Collection, label: str, cards: list[str], source: str = "usb camera 0") -> int:
    """A kiosk session that auto-added ``cards`` and also saw one card it did not know."""
    session = collection.start_session(label, kiosk_id="pi-1")
    for card in cards:
        collection.record_scan(ScanRecord("identified", card, source=source, session_id=session), InventoryKey(card))
    collection.record_scan(ScanRecord("unknown", None, source=source, session_id=session))
    return session


def test_sessions_lists_every_session_with_its_scans_and_net_cards_added(collection: Collection) -> None:
    first = kiosk_run(collection, "Saturday", ["xy12-1", "sv3pt5-25"])
    second = kiosk_run(collection, "Sunday", ["xy12-2"], source="picamera2")
    collection.undo(1)  # the last card of Sunday's run
    listed = {s["id"]: s for s in collection.sessions()}
    assert list(listed) == [first, second]
    assert (listed[first]["label"], listed[first]["scans"], listed[first]["cards_added"]) == ("Saturday", 3, 2)
    assert (listed[second]["scans"], listed[second]["cards_added"]) == (2, 0)
    assert listed[first]["sources"] == ["usb camera 0"] and listed[second]["sources"] == ["picamera2"]
    assert listed[first]["kiosk_id"] == "pi-1" and listed[first]["started_at"]
    for session_id, row in listed.items():
        assert row["cards_added"] == collection.session_summary(session_id)["cards_added"]


def test_a_session_is_found_by_id_or_by_label(collection: Collection) -> None:
    saturday = kiosk_run(collection, "Saturday intake", ["xy12-1"])
    assert collection.resolve_session(str(saturday)) == saturday
    assert collection.resolve_session("Saturday intake") == saturday
    assert collection.resolve_session("  saturday INTAKE ") == saturday


def test_a_label_naming_several_sessions_is_refused_with_their_ids(collection: Collection) -> None:
    ids = [kiosk_run(collection, "Kiosk", ["xy12-1"]) for _ in range(3)]
    with pytest.raises(CollectionError, match=rf"names 3 sessions \(ids {ids[0]}, {ids[1]}, {ids[2]}\)"):
        collection.resolve_session("Kiosk")


@pytest.mark.parametrize("ref", ["7", "Sunday", "", "99999999999999999999999", "²"])
def test_an_unknown_session_is_refused_clearly(collection: Collection, ref: str) -> None:
    kiosk_run(collection, "Saturday", ["xy12-1"])
    with pytest.raises(CollectionError, match=r"no session|not an empty"):
        collection.resolve_session(ref)


def test_a_collection_of_an_older_cardsight_is_read_after_a_one_time_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with Collection(path) as c:
        c.upsert_cards(CARDS)
        c.add(InventoryKey("xy12-1"), 2)
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE prices")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    with Collection(path, readonly=True) as c:
        assert [(r["card_id"], r["quantity"]) for r in c.inventory()] == [("xy12-1", 2)]
    with Collection(path) as c:
        assert c.conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


def test_timestamps_never_run_backwards_across_a_second(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.collection import records

    readings = [1_700_000_000.999, 1_700_000_001.003]  # a second clock read would land in the next second
    monkeypatch.setattr(records.time, "time", lambda: readings.pop(0) if len(readings) > 1 else readings[0])
    assert records.now().endswith(":20.999Z")


def test_a_note_that_is_not_valid_text_is_refused_and_nothing_is_written(collection: Any) -> None:
    with pytest.raises(CollectionError, match="not valid text"):
        collection.add(InventoryKey("xy12-1"), 1, notes="bad \udcff bytes")
    assert collection.inventory() == [] and collection.undoable(1) == []
