"""The price table (schema v2 of the collection): writing a source's quotes, reading prices back.

Each (card, finish, source, currency, date) is one row: a later update of the same day replaces it,
a new date adds a row, so history is kept and any past date can be valued.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from app.collection.contract import CollectionStore
from app.collection.sql import Tx
from app.prices.base import PriceSource, Progress, Quote, Report, no_progress

logger = logging.getLogger(__name__)

#: When a card has prices from several sources on the same date, the first here wins.
SOURCE_ORDER = ("tcgplayer", "cardmarket", "import")
BATCH = 5_000
#: Up to this many cards are looked up by id; more are filtered while reading the whole currency.
SMALL_LOOKUP = 500


@dataclass(frozen=True)
class Price:
    """The price a card × finish had on a date, and where it came from."""

    price: float
    source: str
    date: str
    low: float | None = None
    mid: float | None = None
    market: float | None = None


def run_source(collection: CollectionStore, source: PriceSource, progress: Progress = no_progress) -> Report:
    """Read everything the source yields first, then store it in one transaction: a source that fails
    midway (a malformed page, a lost connection) stores nothing."""
    report = Report(source.name)
    quotes = list(source.quotes(report, progress))
    store_quotes(collection, quotes)
    return report


def fetched_now() -> str:
    """When a price was stored (UTC, to the second)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def store_quotes(collection: CollectionStore, quotes: Iterable[Quote]) -> int:
    """Keep the quotes in one transaction (a quote of a card, finish, source, currency and date already
    stored replaces it); returns how many."""
    fetched_at = fetched_now()
    rows = [
        (
            q.card_id,
            q.finish,
            q.source,
            q.currency,
            q.date,
            q.price,
            q.figures.get("low"),
            q.figures.get("mid"),
            q.figures.get("high"),
            q.figures.get("market"),
            json.dumps(q.figures, sort_keys=True),
            fetched_at,
        )
        for q in quotes
    ]
    updated = ", ".join(
        f"{c} = excluded.{c}" for c in ("price", "low", "mid", "high", "market", "figures", "fetched_at")
    )

    def store(tx: Tx) -> None:
        for start in range(0, len(rows), BATCH):
            tx.run_many(
                "INSERT INTO prices (card_id, finish, source, currency, date, price, low, mid, high, market, figures,"
                " fetched_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                f" ON CONFLICT (card_id, finish, source, currency, date) DO UPDATE SET {updated}",
                rows[start : start + BATCH],
            )

    collection.write_with(store)
    return len(rows)


def _rank_sql() -> str:
    """A source's place in :data:`SOURCE_ORDER` as an SQL expression: larger is preferred."""
    cases = " ".join(f"WHEN '{name}' THEN {len(SOURCE_ORDER) - i}" for i, name in enumerate(SOURCE_ORDER))
    return f"CASE source {cases} ELSE 0 END"


def _newest_sql(dialect: str, where: str) -> str:
    """One row per (card, finish): the newest date, then the preferred source. The same answer in each
    database's fastest words: SQLite takes the bare columns of an aggregate from the row holding the
    MAX(); PostgreSQL has DISTINCT ON."""
    columns = "card_id, finish, source, date, price, low, mid, market"
    if dialect == "sqlite":
        return f"SELECT {columns}, MAX(date || ':' || ({_rank_sql()})) FROM prices {where} GROUP BY card_id, finish"
    return (
        f"SELECT DISTINCT ON (card_id, finish) {columns}, NULL FROM prices {where}"
        f" ORDER BY card_id, finish, date DESC, {_rank_sql()} DESC"
    )


def latest_prices(
    collection: CollectionStore,
    currency: str,
    on: dt.date | None = None,
    source: str | None = None,
    card_ids: Iterable[str] | None = None,
) -> dict[tuple[str, str], Price]:
    """Per (card, finish): the newest price in ``currency`` dated ``on`` or before (every date when
    None), from ``source`` or, on a tie of dates, the source first in :data:`SOURCE_ORDER`."""
    where = ["WHERE currency = ?"]
    args: list[Any] = [currency]
    if on is not None:
        where.append("AND date <= ?")
        args.append(on.isoformat())
    if source:
        where.append("AND source = ?")
        args.append(source)
    wanted = set(card_ids) if card_ids is not None else None
    if wanted is not None and not wanted:
        return {}  # (an empty IN () is an SQLite extension)
    if wanted is not None and len(wanted) <= SMALL_LOOKUP:
        # A few cards (a scan, a session): the unique index finds them without reading the table.
        where.append(f"AND card_id IN ({', '.join('?' * len(wanted))})")
        args += sorted(wanted)
    rows = collection.read_with(lambda tx: tx.tuples(_newest_sql(tx.dialect, " ".join(where)), args))
    return {
        (card_id, finish): Price(price, src, date, low, mid, market)
        for card_id, finish, src, date, price, low, mid, market, _ in rows
        if wanted is None or card_id in wanted
    }


def card_price(
    collection: CollectionStore, card_id: str, finish: str, currency: str = "USD", on: dt.date | None = None
) -> Price | None:
    """The price of one card in one finish (what a scan's match panel shows), None when unknown."""
    return latest_prices(collection, currency, on, card_ids=[card_id]).get((card_id, finish))


def price_history(collection: CollectionStore, card_id: str, finish: str) -> list[dict[str, Any]]:
    """Every stored price of one card × finish, oldest first (for a chart or a "change since")."""
    return collection.read_with(
        lambda tx: tx.rows(
            "SELECT date, source, currency, price, low, mid, high, market FROM prices"
            " WHERE card_id = ? AND finish = ? ORDER BY date, source, currency",
            (card_id, finish),
        )
    )


def currencies(collection: CollectionStore) -> list[str]:
    return sorted(str(r[0]) for r in collection.read_with(lambda tx: tx.tuples("SELECT DISTINCT currency FROM prices")))
