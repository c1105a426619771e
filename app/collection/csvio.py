"""CSV export in the generic format and the formats collection sites import; generic import.

UTF-8, RFC 4180 quoting (``csv`` module, ``\\r\\n`` line ends), and cells a spreadsheet would run as
formulas (leading ``= + - @``, tab, CR) prefixed with ``'``.

Prices (``app.prices``) fill the formats' price columns: the generic CSV's ``price`` (the card's
market price in its finish), ``value`` (price × condition factor × quantity), ``currency`` and
``price_date``; TCGplayer's "TCG Market Price" and Dragon Shield's LOW/MID/MARKET (TCGplayer, USD).
A card without a price leaves them empty. A generic import reads them back into the price table.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import logging
import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.collection.sql import Tx, add_action, change, inventory_row, keep_details, store_cards
from app.collection.store import CONDITIONS, FINISHES, MAX_QUANTITY, Collection, CollectionError, InventoryKey
from app.csvlines import CsvProblem, csv_records, decode_csv
from app.prices.table import Price, fetched_now, latest_prices
from app.prices.value import DEFAULT_CONDITION_FACTORS, DEFAULT_CURRENCY, cents

logger = logging.getLogger(__name__)

FORMATS = ("generic", "tcgplayer", "dragonshield", "collectr")
GENERIC_COLUMNS = [
    "card_id",
    "name",
    "set_id",
    "set_name",
    "set_code",
    "number",
    "printed_total",
    "rarity",
    "finish",
    "condition",
    "language",
    "location",
    "quantity",
    "price_paid",
    "notes",
    "date_added",
]
#: The generic export's price columns, after :data:`GENERIC_COLUMNS`; optional on import.
PRICE_COLUMNS = ["price", "value", "currency", "price_date"]
#: The source and currency of the TCGplayer and Dragon Shield price columns.
TCGPLAYER_PRICES = ("tcgplayer", "USD")
#: Prices read back from a generic CSV are stored under this source name.
IMPORT_SOURCE = "import"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: Imports read the whole file first (all-or-nothing); this keeps that bounded.
MAX_IMPORT_BYTES = 200_000_000
MAX_REPORTED_ERRORS = 20
CONDITION_NAMES = {
    "NM": "Near Mint",
    "LP": "Lightly Played",
    "MP": "Moderately Played",
    "HP": "Heavily Played",
    "DMG": "Damaged",
}
DRAGONSHIELD_CONDITIONS = {
    "NM": "NearMint",
    "LP": "LightlyPlayed",
    "MP": "ModeratelyPlayed",
    "HP": "HeavilyPlayed",
    "DMG": "Damaged",
}
PRINTING_NAMES = {
    "normal": "Normal",
    "holo": "Holofoil",
    "reverse holo": "Reverse Holofoil",
    "1st edition": "1st Edition",
    "1st edition holo": "1st Edition Holofoil",
    "shadowless": "Unlimited Shadowless",
    "stamped": "Stamped",
}


def _looks_neutralised(value: str) -> bool:
    return value.lstrip("'").startswith(FORMULA_START)


def neutralise(value: Any) -> Any:
    """Text that a spreadsheet would execute gets a leading apostrophe; numbers pass unchanged.

    Text that already starts with apostrophes before a formula character gets one more, so that
    :func:`restore` gives back exactly what was written."""
    if isinstance(value, str) and _looks_neutralised(value):
        return "'" + value
    return value


def restore(value: str) -> str:
    """Undo :func:`neutralise` on import."""
    if value.startswith("'") and _looks_neutralised(value):
        return value[1:]
    return value


def _simple_name(name: str) -> str:
    """TCGplayer's "Simple Name": letters and digits only, words kept."""
    return " ".join("".join(ch if ch.isalnum() else " " for ch in name).split())


def card_number(row: dict[str, Any]) -> str:
    number = str(row.get("number") or "")
    total = row.get("printed_total")
    return f"{number}/{total}" if number.isdigit() and total else number


def _rows_for(collection: Collection, session_id: int | None) -> list[dict[str, Any]]:
    rows = collection.inventory()
    if session_id is None:
        return rows
    counts = collection.session_quantities(session_id)
    # A session's share of each row; rows since edited down to nothing are left out.
    return [{**r, "quantity": min(counts[r["id"]], r["quantity"])} for r in rows if counts.get(r["id"], 0) > 0]


def _prices_for(
    collection: Collection, rows: list[dict[str, Any]], currency: str, source: str | None = None
) -> dict[tuple[str, str], Price]:
    return latest_prices(collection, currency, source=source, card_ids={r["card_id"] for r in rows})


def _price_cells(row: dict[str, Any], price: Price | None, currency: str) -> list[Any]:
    """price, value, currency, price_date of one generic row (empty without a price)."""
    if price is None:
        return ["", "", "", ""]
    factor = DEFAULT_CONDITION_FACTORS.get(row["condition"], 1.0)
    return [price.price, f"{cents(price.price, factor, row['quantity']) / 100:.2f}", currency, price.date]


def _figure(price: Price | None, name: str) -> Any:
    value = getattr(price, name) if price is not None else None
    return "" if value is None else value


def export_rows(
    collection: Collection, fmt: str, session_id: int | None = None, currency: str = DEFAULT_CURRENCY
) -> tuple[list[str], list[list[Any]]]:
    if fmt not in FORMATS:
        raise CollectionError(f"unknown format {fmt!r} (one of: {', '.join(FORMATS)})")
    rows = _rows_for(collection, session_id)
    if fmt == "generic":
        prices = _prices_for(collection, rows, currency)
        return GENERIC_COLUMNS + PRICE_COLUMNS, [
            [r.get(c) for c in GENERIC_COLUMNS] + _price_cells(r, prices.get((r["card_id"], r["finish"])), currency)
            for r in rows
        ]
    market = _prices_for(collection, rows, TCGPLAYER_PRICES[1], TCGPLAYER_PRICES[0]) if fmt != "collectr" else {}
    if fmt == "tcgplayer":
        header = [
            "Quantity",
            "Name",
            "Simple Name",
            "Set",
            "Card Number",
            "Set Code",
            "Printing",
            "Condition",
            "Language",
            "Rarity",
            "Product ID",
            "SKU",
            "TCG Market Price",
        ]
        return header, [
            [
                r["quantity"],
                r["name"],
                _simple_name(r["name"]),
                r["set_name"],
                card_number(r),
                r.get("set_code") or "",
                PRINTING_NAMES.get(r["finish"], r["finish"]),
                CONDITION_NAMES[r["condition"]],
                r["language"],
                r.get("rarity") or "",
                "",
                "",
                _figure(market.get((r["card_id"], r["finish"])), "price"),
            ]
            for r in rows
        ]
    if fmt == "dragonshield":
        header = [
            "Folder Name",
            "Quantity",
            "Trade Quantity",
            "Card Name",
            "Set Code",
            "Set Name",
            "Card Number",
            "Condition",
            "Printing",
            "Language",
            "Price Bought",
            "Date Bought",
            "LOW",
            "MID",
            "MARKET",
        ]
        return header, [
            [
                r["location"] or "cardsight",
                r["quantity"],
                0,
                r["name"],
                r.get("set_code") or r["set_id"],
                r["set_name"],
                r["number"],
                DRAGONSHIELD_CONDITIONS[r["condition"]],
                "Foil" if "holo" in r["finish"] else "Normal",
                r["language"],
                r.get("price_paid") or "",
                r.get("date_added") or "",
                _figure(market.get((r["card_id"], r["finish"])), "low"),
                _figure(market.get((r["card_id"], r["finish"])), "mid"),
                _figure(market.get((r["card_id"], r["finish"])), "price"),
            ]
            for r in rows
        ]
    header = [
        "Portfolio Name",
        "Category",
        "Set",
        "Product Name",
        "Card Number",
        "Rarity",
        "Variance",
        "Grade",
        "Card Condition",
        "Average Cost Paid",
        "Quantity",
        "Date Added",
        "Notes",
    ]
    return header, [
        [
            r["location"] or "cardsight",
            "Pokemon",
            r["set_name"],
            r["name"],
            card_number(r),
            r.get("rarity") or "",
            PRINTING_NAMES.get(r["finish"], r["finish"]),
            "Ungraded",
            CONDITION_NAMES[r["condition"]],
            r.get("price_paid") or "",
            r["quantity"],
            r.get("date_added") or "",
            r.get("notes") or "",
        ]
        for r in rows
    ]


def write_csv(path: str | Path, header: list[str], rows: Iterable[list[Any]], sep_line: bool = False) -> int:
    """Write atomically (a hidden temp file beside it, then a rename); returns the number of data rows.

    Any failure leaves no temp file behind and names ``path`` — the file the user asked for."""
    path = Path(path)
    if path.is_dir():
        raise CollectionError(f"cannot write {path}: it is a folder; give a file name such as {path / 'cards.csv'}")
    if not path.parent.is_dir():
        raise CollectionError(f"cannot write {path}: the folder {path.parent} does not exist")
    if _is_sqlite_database(path):
        raise CollectionError(
            f"cannot write {path}: it is a database (perhaps the collection itself); give a file name such as "
            f"{path.with_suffix('.csv').name}"
        )
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        count = _write_rows(tmp, header, rows, sep_line)
        tmp.replace(path)
    except OSError as error:
        raise CollectionError(f"cannot write {path}: {error.strerror or error}") from error
    finally:
        tmp.unlink(missing_ok=True)
    return count


def _is_sqlite_database(path: Path) -> bool:
    """An existing file that starts as every SQLite database does: an export must never replace it."""
    try:
        with open(path, "rb") as handle:
            return handle.read(16) == b"SQLite format 3\x00"
    except OSError:
        return False


def _write_rows(tmp: Path, header: list[str], rows: Iterable[list[Any]], sep_line: bool) -> int:
    count = 0
    with open(tmp, "x", newline="", encoding="utf-8") as handle:
        if sep_line:
            handle.write("sep=,\r\n")
        writer = csv.writer(handle)
        writer.writerow(header)
        for row in rows:
            writer.writerow([neutralise(v) if v is not None else "" for v in row])
            count += 1
        handle.flush()
        os.fsync(handle.fileno())
    return count


def export_csv(
    collection: Collection,
    path: str | Path,
    fmt: str = "generic",
    session_id: int | None = None,
    sep_line: bool = False,
    currency: str = DEFAULT_CURRENCY,
) -> int:
    header, rows = export_rows(collection, fmt, session_id, currency)
    return write_csv(path, header, rows, sep_line=sep_line and fmt == "dragonshield")


@dataclass
class ImportPlan:
    """What an import would do: rows to add, and the first bad row if any (then nothing is done)."""

    additions: list[dict[str, Any]] = field(default_factory=list)
    new_cards: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def report(self) -> str:
        if self.errors:
            return "Import refused, nothing changed:\n" + "\n".join(f"  {e}" for e in self.errors)
        prices = sum(1 for a in self.additions if a.get("market"))
        lines = [
            f"{len(self.additions)} row(s) to add, {len(self.new_cards)} new card(s)"
            + (f", {prices} market price(s) to keep (the value column is recomputed, not read)" if prices else "")
            + ":"
        ]
        for a in self.additions:
            lines.append(
                f"  line {a['line']}: +{a['quantity']} {a['card_id']} ({a['finish']}, {a['condition']}, {a['language']}"
                f"{', ' + a['location'] if a['location'] else ''}) — now {a['existing']}"
            )
        return "\n".join(lines)


class _Malformed(Exception):
    """The file is not a readable CSV; the message names the line."""


def _read_text(path: Path) -> str:
    try:
        size = path.stat().st_size
        if size > MAX_IMPORT_BYTES:
            limit = MAX_IMPORT_BYTES // 1_000_000
            raise _Malformed(f"{path} is {size / 1e6:.0f} MB; imports are limited to {limit} MB")
        raw = path.read_bytes()
    except OSError as error:
        raise _Malformed(f"cannot read {path}: {error.strerror or error}") from error
    try:
        text = decode_csv(raw)
    except CsvProblem as error:
        raise _Malformed(str(error)) from error
    if not text.strip():
        raise _Malformed(f"line 1: {path} is empty (expected a header line: {','.join(GENERIC_COLUMNS)})")
    return text


def _parse_csv(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and the non-blank records, each with the line it starts on."""
    try:
        records = csv_records(_read_text(path))
    except CsvProblem as error:
        raise _Malformed(str(error)) from error
    header = [h.strip() for h in records[0][1]]
    duplicates = sorted({h for h in header if header.count(h) > 1})
    if duplicates:
        raise _Malformed(f"line 1: column(s) {', '.join(duplicates)} appear more than once")
    return header, records[1:]


def _whole_number(text: str) -> int | None:
    """An optionally signed run of ASCII digits as an int; None for anything else."""
    text = text.strip()
    return int(text) if re.fullmatch(r"[+-]?[0-9]+", text) else None


class _PlanBuilder:
    """Checks one row at a time against the collection and the rows before it."""

    def __init__(self, collection: Collection, plan: ImportPlan) -> None:
        self.plan = plan
        self.current = {
            (r["card_id"], r["finish"], r["condition"], r["language"], r["location"]): r["quantity"]
            for r in collection.inventory()
        }
        self.planned: dict[tuple[str, ...], int] = {}
        self.known = collection.card_ids()

    def add_row(self, line: int, row: dict[str, str]) -> None:
        """Adds the row to the plan, or raises ``_RowError`` naming what is wrong with it."""
        quantity = self._quantity(row["quantity"])
        key = InventoryKey(
            row["card_id"],
            row.get("finish") or "normal",
            row.get("condition") or "NM",
            row.get("language") or "English",
            row.get("location") or "",
        )
        if not key.card_id:
            raise _RowError("empty card_id")
        if key.finish not in FINISHES or key.condition not in CONDITIONS:
            raise _RowError(f"finish {key.finish!r} / condition {key.condition!r} not recognised")
        price = _price(row.get("price_paid") or "")
        market = _market_price(row)
        new_card = None if key.card_id in self.known else _new_card(key.card_id, row)
        existing = self.current.get(tuple(key.__dict__.values()), 0)
        total = existing + self.planned.get(tuple(key.__dict__.values()), 0) + quantity
        if total > MAX_QUANTITY:
            raise _RowError(
                f"{key.card_id} ({key.finish}, {key.condition}, {key.language}) would hold {total:,} cards;"
                f" one inventory row holds at most {MAX_QUANTITY:,}"
            )
        if new_card is not None:
            self.plan.new_cards.append(new_card)
            self.known.add(key.card_id)
        self.planned[tuple(key.__dict__.values())] = total - existing
        self.plan.additions.append(
            {
                **key.__dict__,
                "quantity": quantity,
                "line": line,
                "price_paid": price,
                "market": market,
                "notes": row.get("notes") or None,
                "existing": existing,
            }
        )

    @staticmethod
    def _quantity(text: str) -> int:
        quantity = _whole_number(text)
        if quantity is None:
            raise _RowError(f"quantity {text!r} is not a whole number")
        if quantity < 1:
            raise _RowError("quantity must be at least 1")
        if quantity > MAX_QUANTITY:
            raise _RowError(f"quantity {quantity} is over the limit of {MAX_QUANTITY:,} cards per inventory row")
        return quantity


class _RowError(Exception):
    """What is wrong with one row (the caller adds the line number)."""


def _price(text: str) -> float | None:
    if not text:
        return None
    try:
        price = float(text)
    except ValueError:
        price = math.nan
    if not math.isfinite(price) or price < 0:
        raise _RowError(f"price_paid {text!r} is not a number of 0 or more")
    return price


def _market_price(row: dict[str, str]) -> tuple[float, str, str] | None:
    """(price, currency, price_date) of an exported row, None when its price cells are empty; the
    three come together or the row is refused."""
    cells = [(row.get(c) or "").strip() for c in ("price", "currency", "price_date")]
    if not any(cells):
        return None
    text, currency, date = cells
    if not all(cells):
        raise _RowError("price, currency and price_date come together (one is empty)")
    try:
        price = float(text)
    except ValueError:
        price = math.nan
    if not math.isfinite(price) or price < 0:
        raise _RowError(f"price {text!r} is not a number of 0 or more")
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise _RowError(f"currency {currency!r} is not a three-letter code such as USD or EUR")
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", date) or not _is_date(date):
        raise _RowError(f"price_date {date!r} is not a date (YYYY-MM-DD)")
    return price, currency, date


def _is_date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _new_card(card_id: str, row: dict[str, str]) -> dict[str, Any]:
    if not row.get("name"):
        raise _RowError(f"unknown card {card_id!r} and no name given")
    printed = row.get("printed_total") or ""
    printed_total = _whole_number(printed) if printed else None
    if printed and (printed_total is None or not 0 < printed_total <= 99_999):
        raise _RowError(f"printed_total {printed!r} is not a whole number from 1 to 99999")
    return {
        "card_id": card_id,
        "name": row["name"],
        "set_id": row.get("set_id"),
        "set_name": row.get("set_name"),
        "number": row.get("number"),
        "printed_total": printed_total,
        "rarity": row.get("rarity"),
        "set_code": row.get("set_code"),
    }


def plan_import(collection: Collection, path: str | Path) -> ImportPlan:
    """Read a generic CSV and check every row; nothing is written. A file that is not a well-formed
    CSV (an unclosed quote, a row with the wrong number of cells, bytes that are not UTF-8, nothing
    at all) is refused as a whole, with the line it goes wrong on."""
    plan = ImportPlan()
    try:
        header, records = _parse_csv(Path(path))
    except _Malformed as error:
        plan.errors.append(str(error))
        return plan
    missing = {"card_id", "quantity"} - set(header)
    if missing:
        plan.errors.append(
            f"line 1: missing column(s) {', '.join(sorted(missing))} (expected the generic export format)"
        )
        return plan
    builder = _PlanBuilder(collection, plan)
    for line, cells in records:
        if len(cells) != len(header):
            plan.errors.append(
                f"line {line}: malformed CSV: {len(cells)} cell(s) where the header has {len(header)}"
                " (check quotes and commas)"
            )
            continue
        try:
            builder.add_row(line, {k: restore(v) for k, v in zip(header, cells, strict=True)})
        except _RowError as error:
            plan.errors.append(f"line {line}: {error}")
    if len(plan.errors) > MAX_REPORTED_ERRORS:
        more = len(plan.errors) - MAX_REPORTED_ERRORS
        plan.errors[MAX_REPORTED_ERRORS:] = [f"… and {more} more problem(s)"]
    return plan


def apply_import(collection: Collection, plan: ImportPlan) -> int:
    """Apply a checked plan in one transaction (one undoable action, new cards included): it all
    happens or none of it does. Returns cards added."""
    if plan.errors:
        raise CollectionError(plan.report())
    if not plan.additions:
        return 0

    def apply(tx: Tx) -> int:
        store_cards(tx, plan.new_cards)
        action_id = add_action(tx, "import", None, {"rows": len(plan.additions)})
        total = 0
        for a in plan.additions:
            key = InventoryKey(a["card_id"], a["finish"], a["condition"], a["language"], a["location"])
            inventory_id = inventory_row(tx, key)
            change(tx, action_id, inventory_id, a["quantity"], None)
            keep_details(tx, inventory_id, a["notes"], a["price_paid"])
            if a.get("market"):
                _keep_price(tx, a)
            total += a["quantity"]
        return total

    return collection.write_with(apply)


def _keep_price(tx: Tx, addition: dict[str, Any]) -> None:
    """A price read back from a generic CSV joins the history under :data:`IMPORT_SOURCE` (a price
    already known for that card, finish, currency and date is kept as it is)."""
    price, currency, date = addition["market"]
    tx.run(
        "INSERT INTO prices (card_id, finish, source, currency, date, price, fetched_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (card_id, finish, source, currency, date) DO NOTHING",
        (addition["card_id"], addition["finish"], IMPORT_SOURCE, currency, date, price, fetched_now()),
    )


def inventory_json(collection: Collection) -> str:
    return json.dumps(collection.inventory(), ensure_ascii=False)
