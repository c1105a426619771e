"""The browser's sort: price and value as numbers with unpriced rows last, text with its numbers as numbers."""

from __future__ import annotations

from typing import Any

from app.prices.table import Price
from app.prices.value import Holding, RowValue
from ui.inventory_sort import sort_rows


def row(inventory_id: int, number: str = "1", quantity: int = 1) -> dict[str, Any]:
    return {"id": inventory_id, "number": number, "printed_total": None, "quantity": quantity}


def valued(inventory_id: int, price: float | None, quantity: int = 1, factor: float = 1.0) -> RowValue:
    holding = Holding(inventory_id, "c", "normal", "NM", "English", "", quantity, None, None, None, None)
    return RowValue(holding, factor, None if price is None else Price(price, "tcgplayer", "2026-12-01"))


def test_values_sort_as_numbers_and_unpriced_rows_stay_last_both_ways() -> None:
    rows = [row(1), row(2), row(3), row(4)]
    values = {1: valued(1, 9.5), 2: valued(2, 10.0), 3: valued(3, None), 4: valued(4, 2.0, quantity=2, factor=0.5)}
    assert [r["id"] for r in sort_rows(rows, "value", True, values)] == [2, 1, 4, 3]
    assert [r["id"] for r in sort_rows(rows, "value", False, values)] == [4, 1, 2, 3]
    # By unit price the factor and the quantity do not count: 2.00 < 9.50 < 10.00.
    assert [r["id"] for r in sort_rows(rows, "unit_price", False, values)] == [4, 1, 2, 3]
    # Rows not valued yet (no answer from the service) are last, never taken as 0.
    assert [r["id"] for r in sort_rows(rows, "value", False, None)] == [1, 2, 3, 4]


def test_numbers_in_text_sort_as_numbers() -> None:
    rows = [row(1, "TG10"), row(2, "TG2"), row(3, "10"), row(4, "9")]
    assert [r["id"] for r in sort_rows(rows, "number", False)] == [4, 3, 2, 1]


def test_text_with_digits_int_cannot_read_sorts_instead_of_failing() -> None:
    rows = [row(1, "2²"), row(2, "10"), row(3, "2"), row(4, "٣")]
    assert [r["id"] for r in sort_rows(rows, "number", False, None)] == [3, 1, 2, 4]
