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

from app.collection.store import Collection
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


def run_source(collection: Collection, source: PriceSource, progress: Progress = no_progress) -> Report:
    """Read everything the source yields first, then store it in one transaction: a source that fails
    midway (a malformed page, a lost connection) stores nothing."""
    report = Report(source.name)
    quotes = list(source.quotes(report, progress))
    store_quotes(collection, quotes)
    return report


def store_quotes(collection: Collection, quotes: Iterable[Quote]) -> int:
    fetched_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
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
    with collection.write() as conn:
        for start in range(0, len(rows), BATCH):
            conn.executemany(
                "INSERT OR REPLACE INTO prices (card_id, finish, source, currency, date, price, low, mid, high,"
                " market, figures, fetched_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows[start : start + BATCH],
            )
    return len(rows)


def _rank_sql() -> str:
    """A source's place in :data:`SOURCE_ORDER` as an SQL expression: larger is preferred."""
    cases = " ".join(f"WHEN '{name}' THEN {len(SOURCE_ORDER) - i}" for i, name in enumerate(SOURCE_ORDER))
    return f"CASE source {cases} ELSE 0 END"


def latest_prices(
    collection: Collection,
    currency: str,
    on: dt.date | None = None,
    source: str | None = None,
    card_ids: Iterable[str] | None = None,
) -> dict[tuple[str, str], Price]:
    """Per (card, finish): the newest price in ``currency`` dated ``on`` or before (every date when
    None), from ``source`` or, on a tie of dates, the source first in :data:`SOURCE_ORDER`."""
    # SQLite takes the bare columns of an aggregate query from the row holding the MAX().
    sql = [
        "SELECT card_id, finish, source, date, price, low, mid, market,",
        f"MAX(date || ':' || ({_rank_sql()})) FROM prices WHERE currency = ?",
    ]
    args: list[Any] = [currency]
    if on is not None:
        sql.append("AND date <= ?")
        args.append(on.isoformat())
    if source:
        sql.append("AND source = ?")
        args.append(source)
    wanted = set(card_ids) if card_ids is not None else None
    if wanted is not None and len(wanted) <= SMALL_LOOKUP:
        # A few cards (a scan, a session): the unique index finds them without reading the table.
        sql.append(f"AND card_id IN ({', '.join('?' * len(wanted))})")
        args += sorted(wanted)
    sql.append("GROUP BY card_id, finish")
    cursor = collection.conn.cursor()
    cursor.row_factory = None
    return {
        (card_id, finish): Price(price, src, date, low, mid, market)
        for card_id, finish, src, date, price, low, mid, market, _ in cursor.execute(" ".join(sql), args)
        if wanted is None or card_id in wanted
    }


def card_price(
    collection: Collection, card_id: str, finish: str, currency: str = "USD", on: dt.date | None = None
) -> Price | None:
    """The price of one card in one finish (what a scan's match panel shows), None when unknown."""
    return latest_prices(collection, currency, on, card_ids=[card_id]).get((card_id, finish))


def price_history(collection: Collection, card_id: str, finish: str) -> list[dict[str, Any]]:
    """Every stored price of one card × finish, oldest first (for a chart or a "change since")."""
    return [
        dict(r)
        for r in collection.conn.execute(
            "SELECT date, source, currency, price, low, mid, high, market FROM prices"
            " WHERE card_id = ? AND finish = ? ORDER BY date, source, currency",
            (card_id, finish),
        )
    ]


def currencies(collection: Collection) -> list[str]:
    return [str(r[0]) for r in collection.conn.execute("SELECT DISTINCT currency FROM prices ORDER BY 1")]
