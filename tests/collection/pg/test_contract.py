"""The collection's behaviour, the same on the SQLite file and on the shop server (``store`` runs
each test on both)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from app.collection import Collection, CollectionError, InventoryKey, ScanRecord
from app.collection.contract import CollectionStore


def identified(card_id: str, session_id: int | None = None) -> ScanRecord:
    return ScanRecord(status="identified", card_id=card_id, confidence=0.9, session_id=session_id)


def held(store: Any) -> dict[str, int]:
    return {f"{r['card_id']}/{r['finish']}": r["quantity"] for r in store.inventory()}


def test_both_backends_provide_the_contract(store: Any) -> None:
    assert isinstance(store, CollectionStore)


def test_an_auto_added_scan_adds_one_card_in_the_same_step(store: Any) -> None:
    scan_id = store.record_scan(identified("sv3pt5-25"), auto_add=InventoryKey("", finish="holo"))
    assert held(store) == {"sv3pt5-25/holo": 1}
    assert store.scan_row(scan_id)["action"] == "accepted"
    assert store.replayed_quantities() == store.stored_quantities()


def test_an_unknown_card_is_logged_but_never_added(store: Any) -> None:
    scan_id = store.record_scan(identified("not-a-card"), auto_add=InventoryKey(""))
    assert held(store) == {}
    assert store.scan_row(scan_id)["card_id"] is None
    assert store.scan_row(scan_id)["seen_card_id"] == "not-a-card"


def test_accept_then_correct_moves_the_card(store: Any) -> None:
    scan_id = store.record_scan(identified("sv3pt5-25"))
    store.accept_scan(scan_id, InventoryKey("sv3pt5-25"), 2)
    with pytest.raises(CollectionError, match="already added"):
        store.accept_scan(scan_id)
    store.correct_scan(scan_id, "xy12-1")
    assert held(store) == {"xy12-1/normal": 2}
    assert store.scan_row(scan_id)["corrected_from"] == "sv3pt5-25"
    assert store.replayed_quantities() == store.stored_quantities()


def test_undo_takes_back_the_newest_actions_in_order(store: Any) -> None:
    scan_id = store.record_scan(identified("sv3pt5-25"), auto_add=InventoryKey(""))
    store.correct_scan(scan_id, "xy12-1")
    row = store.add(InventoryKey("sv5-10"), 3)
    assert [a["kind"] for a in store.undoable(3)] == ["add", "correct", "add"]
    store.undo(1)
    assert held(store) == {"xy12-1/normal": 1}
    store.undo(2)
    assert held(store) == {}
    assert store.scan_row(scan_id)["action"] == "pending"
    assert store.stored_quantities()[row] == 0


def test_undo_refuses_when_the_list_shown_is_stale(store: Any) -> None:
    store.add(InventoryKey("sv5-10"), 1)
    shown = [a["id"] for a in store.undoable(1)]
    store.add(InventoryKey("sv5-10"), 1)
    with pytest.raises(CollectionError, match="changed since"):
        store.undo(1, expected=shown)
    assert held(store) == {"sv5-10/normal": 2}


def test_set_quantity_move_and_merge_keep_the_log_in_step(store: Any) -> None:
    first = store.add(InventoryKey("xy12-2", location="box 1"), 4, notes="binder", price_paid=1.5)
    second = store.add(InventoryKey("xy12-2", location="box 2"), 1)
    store.set_quantity(first, 6)
    store.merge(first, second)
    moved = store.move(first, condition="LP")
    assert held(store) == {"xy12-2/normal": 7}
    assert store.inventory()[0]["condition"] == "LP" and moved != first
    assert store.replayed_quantities() == store.stored_quantities()
    with pytest.raises(CollectionError, match="negative"):
        store.set_quantity(moved, -1)


def test_reject_marks_the_scan_and_adds_nothing(store: Any) -> None:
    scan_id = store.record_scan(identified("sv3pt5-29"))
    store.reject_scan(scan_id)
    assert store.scan_row(scan_id)["action"] == "rejected"
    assert held(store) == {}


def test_rejecting_an_added_scan_takes_back_only_its_own_cards_and_one_undo_restores_them(store: Any) -> None:
    key = InventoryKey("sv3pt5-29")
    first = store.record_scan(identified("sv3pt5-29"), auto_add=key)
    store.record_scan(identified("sv3pt5-29"), auto_add=key)
    assert held(store) == {"sv3pt5-29/normal": 2}
    assert store.reject_scan(first) == 1
    assert held(store) == {"sv3pt5-29/normal": 1} and store.scan_row(first)["action"] == "rejected"
    store.undo(1)
    assert held(store) == {"sv3pt5-29/normal": 2} and store.scan_row(first)["action"] == "accepted"


def test_sessions_count_their_scans_and_cards(store: Any) -> None:
    session = store.start_session("Saturday", operator="Ana", kiosk_id="front")
    store.record_scan(identified("sv3pt5-25", session), auto_add=InventoryKey(""))
    store.record_scan(ScanRecord(status="unknown", card_id=None, session_id=session), auto_add=InventoryKey(""))
    store.end_session(session)
    summary = store.session_summary(session)
    assert (summary["scans"], summary["cards_added"], summary["scans_by_status"]) == (
        2,
        1,
        {"identified": 1, "unknown": 1},
    )
    listed = store.sessions()
    assert [(s["label"], s["scans"], s["cards_added"]) for s in listed] == [("Saturday", 2, 1)]
    assert store.resolve_session("saturday") == session
    with pytest.raises(CollectionError, match="no session"):
        store.resolve_session("Sunday")


def test_inventory_filters_order_and_totals_agree(store: Any) -> None:
    for card, quantity in (("xy12-2", 1), ("sv3pt5-29", 2), ("xy12-1", 3), ("sv3pt5-25", 4), ("sv5-10", 5)):
        store.add(InventoryKey(card), quantity)
    assert [r["card_id"] for r in store.inventory()] == ["sv3pt5-25", "sv3pt5-29", "sv5-10", "xy12-1", "xy12-2"]
    assert [r["card_id"] for r in store.inventory("pika")] == ["sv3pt5-25"]
    assert [r["card_id"] for r in store.inventory(set_id="xy12", limit=1, offset=1)] == ["xy12-2"]
    assert store.inventory_totals() == (5, 15)
    assert store.inventory_values("set_id") == ["sv3pt5", "sv5", "xy12"]


def test_bad_quantities_and_finishes_are_refused(store: Any) -> None:
    with pytest.raises(CollectionError, match="at least 1"):
        store.add(InventoryKey("sv5-10"), 0)
    with pytest.raises(CollectionError, match="unknown finish"):
        store.add(InventoryKey("sv5-10", finish="gold"), 1)
    with pytest.raises(CollectionError, match="unknown card"):
        store.add(InventoryKey("nope-1"), 1)
    assert held(store) == {}


def test_backup_is_a_checked_sqlite_collection_with_everything(store: Any, tmp_path: Path) -> None:
    store.record_scan(identified("sv3pt5-25"), auto_add=InventoryKey(""))
    store.add(InventoryKey("xy12-1"), 2)
    out = store.backup(tmp_path / "copy.db")
    with Collection(out, readonly=True) as copy:
        assert held(copy) == held(store)
        assert len(copy.scans()) == 1
    assert sqlite3.connect(out).execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with pytest.raises(CollectionError, match="exists"):
        store.backup(out)


def test_the_browsers_lookups_name_sets_rows_and_what_a_scan_still_holds(store: Any) -> None:
    assert store.set_names() == {"sv3pt5": "151", "xy12": "Evolutions", "sv5": "Temporal Forces"}
    scan = store.record_scan(ScanRecord("identified", "sv3pt5-25", 0.9), auto_add=InventoryKey("", "holo"))
    [(row, held)] = store.scan_holdings(scan)
    assert held == 1 and store.inventory_card_name(row) == "Pikachu" and store.inventory_quantity(row) == 1
    store.correct_scan(scan, "xy12-1")
    [(moved_to, held)] = store.scan_holdings(scan)
    assert moved_to != row and held == 1 and store.inventory_card_name(moved_to) == "Venusaur-EX"
    assert store.inventory_quantity(row) == 0
    store.reject_scan(scan)
    assert store.scan_holdings(scan) == []
    assert store.inventory_card_name(10_000) is None and store.inventory_quantity(10_000) is None
