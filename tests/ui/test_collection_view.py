"""The collection browser: paged model over 100,000 rows, filters, totals, inline edits, delete + undo."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app.collection.store import Collection, InventoryKey
from ui.app import create_application
from ui.collection_view import COLUMNS, NO_DETAIL, PAGE, CollectionBrowser, InventoryModel

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


def browser_for(qtbot: QtBot, collection: Collection, size: tuple[int, int] = (1400, 700)) -> CollectionBrowser:
    create_application()
    browser = CollectionBrowser(collection, None)
    qtbot.addWidget(browser)
    browser.resize(*size)
    browser.show()
    qtbot.waitExposed(browser)
    return browser


def test_totals_follow_a_quantity_edit(qtbot: QtBot, tmp_path: Path) -> None:
    collection = Collection(tmp_path / "c.db", synchronous="NORMAL")
    collection.upsert_cards(CARDS[:3])
    collection.add(InventoryKey("s0-1"), 2)
    collection.add(InventoryKey("s0-2"), 5)
    browser = browser_for(qtbot, collection)
    assert browser.totals.text() == "2 rows · 7 cards"
    assert browser.model.setData(browser.model.index(0, 7), 5)
    assert browser.totals.text() == "2 rows · 10 cards"


def test_the_set_filter_lists_set_names_and_sets_added_elsewhere(qtbot: QtBot, tmp_path: Path) -> None:
    collection = Collection(tmp_path / "c.db", synchronous="NORMAL")
    collection.upsert_cards(CARDS[:3])
    collection.add(InventoryKey("s0-1"), 1)
    browser = browser_for(qtbot, collection)
    sets = browser.filters["set_id"]
    assert [sets.itemText(i) for i in range(sets.count())] == ["All sets", "Set 0"]
    assert sets.itemData(1) == "s0"
    browser.hide()
    other = Collection(tmp_path / "c.db", synchronous="NORMAL")  # `cardsight collection add` meanwhile
    other.upsert_cards([CARDS[600]])
    other.add(InventoryKey(CARDS[600]["card_id"]), 1)
    other.close()
    browser.show()
    assert [sets.itemText(i) for i in range(sets.count())] == ["All sets", "Set 0", "Set 1"]
    assert browser.totals.text() == "2 rows · 2 cards"


def test_the_detail_pane_follows_edits_and_forgets_a_deleted_row(qtbot: QtBot, tmp_path: Path) -> None:
    collection = Collection(tmp_path / "c.db", synchronous="NORMAL")
    collection.upsert_cards(CARDS[:3])
    for card_id in ("s0-1", "s0-2", "s0-3"):
        collection.add(InventoryKey(card_id), 1)
    browser = browser_for(qtbot, collection)
    browser.table.selectRow(1)
    assert "Card 0-2" in browser.detail_text.text()
    assert browser.model.setData(browser.model.index(1, 7), 4)  # edit the shown row
    assert "Card 0-2" in browser.detail_text.text() and "Quantity 4" in browser.detail_text.text()
    assert browser.model.setData(browser.model.index(0, 5), "LP")  # another row moves in the order
    assert "Card 0-2" in browser.detail_text.text()
    browser.table.selectRow(next(i for i, r in enumerate(browser.model.rows) if r["card_id"] == "s0-2"))
    browser.delete_selected()
    assert browser.detail_text.text() == NO_DETAIL and browser.totals.text() == "2 rows · 2 cards"


def test_undoing_a_delete_brings_every_deleted_row_back_and_says_so(qtbot: QtBot, tmp_path: Path) -> None:
    collection = Collection(tmp_path / "c.db", synchronous="NORMAL")
    collection.upsert_cards(CARDS[:3])
    for card_id in ("s0-1", "s0-2", "s0-3"):
        collection.add(InventoryKey(card_id), 1)
    browser = browser_for(qtbot, collection)
    messages: list[str] = []
    browser.status_message.connect(messages.append)
    browser.table.selectAll()
    browser.delete_selected()
    assert collection.inventory() == [] and browser.totals.text() == "0 rows · 0 cards"
    browser.undo()
    assert len(collection.inventory()) == 3 and messages[-1] == "Undid the delete of 3 row(s)"
    assert browser.model.setData(browser.model.index(0, 7), 2)
    browser.undo()
    assert messages[-1] == "Undid the change of Card 0-1"


def test_quantity_stays_in_view_on_the_small_display(qtbot: QtBot, tmp_path: Path) -> None:
    collection = Collection(tmp_path / "c.db", synchronous="NORMAL")
    collection.upsert_cards(CARDS[:3])
    collection.add(InventoryKey("s0-1"), 1)
    browser = browser_for(qtbot, collection, size=(788, 380))  # the 800×480 window's page
    qtbot.wait(50)
    quantity = [k for k, _ in COLUMNS].index("quantity")
    right = browser.table.columnViewportPosition(quantity) + browser.table.columnWidth(quantity)
    assert browser.table.columnViewportPosition(quantity) >= 0 and right <= browser.table.viewport().width()
