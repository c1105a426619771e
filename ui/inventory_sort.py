"""How the collection browser shows and orders inventory rows: the printed number, a row's price or
value in cents, and the sort by any column (price and value as numbers, rows without a price last).

Pure functions on the rows ``Collection.inventory`` returns, so the sort can run on the price
service's thread: sorting 100,000 rows must not freeze the window."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from app.prices.value import RowValue

#: Columns whose figures come from the prices (each row's unit price, and its value).
VALUE_COLUMNS = ("unit_price", "value")


def printed_number(row: Mapping[str, Any]) -> str:
    """``25/165`` as printed on the card (``25`` where the set has no printed total)."""
    return f"{row.get('number')}/{row['printed_total']}" if row.get("printed_total") else str(row.get("number"))


def shown(row: Mapping[str, Any], key: str) -> Any:
    """A column's text as the table shows it (the figures of :data:`VALUE_COLUMNS` aside)."""
    return printed_number(row) if key == "number" else row.get(key)


def text_key(value: Any) -> tuple[Any, ...]:
    """Text sorts case-blind with its numbers as numbers (``TG2`` before ``TG10``)."""
    # [0-9], not \d: a superscript or another script's digit is text that int() would refuse.
    parts = re.split(r"([0-9]+)", str(value if value is not None else "").lower())
    # (kind, value) pairs: a number never meets a word in a comparison.
    return tuple((0, int(p), "") if p.isascii() and p.isdigit() else (1, 0, p) for p in parts)


def figure_cents(value: RowValue | None, key: str) -> int | None:
    """The unit price or the row's value in cents; None without a price."""
    if value is None or value.price is None:
        return None
    return round(value.price.price * 100) if key == "unit_price" else value.value_cents


def sort_rows(
    rows: list[dict[str, Any]], key: str, descending: bool, values: Mapping[int, RowValue] | None = None
) -> list[dict[str, Any]]:
    """The rows ordered by column ``key``; by price or value numerically with the rows without a
    price (or not valued) last in either direction."""
    if key in VALUE_COLUMNS:
        priced: list[tuple[int, dict[str, Any]]] = []
        unpriced: list[dict[str, Any]] = []
        for row in rows:
            cents = figure_cents((values or {}).get(int(row["id"])), key)
            if cents is None:
                unpriced.append(row)
            else:
                priced.append((cents, row))
        priced.sort(key=lambda pair: pair[0], reverse=descending)
        return [row for _, row in priced] + unpriced
    if key == "quantity":
        return sorted(rows, key=lambda row: int(row["quantity"]), reverse=descending)
    return sorted(rows, key=lambda row: text_key(shown(row, key)), reverse=descending)
