from __future__ import annotations

import csv
from pathlib import Path

import pytest

from app.collection import Collection, InventoryKey, ScanRecord
from app.collection.csvio import apply_import, export_csv, neutralise, plan_import


def read_rows(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


@pytest.fixture
def stocked(collection: Collection) -> Collection:
    collection.add(
        InventoryKey("sv3pt5-25", "holo", "NM", "English", "binder"), 2, notes='said "mint", = maybe', price_paid=1.25
    )
    collection.add(InventoryKey("sv3pt5-29", "reverse holo", "LP"), 1)
    collection.add(InventoryKey("xy12-2", condition="DMG", language="Japanese"), 3)
    collection.add(InventoryKey("sv5-10"), 1)
    return collection


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
        ("sv3pt5-25,Pikachu,sv3pt5,151,MEW,25,165,Common,normal,NM,English,,two,,,", "not a whole number"),
        ("sv3pt5-25,Pikachu,sv3pt5,151,MEW,25,165,Common,shiny,NM,English,,1,,,", "not recognised"),
        ("zz-1,,,,,,,,normal,NM,English,,1,,,", "unknown card"),
        ("sv3pt5-25,Pikachu,sv3pt5,151,MEW,25,165,Common,normal,NM,English,,0,,,", "at least 1"),
    ],
)
def test_a_bad_row_names_its_line_and_nothing_changes(
    stocked: Collection, tmp_path: Path, line: str, reason: str
) -> None:
    export_csv(stocked, tmp_path / "a.csv")
    text = (tmp_path / "a.csv").read_text(encoding="utf-8")
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
