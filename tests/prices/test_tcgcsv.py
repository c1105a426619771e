from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from app.collection import Collection
from app.prices.base import PriceError
from app.prices.table import latest_prices, run_source
from app.prices.tcgcsv import Catalogue, CsvSource

from ..collection.conftest import CARDS
from .conftest import price_rows

HEADER = (
    "productId,name,cleanName,imageUrl,categoryId,groupId,url,modifiedOn,imageCount,extNumber,extRarity,"
    "lowPrice,midPrice,highPrice,marketPrice,directLowPrice,subTypeName"
)
PRICED_ON = dt.date(2026, 12, 3)


def row(name: str, number: str, printing: str, market: str = "1.50", mid: str = "2.00", low: str = "1.00") -> str:
    return f"1,{name},{name},,3,23237,,2026-01-01,1,{number},Common,{low},{mid},3.00,{market},,{printing}"


def write(tmp_path: Path, *rows: str, name: str = "prices.csv") -> Path:
    path = tmp_path / name
    path.write_text("\r\n".join([HEADER, *rows]) + "\r\n", encoding="utf-8")
    return path


def run(collection: Collection, path: Path, set_id: str | None = None):  # type: ignore[no-untyped-def]
    return run_source(collection, CsvSource([path], Catalogue(CARDS), PRICED_ON, set_id, today=PRICED_ON))


def test_rows_match_by_number_total_and_name_each_printing_apart(collection: Collection, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        row("Pikachu", "025/165", "Normal", market="0.30"),
        row("Pikachu", "025/165", "Reverse Holofoil", market="1.10"),
        row("Venusaur-EX", "001/108", "Holofoil", market="4.00"),
    )
    report = run(collection, path)
    assert report.quotes == 3 and report.unmatched_count == 0
    prices = latest_prices(collection, "USD")
    assert prices[("sv3pt5-25", "normal")].price == 0.30
    assert prices[("sv3pt5-25", "reverse holo")].price == 1.10
    assert prices[("xy12-1", "holo")].price == 4.00 and prices[("xy12-1", "holo")].date == "2026-12-03"
    assert prices[("xy12-1", "holo")].low == 1.00 and prices[("xy12-1", "holo")].mid == 2.00


def test_unmatched_and_malformed_rows_are_counted_listed_and_the_rest_stored(
    collection: Collection, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        row("Pikachu", "025/165", "Normal"),
        row("Mewtwo", "150/165", "Holofoil"),  # not a known card
        row("Pikachu", "025/165", "Shiny Foil"),  # a printing cardsight has no finish for
        row("Pikachu", "025/165", "Holofoil", market="", mid=""),  # no price
        row("Pikachu", "025/165", "Holofoil", market="cheap"),  # not a number
        "1,Pikachu,too,few",  # a cell count that is not the header's
        row("Booster Box", "", "Normal"),  # sealed product: no collector number
    )
    report = run(collection, path)
    assert report.quotes == 1 and report.unmatched_count == 5 and report.skipped == 1
    listed = "\n".join(report.unmatched)
    assert "line 3: no known card numbered 150/165 named 'Mewtwo'" in listed
    assert "line 4: Pikachu 025/165: unknown printing 'Shiny Foil'" in listed
    assert "line 5: Pikachu 025/165 (holo): no market or mid price" in listed
    assert "line 6: Pikachu 025/165: marketPrice 'cheap' is not a price" in listed
    assert "line 7: malformed row (4 cell(s) where the header has 17)" in listed
    assert price_rows(collection) == 1


def test_a_given_set_matches_by_number_alone(collection: Collection, tmp_path: Path) -> None:
    path = write(tmp_path, row("Nidoran F", "029/165", "Normal"), row("Nobody", "300/165", "Normal"))
    report = run(collection, path, set_id="sv3pt5")
    assert report.cards == {"sv3pt5-29"}
    assert report.unmatched == ["prices.csv line 3: no card 300 in set sv3pt5"]


def test_a_card_in_two_sets_needs_the_set(collection: Collection, tmp_path: Path) -> None:
    twins = [{**CARDS[0], "card_id": "sv3pt5-25"}, {**CARDS[0], "card_id": "other-25", "set_id": "other"}]
    path = write(tmp_path, row("Pikachu", "025/165", "Normal"))
    report = run_source(collection, CsvSource([path], Catalogue(twins), PRICED_ON, today=PRICED_ON))
    assert report.quotes == 0 and "is in 2 sets (sv3pt5, other); give the set with --set" in report.unmatched[0]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"name,price\r\nPikachu,1\r\n", "not a TCGplayer price CSV (missing column(s) extNumber, subTypeName"),
        (b"\xff\xfe\x00", "bad.csv line 1: not UTF-8 text (byte 0xff)"),
        (HEADER.encode() + b"\r\n1,Pika\x00chu\r\n", "bad.csv line 2: a NUL character"),
        (HEADER.encode() + b'\r\n1,"Pikachu,unclosed\r\n', "malformed CSV"),
    ],
)
def test_a_file_that_is_not_a_price_csv_stores_nothing(
    collection: Collection, tmp_path: Path, content: bytes, message: str
) -> None:
    good = write(tmp_path, row("Pikachu", "025/165", "Normal"), name="good.csv")
    (tmp_path / "bad.csv").write_bytes(content)
    source = CsvSource([good, tmp_path / "bad.csv"], Catalogue(CARDS), PRICED_ON, today=PRICED_ON)
    with pytest.raises(PriceError, match=re.escape(message)):
        run_source(collection, source)
    assert price_rows(collection) == 0
