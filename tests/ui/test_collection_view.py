"""The collection browser: paged model over 100,000 rows, filters, totals, inline edits, delete + undo."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app.collection.store import Collection, InventoryKey
from ui.app import create_application
from ui.collection_view import PAGE, CollectionBrowser, InventoryModel

CARDS = [
    {
        "card_id": f"s{s}-{n}",
        "name": f"Card {s}-{n}",
        "set_id": f"s{s}",
        "set_name": f"Set {s}",
        "number": str(n),
        "printed_total": 500,
        "rarity": "Rare" if n % 10 == 0 else "Common",
    }
    for s in range(2)
    for n in range(1, 501)
]


def filled(path: Path, rows_per_card: int = 1) -> Collection:
    collection = Collection(path, synchronous="NORMAL")
    collection.upsert_cards(CARDS)
    conditions = ("NM", "LP", "MP", "HP", "DMG")
    with collection.write() as conn:
        conn.executemany(
            "INSERT INTO inventory (card_id, finish, condition, language, location, quantity)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [
                (c["card_id"], "normal", conditions[k % 5], "English", f"box {k // 5}", 1 + k % 3)
                for c in CARDS
                for k in range(rows_per_card)
            ],
        )
    return collection


def test_hundred_thousand_rows_load_page_by_page(qtbot: QtBot, tmp_path: Path) -> None:
    create_application()
    collection = filled(tmp_path / "big.db", rows_per_card=100)  # 1,000 cards × 100 rows
    started = time.perf_counter()
    model = InventoryModel(collection)
    assert time.perf_counter() - started < 2.0
    assert model.total_rows == 100_000 and model.rowCount() == PAGE
    assert model.canFetchMore()
    model.fetchMore()
    assert model.rowCount() == 2 * PAGE
    browser = CollectionBrowser(collection, None)
    qtbot.addWidget(browser)
    browser.filters["rarity"].setCurrentIndex(browser.filters["rarity"].findData("Rare"))
    assert browser.model.total_rows == 10_000
    assert browser.totals.text().startswith("10,000 rows")


def test_inline_quantity_edit_and_delete_with_undo(qtbot: QtBot, tmp_path: Path) -> None:
    create_application()
    collection = Collection(tmp_path / "c.db", synchronous="NORMAL")
    collection.upsert_cards(CARDS[:3])
    collection.add(InventoryKey("s0-1"), 2)
    collection.add(InventoryKey("s0-2"), 1)
    browser = CollectionBrowser(collection, None)
    qtbot.addWidget(browser)
    model = browser.model
    quantity = model.index(0, 7)
    assert model.flags(quantity) & Qt.ItemFlag.ItemIsEditable
    assert model.setData(quantity, 5)
    assert collection.inventory()[0]["quantity"] == 5
    assert not model.setData(model.index(0, 5), "MINT-ISH")  # not a condition: refused
    assert model.setData(model.index(0, 5), "LP")
    assert {r["condition"] for r in collection.inventory() if r["card_id"] == "s0-1"} == {"LP"}
    browser.search.setText("Card 0-2")
    assert model.total_rows == 1
    browser.table.selectRow(0)
    browser.delete_selected()
    assert [r["card_id"] for r in collection.inventory()] == ["s0-1"]
    browser.undo()
    assert sorted(r["card_id"] for r in collection.inventory()) == ["s0-1", "s0-2"]
