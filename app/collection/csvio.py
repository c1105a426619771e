"""CSV export in the generic format and the formats collection sites import; generic import.

UTF-8, RFC 4180 quoting (``csv`` module, ``\\r\\n`` line ends), and cells a spreadsheet would run as
formulas (leading ``= + - @``, tab, CR) prefixed with ``'``.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.collection.store import CONDITIONS, FINISHES, Collection, CollectionError, InventoryKey

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
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
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


def neutralise(value: Any) -> Any:
    """Text that a spreadsheet would execute gets a leading apostrophe; numbers pass unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def restore(value: str) -> str:
    """Undo :func:`neutralise` on import."""
    if value.startswith("'") and value[1:].startswith(FORMULA_START):
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


def export_rows(collection: Collection, fmt: str, session_id: int | None = None) -> tuple[list[str], list[list[Any]]]:
    if fmt not in FORMATS:
        raise CollectionError(f"unknown format {fmt!r} (one of: {', '.join(FORMATS)})")
    rows = _rows_for(collection, session_id)
    if fmt == "generic":
        return GENERIC_COLUMNS, [[r.get(c) for c in GENERIC_COLUMNS] for r in rows]
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
                "",
                "",
                "",
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
    """Write atomically (temp file, then rename); returns the number of data rows."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    count = 0
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        if sep_line:
            handle.write("sep=,\r\n")
        writer = csv.writer(handle)
        writer.writerow(header)
        for row in rows:
            writer.writerow([neutralise(v) if v is not None else "" for v in row])
            count += 1
    tmp.replace(path)
    return count


def export_csv(
    collection: Collection,
    path: str | Path,
    fmt: str = "generic",
    session_id: int | None = None,
    sep_line: bool = False,
) -> int:
    header, rows = export_rows(collection, fmt, session_id)
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
        lines = [f"{len(self.additions)} row(s) to add, {len(self.new_cards)} new card(s):"]
        for a in self.additions:
            lines.append(
                f"  line {a['line']}: +{a['quantity']} {a['card_id']} ({a['finish']}, {a['condition']}, {a['language']}"
                f"{', ' + a['location'] if a['location'] else ''}) — now {a['existing']}"
            )
        return "\n".join(lines)


def plan_import(collection: Collection, path: str | Path) -> ImportPlan:
    """Read a generic CSV and check every row; nothing is written."""
    plan = ImportPlan()
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        plan.errors.append(f"cannot read {path}: {error}")
        return plan
    reader = csv.DictReader(io.StringIO(text))
    missing = {"card_id", "quantity"} - set(reader.fieldnames or [])
    if missing:
        plan.errors.append(
            f"line 1: missing column(s) {', '.join(sorted(missing))} (expected the generic export format)"
        )
        return plan
    current = {
        (r["card_id"], r["finish"], r["condition"], r["language"], r["location"]): r["quantity"]
        for r in collection.inventory()
    }
    known = {r[0] for r in collection.conn.execute("SELECT card_id FROM cards")}
    for line, raw in enumerate(reader, start=2):
        row = {k: restore(v or "") for k, v in raw.items() if k is not None}
        if None in raw:
            plan.errors.append(f"line {line}: more cells than columns")
            continue
        try:
            quantity = int(row["quantity"])
        except ValueError:
            plan.errors.append(f"line {line}: quantity {row['quantity']!r} is not a whole number")
            continue
        if quantity < 1:
            plan.errors.append(f"line {line}: quantity must be at least 1")
            continue
        key = InventoryKey(
            row["card_id"],
            row.get("finish") or "normal",
            row.get("condition") or "NM",
            row.get("language") or "English",
            row.get("location") or "",
        )
        if not key.card_id:
            plan.errors.append(f"line {line}: empty card_id")
            continue
        if key.finish not in FINISHES or key.condition not in CONDITIONS:
            plan.errors.append(f"line {line}: finish {key.finish!r} / condition {key.condition!r} not recognised")
            continue
        if key.card_id not in known:
            if not row.get("name"):
                plan.errors.append(f"line {line}: unknown card {key.card_id!r} and no name given")
                continue
            printed = row.get("printed_total") or ""
            plan.new_cards.append(
                {
                    "card_id": key.card_id,
                    "name": row["name"],
                    "set_id": row.get("set_id"),
                    "set_name": row.get("set_name"),
                    "number": row.get("number"),
                    "printed_total": int(printed) if printed.isdigit() else None,
                    "rarity": row.get("rarity"),
                    "set_code": row.get("set_code"),
                }
            )
            known.add(key.card_id)
        price = row.get("price_paid") or ""
        try:
            price_value = float(price) if price else None
        except ValueError:
            plan.errors.append(f"line {line}: price_paid {price!r} is not a number")
            continue
        plan.additions.append(
            {
                **key.__dict__,
                "quantity": quantity,
                "line": line,
                "price_paid": price_value,
                "notes": row.get("notes") or None,
                "existing": current.get(tuple(key.__dict__.values()), 0),
            }
        )
    return plan


def apply_import(collection: Collection, plan: ImportPlan) -> int:
    """Apply a checked plan in one transaction (one undoable action). Returns cards added."""
    if plan.errors:
        raise CollectionError(plan.report())
    if plan.new_cards:
        collection.upsert_cards(plan.new_cards)
    total = 0
    with collection.write() as conn:
        action_id = collection._action(conn, "import", None, {"rows": len(plan.additions)})
        for a in plan.additions:
            key = InventoryKey(a["card_id"], a["finish"], a["condition"], a["language"], a["location"])
            inventory_id = collection._inventory_row(conn, key)
            collection._change(conn, action_id, inventory_id, a["quantity"], None)
            if a["notes"] is not None or a["price_paid"] is not None:
                conn.execute(
                    "UPDATE inventory SET notes = COALESCE(?, notes), price_paid = COALESCE(?, price_paid)"
                    " WHERE id = ?",
                    (a["notes"], a["price_paid"], inventory_id),
                )
            total += a["quantity"]
    return total


def inventory_json(collection: Collection) -> str:
    return json.dumps(collection.inventory(), ensure_ascii=False)
