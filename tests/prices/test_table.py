from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

from app.collection import Collection
from app.collection.schema import MIGRATIONS
from app.prices.base import Quote
from app.prices.table import card_price, latest_prices, price_history, store_quotes

from .conftest import price_rows


def quote(price: float, date: str, source: str = "tcgplayer", finish: str = "holo", currency: str = "USD") -> Quote:
    return Quote("xy12-1", finish, source, currency, date, price, {"market": price, "low": price / 2})


def test_a_new_date_adds_history_and_the_same_date_replaces(collection: Collection) -> None:
    store_quotes(collection, [quote(5.0, "2026-11-20"), quote(6.0, "2026-11-27")])
    store_quotes(collection, [quote(6.5, "2026-11-27")])
    assert [(r["date"], r["price"]) for r in price_history(collection, "xy12-1", "holo")] == [
        ("2026-11-20", 5.0),
        ("2026-11-27", 6.5),
    ]


def test_latest_prices_answer_for_any_past_date(collection: Collection) -> None:
    store_quotes(collection, [quote(5.0, "2026-11-20"), quote(6.0, "2026-11-27"), quote(9.0, "2026-12-01")])
    assert latest_prices(collection, "USD")[("xy12-1", "holo")].price == 9.0
    assert latest_prices(collection, "USD", dt.date(2026, 11, 30))[("xy12-1", "holo")].price == 6.0
    assert latest_prices(collection, "USD", dt.date(2026, 11, 27))[("xy12-1", "holo")].price == 6.0
    assert latest_prices(collection, "USD", dt.date(2026, 11, 19)) == {}


def test_currencies_and_sources_are_kept_apart(collection: Collection) -> None:
    store_quotes(
        collection,
        [
            quote(5.0, "2026-12-01"),
            quote(4.0, "2026-12-01", "cardmarket", currency="EUR"),
            quote(4.5, "2026-12-01", "import"),
            quote(7.0, "2026-11-01", "import", finish="reverse holo"),
        ],
    )
    usd = latest_prices(collection, "USD")
    assert usd[("xy12-1", "holo")].source == "tcgplayer"  # same date: the source order decides
    assert usd[("xy12-1", "reverse holo")].price == 7.0
    assert latest_prices(collection, "EUR")[("xy12-1", "holo")].price == 4.0
    assert latest_prices(collection, "USD", source="import")[("xy12-1", "holo")].price == 4.5


def test_a_v1_collection_gains_the_price_table_and_keeps_its_cards(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with Collection(path) as c:
        c.upsert_cards([{"card_id": "xy12-1", "name": "Venusaur-EX"}])
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE prices")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    with Collection(path) as c:
        assert c.conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) == 2
        assert price_rows(c) == 0 and c.has_card("xy12-1")


def test_one_card_is_looked_up_alone_with_its_finish(collection: Collection) -> None:
    store_quotes(collection, [quote(5.0, "2026-11-20"), quote(1.0, "2026-11-20", finish="reverse holo")])
    store_quotes(collection, [Quote(f"other-{i}", "holo", "tcgplayer", "USD", "2026-11-20", 1.0) for i in range(600)])
    found = card_price(collection, "xy12-1", "reverse holo")
    assert found is not None and (found.price, found.date, found.source) == (1.0, "2026-11-20", "tcgplayer")
    assert card_price(collection, "xy12-1", "1st edition") is None
    assert card_price(collection, "xy12-1", "holo", "EUR") is None
    many = latest_prices(collection, "USD", card_ids=[f"other-{i}" for i in range(550)] + ["xy12-1"])
    assert len(many) == 552 and many[("xy12-1", "holo")].price == 5.0
    assert latest_prices(collection, "USD", card_ids=[]) == {}
    assert len(latest_prices(collection, "USD")) == 602
