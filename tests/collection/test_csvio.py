from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.collection import Collection, CollectionError, InventoryKey, ScanRecord
from app.collection.csvio import (
    GENERIC_COLUMNS,
    apply_import,
    export_csv,
    neutralise,
    plan_import,
    restore,
    write_csv,
)
from app.collection.store import MAX_QUANTITY
from tests.collection.backends import address_of, open_address

from .conftest import table


def read_rows(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def stock(collection: Any) -> Any:
    collection.add(
        InventoryKey("sv3pt5-25", "holo", "NM", "English", "binder"), 2, notes='said "mint", = maybe', price_paid=1.25
    )
    collection.add(InventoryKey("sv3pt5-29", "reverse holo", "LP"), 1)
    collection.add(InventoryKey("xy12-2", condition="DMG", language="Japanese"), 3)
    collection.add(InventoryKey("sv5-10"), 1)
    return collection


@pytest.fixture
def stocked(collection: Any) -> Any:
    """Four rows of cards, on each backend in turn."""
    return stock(collection)


@pytest.mark.parametrize("cell", ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "\tx", "\rx"])
def test_formula_cells_are_neutralised(cell: str) -> None:
    assert neutralise(cell) == "'" + cell
    assert neutralise("Pikachu") == "Pikachu"
    assert neutralise(-3) == -3  # numbers are not text formulas


def test_generic_export_has_every_column_utf8_and_rfc4180_quoting(stocked: Collection, tmp_path: Path) -> None:
    out = tmp_path / "all.csv"
    assert export_csv(stocked, out) == 4
    raw = out.read_bytes()
    assert b"\r\n" in raw and "Nidoran ♀".encode() in raw and "Flabébé ★".encode() in raw
    rows = read_rows(out)
    header = rows[0]
    assert header[:3] == ["card_id", "name", "set_id"] and "quantity" in header and "notes" in header
    by_id = {r[0]: dict(zip(header, r, strict=True)) for r in rows[1:]}
    assert by_id["sv3pt5-25"]["notes"] == 'said "mint", = maybe'
    assert by_id["sv5-10"]["name"] == '\'=HYPERLINK("http://x")'


def test_tcgplayer_dragonshield_and_collectr_columns(stocked: Collection, tmp_path: Path) -> None:
    export_csv(stocked, tmp_path / "t.csv", "tcgplayer")
    rows = read_rows(tmp_path / "t.csv")
    assert rows[0] == [
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
    pikachu = next(r for r in rows if r[1] == "Pikachu")
    assert pikachu[:9] == ["2", "Pikachu", "Pikachu", "151", "25/165", "MEW", "Holofoil", "Near Mint", "English"]
    export_csv(stocked, tmp_path / "d.csv", "dragonshield", sep_line=True)
    assert (tmp_path / "d.csv").read_bytes().startswith(b"sep=,\r\n")
    rows = read_rows(tmp_path / "d.csv")
    assert rows[1] == [
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
    export_csv(stocked, tmp_path / "c.csv", "collectr")
    rows = read_rows(tmp_path / "c.csv")
    assert rows[0] == [
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
    flabebe = next(r for r in rows if r[3] == "Flabébé ★")
    assert flabebe[8] == "Damaged" and flabebe[10] == "3"


def test_session_export_holds_only_that_sessions_cards(collection: Collection, tmp_path: Path) -> None:
    collection.add(InventoryKey("xy12-1"), 5)
    session = collection.start_session("stack 1")
    for card in ("xy12-1", "xy12-1", "sv3pt5-25"):
        collection.record_scan(ScanRecord("identified", card, 0.9, session_id=session), auto_add=InventoryKey(""))
    collection.record_scan(ScanRecord("unknown", None, session_id=session))
    summary = collection.session_summary(session)
    assert summary["label"] == "stack 1" and summary["cards_added"] == 3
    assert summary["scans"] == 4 and summary["scans_by_status"] == {"identified": 3, "unknown": 1}
    export_csv(collection, tmp_path / "s.csv", "generic", session_id=session)
    rows = read_rows(tmp_path / "s.csv")
    header = rows[0]
    got = {r[0]: int(r[header.index("quantity")]) for r in rows[1:]}
    assert got == {"xy12-1": 2, "sv3pt5-25": 1}


def test_export_import_round_trip_is_lossless(stocked: Collection, tmp_path: Path) -> None:
    export_csv(stocked, tmp_path / "a.csv")
    with Collection(tmp_path / "fresh.db") as fresh:
        plan = plan_import(fresh, tmp_path / "a.csv")
        assert not plan.errors and len(plan.new_cards) == 4
        assert apply_import(fresh, plan) == 7
        export_csv(fresh, tmp_path / "b.csv")
    a, b = read_rows(tmp_path / "a.csv"), read_rows(tmp_path / "b.csv")
    assert a == b


def test_dry_run_reports_and_changes_nothing(stocked: Collection, tmp_path: Path) -> None:
    export_csv(stocked, tmp_path / "a.csv")
    before = stocked.inventory()
    plan = plan_import(stocked, tmp_path / "a.csv")
    report = plan.report()
    assert "4 row(s) to add" in report and "now 2" in report
    assert stocked.inventory() == before


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("sv3pt5-25,Pikachu,sv3pt5,151,MEW,25,165,Common,normal,NM,English,,two,,,,,,,", "not a whole number"),
        ("sv3pt5-25,Pikachu,sv3pt5,151,MEW,25,165,Common,shiny,NM,English,,1,,,,,,,", "not recognised"),
        ("zz-1,,,,,,,,normal,NM,English,,1,,,,,,,", "unknown card"),
        ("sv3pt5-25,Pikachu,sv3pt5,151,MEW,25,165,Common,normal,NM,English,,0,,,,,,,", "at least 1"),
    ],
)
def test_a_bad_row_names_its_line_and_nothing_changes(
    stocked: Collection, tmp_path: Path, line: str, reason: str
) -> None:
    export_csv(stocked, tmp_path / "a.csv")
    text = (tmp_path / "a.csv").read_text(encoding="utf-8")
    # The export's price columns are empty: the added row leaves them empty too.
    (tmp_path / "bad.csv").write_text(text + line + "\r\n", encoding="utf-8")
    before = stocked.inventory()
    plan = plan_import(stocked, tmp_path / "bad.csv")
    assert plan.errors and plan.errors[0].startswith("line 6:") and reason in plan.errors[0]
    with pytest.raises(Exception, match="nothing changed"):
        apply_import(stocked, plan)
    assert stocked.inventory() == before


def test_import_of_a_non_generic_csv_is_refused(collection: Collection, tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("Quantity,Name\n1,Pikachu\n")
    plan = plan_import(collection, tmp_path / "x.csv")
    assert plan.errors == ["line 1: missing column(s) card_id, quantity (expected the generic export format)"]


@pytest.mark.parametrize("text", ["'=x", "''=1+1", "'-3", "'abc", "'", "=cmd|' /C calc'!A0"])
def test_neutralised_text_is_restored_exactly(text: str) -> None:
    assert restore(neutralise(text)) == text


# ---------------------------------------------------------------------------- malformed CSV


HEADER = ",".join(GENERIC_COLUMNS)
GOOD = "xy12-1,Venusaur-EX,xy12,Evolutions,EVO,1,108,Rare Holo EX,normal,NM,English,,2,,,"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (f'{HEADER}\r\n{GOOD}\r\nxy12-1,"Venusaur,xy12,,,1,,,normal,NM,English,,1,,,\r\n{GOOD}\r\n'.encode(),
         "line 3: malformed CSV: a quote is never closed"),
        (f"{HEADER}\r\n{GOOD}\r\n{GOOD},extra\r\n".encode(),
         "line 3: malformed CSV: 17 cell(s) where the header has 16"),
        (f"{HEADER}\r\n{GOOD}\r\nxy12-1,Venusaur-EX,2\r\n".encode(), "line 3: malformed CSV: 3 cell(s)"),
        (f"{HEADER}\r\n{GOOD}\r\n".encode() + b"xy12-1,Caf\xe9,,,,,,,normal,NM,English,,1,,,\r\n",
         "line 3: not UTF-8 text (byte 0xe9)"),
        (b"", "line 1: "),
        (f"{HEADER}\r\n{GOOD}\r\nxy12-1,Venu\x00saur,,,,,,,normal,NM,English,,1,,,\r\n".encode(),
         "line 3: a NUL character"),
        (b"\xef\xbb\xbf\r\n\r\n", "is empty"),
        (b'card_id,quantity,card_id\r\nxy12-1,1,x\r\n', "line 1: column(s) card_id appear more than once"),
        (f'{HEADER}\r\n{GOOD}\r\nxy12-1,"Venu"saur",,,,,,,normal,NM,English,,1,,,\r\n'.encode(),
         "line 3: malformed CSV"),
    ],
)  # fmt: skip
def test_a_malformed_csv_is_named_with_its_line_and_nothing_changes(
    stocked: Collection, tmp_path: Path, content: bytes, reason: str
) -> None:
    (tmp_path / "bad.csv").write_bytes(content)
    before = stocked.inventory()
    plan = plan_import(stocked, tmp_path / "bad.csv")
    assert plan.errors and reason in plan.errors[0]
    assert "whole number" not in plan.report()
    with pytest.raises(CollectionError, match="nothing changed"):
        apply_import(stocked, plan)
    assert stocked.inventory() == before


@pytest.mark.parametrize(
    ("quantities", "reason"),
    [
        (["9223372036854775807"], "over the limit of 1,000,000"),
        (["99999999999999999999"], "over the limit of 1,000,000"),
        (["600000", "400001"], "line 3: xy12-1 (normal, NM, English) would hold 1,000,001 cards"),
        (["-5"], "at least 1"),
        (["1.5"], "not a whole number"),
        (["١٢"], "not a whole number"),
    ],
)
def test_import_quantities_are_bounded(
    collection: Collection, tmp_path: Path, quantities: list[str], reason: str
) -> None:
    rows = [f"xy12-1,Venusaur-EX,xy12,Evolutions,EVO,1,108,Rare Holo EX,normal,NM,English,,{q},,," for q in quantities]
    (tmp_path / "q.csv").write_text("\r\n".join([HEADER, *rows]) + "\r\n", encoding="utf-8")
    plan = plan_import(collection, tmp_path / "q.csv")
    assert any(reason in e for e in plan.errors), plan.errors
    assert collection.inventory() == []


def test_an_import_counts_what_the_collection_already_holds(collection: Collection, tmp_path: Path) -> None:
    collection.add(InventoryKey("xy12-1"), MAX_QUANTITY)
    (tmp_path / "one.csv").write_text(f"{HEADER}\r\n{GOOD}\r\n", encoding="utf-8")
    plan = plan_import(collection, tmp_path / "one.csv")
    assert plan.errors == [
        "line 2: xy12-1 (normal, NM, English) would hold 1,000,002 cards; one inventory row holds at most 1,000,000"
    ]


def test_an_import_that_fails_while_applying_changes_nothing(collection: Collection, tmp_path: Path) -> None:
    new_card = "zz-9,Brand New,zz,Zed,ZZ,9,99,Common,normal,NM,English,,1,,,"
    (tmp_path / "a.csv").write_text(f"{HEADER}\r\n{new_card}\r\n{GOOD}\r\n", encoding="utf-8")
    plan = plan_import(collection, tmp_path / "a.csv")
    assert not plan.errors
    # Between the plan and the apply, another program fills the row this import adds to.
    with open_address(address_of(collection), tmp_path / "crops") as other:
        other.add(InventoryKey("xy12-1"), MAX_QUANTITY - 1)
    with pytest.raises(CollectionError, match="1,000,000"):
        apply_import(collection, plan)
    assert not collection.has_card("zz-9")
    assert [a["kind"] for a in table(collection, "SELECT kind FROM actions")] == ["add"]


# ---------------------------------------------------------------------------- export failures


def test_export_to_a_folder_names_it_and_leaves_no_temp_file(stocked: Collection, tmp_path: Path) -> None:
    (tmp_path / "adir").mkdir()
    with pytest.raises(CollectionError, match=re.escape(f"cannot write {tmp_path / 'adir'}: it is a folder")):
        export_csv(stocked, tmp_path / "adir")
    with pytest.raises(CollectionError, match=re.escape(f"cannot write {tmp_path / 'nope' / 'x.csv'}: the folder")):
        export_csv(stocked, tmp_path / "nope" / "x.csv")
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("collection.db")) == ["adir"]
    assert list((tmp_path / "adir").iterdir()) == []


def test_a_failed_write_names_the_file_asked_for_and_leaves_no_temp_file(tmp_path: Path) -> None:
    def rows() -> Iterator[list[object]]:
        yield ["a"]
        raise OSError(28, "No space left on device")

    with pytest.raises(CollectionError, match=re.escape(f"cannot write {tmp_path / 'x.csv'}: No space left on device")):
        write_csv(tmp_path / "x.csv", ["h"], rows())
    assert list(tmp_path.iterdir()) == []


def test_a_failed_export_keeps_the_previous_file(stocked: Collection, tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("the old export", encoding="utf-8")

    def rows() -> Iterator[list[object]]:
        raise OSError(5, "Input/output error")
        yield []

    with pytest.raises(CollectionError, match=re.escape(str(tmp_path / "x.csv"))):
        write_csv(tmp_path / "x.csv", ["h"], rows())
    assert (tmp_path / "x.csv").read_text(encoding="utf-8") == "the old export"
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("collection.db")) == ["x.csv"]


# ---------------------------------------------------------------------------- prices


def priced(collection: Collection) -> Collection:
    from app.prices.base import Quote
    from app.prices.table import store_quotes

    store_quotes(
        collection,
        [
            Quote("sv3pt5-25", "holo", "tcgplayer", "USD", "2026-12-01", 2.5, {"low": 1.0, "mid": 2.0, "market": 2.5}),
            Quote("sv3pt5-29", "reverse holo", "tcgplayer", "USD", "2026-12-01", 0.4, {"market": 0.4}),
            Quote("sv3pt5-25", "holo", "cardmarket", "EUR", "2026-12-02", 2.0, {}),
        ],
    )
    return collection


def test_generic_export_fills_price_value_currency_and_date(stocked: Collection, tmp_path: Path) -> None:
    export_csv(priced(stocked), tmp_path / "g.csv")
    rows = read_rows(tmp_path / "g.csv")
    assert rows[0][-4:] == ["price", "value", "currency", "price_date"]
    by_id = {r[0]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    pikachu, nidoran = by_id["sv3pt5-25"], by_id["sv3pt5-29"]
    assert [pikachu[c] for c in ("price", "value", "currency", "price_date")] == ["2.5", "5.00", "USD", "2026-12-01"]
    assert [nidoran[c] for c in ("price", "value")] == ["0.4", "0.34"]  # LP: 0.85 of the price
    assert [by_id["xy12-2"][c] for c in ("price", "value", "currency", "price_date")] == ["", "", "", ""]
    export_csv(stocked, tmp_path / "e.csv", currency="EUR")
    eur = {r[0]: r[-4:] for r in read_rows(tmp_path / "e.csv")[1:]}
    assert eur["sv3pt5-25"] == ["2.0", "4.00", "EUR", "2026-12-02"] and eur["sv3pt5-29"] == ["", "", "", ""]


def test_tcgplayer_market_price_and_dragonshield_low_mid_market_are_filled(stocked: Collection, tmp_path: Path) -> None:
    export_csv(priced(stocked), tmp_path / "t.csv", "tcgplayer")
    market = {(r[1], r[6]): r[-1] for r in read_rows(tmp_path / "t.csv")[1:]}
    assert market[("Pikachu", "Holofoil")] == "2.5" and market[("Nidoran ♀", "Reverse Holofoil")] == "0.4"
    assert market[("Flabébé ★", "Normal")] == ""
    export_csv(stocked, tmp_path / "d.csv", "dragonshield")
    shield = {r[3]: r[-3:] for r in read_rows(tmp_path / "d.csv")[1:]}
    assert shield["Pikachu"] == ["1.0", "2.0", "2.5"] and shield["Nidoran ♀"] == ["", "", "0.4"]


def test_generic_import_reads_prices_back_into_the_history(stocked: Collection, tmp_path: Path) -> None:
    from app.prices.table import latest_prices

    export_csv(priced(stocked), tmp_path / "g.csv")
    with Collection(tmp_path / "fresh.db") as fresh:
        plan = plan_import(fresh, tmp_path / "g.csv")
        assert "2 market price(s) to keep" in plan.report()
        apply_import(fresh, plan)
        prices = latest_prices(fresh, "USD")
        assert {k: (p.price, p.date, p.source) for k, p in prices.items()} == {
            ("sv3pt5-25", "holo"): (2.5, "2026-12-01", "import"),
            ("sv3pt5-29", "reverse holo"): (0.4, "2026-12-01", "import"),
        }
        assert {r["card_id"]: r["price_paid"] for r in fresh.inventory()}["sv3pt5-25"] == 1.25


@pytest.mark.parametrize(
    ("cells", "reason"),
    [
        ("cheap,,USD,2026-12-01", "price 'cheap' is not a number"),
        ("-1,,USD,2026-12-01", "price '-1' is not a number"),
        ("1,,dollars,2026-12-01", "currency 'dollars' is not a three-letter code"),
        ("1,,USD,2026-02-30", "price_date '2026-02-30' is not a date"),
        ("1,,,2026-12-01", "price, currency and price_date come together"),
    ],
)
def test_a_bad_price_cell_is_refused_with_its_line(
    collection: Collection, tmp_path: Path, cells: str, reason: str
) -> None:
    header = ",".join([*GENERIC_COLUMNS, "price", "value", "currency", "price_date"])
    line = "xy12-1,,,,,,,,holo,NM,English,,1,,,," + cells
    (tmp_path / "p.csv").write_text(f"{header}\r\n{line}\r\n", encoding="utf-8")
    plan = plan_import(collection, tmp_path / "p.csv")
    assert len(plan.errors) == 1 and plan.errors[0].startswith(f"line 2: {reason}")
    assert table(collection, "SELECT COUNT(*) AS n FROM prices")[0]["n"] == 0


def test_an_export_never_replaces_a_database_such_as_the_collection_itself(sqlite_collection: Collection) -> None:
    """About the collection's own file (a server collection has no file an export could name)."""
    stocked = stock(sqlite_collection)
    before = stocked.path.read_bytes()
    with pytest.raises(CollectionError, match="it is a database"):
        export_csv(stocked, stocked.path, "generic")
    assert stocked.path.read_bytes() == before
