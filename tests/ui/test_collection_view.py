"""The collection browser: paged model over 100,000 rows, filters, totals, inline edits, delete + undo."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app.collection.store import Collection, InventoryKey
from ui.app import create_application
from ui.collection_view import COLUMNS, NO_DETAIL, NO_PRICE, PAGE, CollectionBrowser, InventoryModel

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
    other.add(InventoryKey(str(CARDS[600]["card_id"])), 1)
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


def valued(path: Path) -> tuple[Collection, int]:
    """Rows whose values differ as numbers and as text (10.00 > 9.50), one without a price, and a session."""
    from app.collection import ScanRecord
    from app.prices.base import Quote
    from app.prices.table import store_quotes

    collection = Collection(path, synchronous="NORMAL")
    collection.upsert_cards(CARDS)
    collection.add(InventoryKey("s0-1", "normal", "NM"), 2)
    collection.add(InventoryKey("s0-2", "holo", "NM"), 1)
    collection.add(InventoryKey("s0-3", "normal", "MP"), 3)
    collection.add(InventoryKey("s1-1", "normal", "NM"), 1)
    collection.add(InventoryKey("s1-2", "reverse holo", "DMG"), 4)
    session_id = collection.start_session("Saturday")
    collection.record_scan(
        ScanRecord("identified", "s1-3", session_id=session_id), auto_add=InventoryKey("s1-3", "normal", "NM")
    )

    def usd(card_id: str, finish: str, price: float) -> Quote:
        return Quote(card_id, finish, "tcgplayer", "USD", "2026-12-01", price)

    store_quotes(
        collection,
        [
            usd("s0-1", "normal", 4.75),  # 2 × 4.75 = 9.50
            usd("s0-2", "holo", 10.0),  # 10.00
            usd("s0-2", "normal", 99.0),  # another finish: not this row's price
            usd("s0-3", "normal", 0.99),  # 3 × 0.99 × 0.70 (MP) = 2.079 → 2.08
            usd("s1-2", "reverse holo", 0.10),  # 4 × 0.10 × 0.30 (DMG) = 0.12
            usd("s1-3", "normal", 2.0),  # the session's card
        ],
    )
    return collection, session_id


def shown_values(browser: CollectionBrowser) -> list[tuple[str, str, str]]:
    keys = [k for k, _ in COLUMNS]
    model = browser.model
    return [
        (
            str(model.rows[r]["card_id"]),
            str(model.index(r, keys.index("unit_price")).data()),
            str(model.index(r, keys.index("value")).data()),
        )
        for r in range(model.rowCount())
    ]


def test_value_columns_totals_and_the_unpriced_row_in_exact_cents(qtbot: QtBot, tmp_path: Path) -> None:
    from ui.price_service import PriceService

    create_application()
    collection, session_id = valued(tmp_path / "valued.db")
    prices = PriceService(collection, "USD")
    browser = CollectionBrowser(collection, None, prices=prices, session_id=session_id)
    qtbot.addWidget(browser)
    qtbot.waitUntil(lambda: browser.model.values is not None, timeout=5_000)
    assert sorted(shown_values(browser)) == [
        ("s0-1", "4.75", "9.50"),
        ("s0-2", "10.00", "10.00"),
        ("s0-3", "0.99", "2.08"),
        ("s1-1", NO_PRICE, NO_PRICE),
        ("s1-2", "0.10", "0.12"),
        ("s1-3", "2.00", "2.00"),
    ]
    assert browser.value_totals.text() == (
        "Collection 23.70 USD + 1 card(s) without a price · this session 2.00 USD · prices: tcgplayer to 2026-12-01"
    )
    browser.filters["set_id"].setCurrentIndex(browser.filters["set_id"].findData("s1"))
    qtbot.waitUntil(lambda: "filtered" in browser.value_totals.text(), timeout=5_000)
    assert browser.value_totals.text().startswith(
        "Collection 23.70 USD + 1 card(s) without a price · filtered 2.12 USD + 1 card(s) without a price"
    )
    # An edit is valued again: 3 × 10.00 instead of 1 × 10.00.
    browser.filters["set_id"].setCurrentIndex(0)
    row = next(i for i, r in enumerate(browser.model.rows) if r["card_id"] == "s0-2")
    browser.model.setData(browser.model.index(row, [k for k, _ in COLUMNS].index("quantity")), 3)
    qtbot.waitUntil(lambda: browser.value_totals.text().startswith("Collection 43.70 USD"), timeout=5_000)
    prices.close()
    collection.close()


def test_sort_by_value_is_numeric_with_unpriced_rows_last(qtbot: QtBot, tmp_path: Path) -> None:
    from ui.price_service import PriceService

    create_application()
    collection, _ = valued(tmp_path / "valued.db")
    prices = PriceService(collection, "USD")
    browser = CollectionBrowser(collection, None, prices=prices)
    qtbot.addWidget(browser)
    qtbot.waitUntil(lambda: browser.model.values is not None, timeout=5_000)
    value_column = [k for k, _ in COLUMNS].index("value")

    def sort_by(column: int, order: Qt.SortOrder) -> None:
        browser.table.sortByColumn(column, order)
        assert browser.model.sorting  # loaded and sorted on the price service's thread
        qtbot.waitUntil(lambda: not browser.model.sorting, timeout=5_000)

    sort_by(value_column, Qt.SortOrder.DescendingOrder)
    assert [v for _, _, v in shown_values(browser)] == ["10.00", "9.50", "2.08", "2.00", "0.12", NO_PRICE]
    sort_by(value_column, Qt.SortOrder.AscendingOrder)
    assert [v for _, _, v in shown_values(browser)] == ["0.12", "2.00", "2.08", "9.50", "10.00", NO_PRICE]
    price_column = [k for k, _ in COLUMNS].index("unit_price")
    sort_by(price_column, Qt.SortOrder.DescendingOrder)
    assert [p for _, p, _ in shown_values(browser)] == ["10.00", "4.75", "2.00", "0.99", "0.10", NO_PRICE]
    prices.close()
    collection.close()


def test_without_a_price_service_the_value_columns_are_hidden(qtbot: QtBot, tmp_path: Path) -> None:
    create_application()
    collection, _ = valued(tmp_path / "valued.db")
    browser = CollectionBrowser(collection, None)
    qtbot.addWidget(browser)
    keys = [k for k, _ in COLUMNS]
    assert browser.table.isColumnHidden(keys.index("value")) and browser.table.isColumnHidden(keys.index("unit_price"))
    assert not browser.value_totals.isVisible()
    collection.close()


def test_without_readable_prices_the_browser_says_why_and_still_sorts(qtbot: QtBot, tmp_path: Path) -> None:
    from ui.price_service import NOT_A_FILE, PriceService

    create_application()
    collection, _ = valued(tmp_path / "valued.db")
    prices = PriceService(object(), "USD")  # as for a shop server's collection
    browser = CollectionBrowser(collection, None, prices=prices)
    qtbot.addWidget(browser)
    assert browser.value_totals.text() == f"Value: {NOT_A_FILE}"
    browser.table.sortByColumn([k for k, _ in COLUMNS].index("quantity"), Qt.SortOrder.DescendingOrder)
    assert [int(r["quantity"]) for r in browser.model.rows] == [4, 3, 2, 1, 1, 1]
    assert browser.table.isColumnHidden([k for k, _ in COLUMNS].index("value"))
    prices.close()
    collection.close()
