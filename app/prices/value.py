"""What the collection is worth: each inventory row valued by its own finish and a condition factor,
totals per set, for a session or the whole collection, in one currency, on a date.

A row's value is price × condition factor × quantity, rounded to the cent; every total is the sum of
its rows' cents, so totals always add up. A row whose card × finish has no price in the currency
is *unpriced*: counted and listed, never valued as 0.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from app.collection.contract import CollectionStore
from app.collection.sql import Tx
from app.collection.store import CONDITIONS, CollectionError
from app.prices.table import Price, latest_prices

logger = logging.getLogger(__name__)

#: Share of the Near Mint price a card in each condition is worth (TCGplayer-style steps).
DEFAULT_CONDITION_FACTORS: dict[str, float] = {"NM": 1.0, "LP": 0.85, "MP": 0.70, "HP": 0.50, "DMG": 0.30}
DEFAULT_CURRENCY = "USD"


def parse_factors(text: str) -> dict[str, float]:
    """``"LP=0.8,MP=0.6"`` over the defaults; a CollectionError naming the bad part otherwise."""
    factors = dict(DEFAULT_CONDITION_FACTORS)
    for part in filter(None, (p.strip() for p in text.split(","))):
        condition, _, number = part.partition("=")
        condition = condition.strip().upper()
        if condition not in CONDITIONS:
            raise CollectionError(f"condition factor {part!r}: unknown condition (one of: {', '.join(CONDITIONS)})")
        try:
            factor = float(number)
        except ValueError:
            factor = -1.0
        if not 0.0 <= factor <= 1.0:
            raise CollectionError(f"condition factor {part!r}: the factor must be a number from 0 to 1")
        factors[condition] = factor
    return factors


def parse_day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError as error:
        raise CollectionError(f"{text!r} is not a date (expected YYYY-MM-DD)") from error


def cents(price: float, factor: float, quantity: int) -> int:
    return round(price * factor * quantity * 100)


class Holding(NamedTuple):
    """One inventory row as a valuation reads it, with the quantity held (now, on a date, or by a session)."""

    id: int
    card_id: str
    finish: str
    condition: str
    language: str
    location: str
    quantity: int
    name: str | None
    set_id: str | None
    set_name: str | None
    number: str | None


@dataclass(slots=True)
class RowValue:
    row: Holding
    factor: float
    price: Price | None

    @property
    def quantity(self) -> int:
        return self.row.quantity

    @property
    def value_cents(self) -> int | None:
        return None if self.price is None else cents(self.price.price, self.factor, self.quantity)

    def as_dict(self) -> dict[str, Any]:
        keys = ("id", "card_id", "name", "set_id", "set_name", "number", "finish", "condition", "language", "location")
        value = self.value_cents
        return {
            **{k: getattr(self.row, k) for k in keys},
            "quantity": self.quantity,
            "unit_price": self.price.price if self.price else None,
            "condition_factor": self.factor,
            "value": None if value is None else value / 100,
            "price_source": self.price.source if self.price else None,
            "price_date": self.price.date if self.price else None,
        }


@dataclass
class SetTotal:
    set_id: str
    set_name: str
    cards: int = 0
    unpriced_cards: int = 0
    value_cents: int = 0


@dataclass
class Valuation:
    currency: str
    on: dt.date | None
    source: str | None
    factors: dict[str, float]
    rows: list[RowValue] = field(default_factory=list)

    @property
    def priced(self) -> list[RowValue]:
        return [r for r in self.rows if r.price is not None]

    @property
    def unpriced(self) -> list[RowValue]:
        return [r for r in self.rows if r.price is None]

    @property
    def total_cents(self) -> int:
        return sum(r.value_cents or 0 for r in self.rows)

    @property
    def cards(self) -> int:
        return sum(r.quantity for r in self.rows)

    def sets(self) -> list[SetTotal]:
        totals: dict[str, SetTotal] = {}
        for r in self.rows:
            key = r.row.set_id or ""
            total = totals.setdefault(key, SetTotal(key, r.row.set_name or ""))
            total.cards += r.quantity
            if r.price is None:
                total.unpriced_cards += r.quantity
            else:
                total.value_cents += r.value_cents or 0
        return sorted(totals.values(), key=lambda t: t.set_id)

    def sources(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in self.priced:
            assert r.price is not None
            counts[r.price.source] = counts.get(r.price.source, 0) + 1
        return counts

    def price_dates(self) -> tuple[str, str] | None:
        dates = [r.price.date for r in self.priced if r.price is not None]
        return (min(dates), max(dates)) if dates else None

    def as_dict(self) -> dict[str, Any]:
        dates = self.price_dates()
        return {
            "currency": self.currency,
            "on": self.on.isoformat() if self.on else None,
            "source": self.source,
            "condition_factors": self.factors,
            "total": self.total_cents / 100,
            "cards": self.cards,
            "priced_cards": sum(r.quantity for r in self.priced),
            "unpriced_cards": sum(r.quantity for r in self.unpriced),
            "price_sources": self.sources(),
            "oldest_price_date": dates[0] if dates else None,
            "newest_price_date": dates[1] if dates else None,
            "sets": [
                {
                    "set_id": s.set_id,
                    "set_name": s.set_name,
                    "cards": s.cards,
                    "unpriced_cards": s.unpriced_cards,
                    "value": s.value_cents / 100,
                }
                for s in self.sets()
            ],
            "rows": [r.as_dict() for r in self.rows],
            "unpriced": [r.as_dict() for r in self.unpriced],
        }


def holdings(collection: CollectionStore, on: dt.date | None = None, session_id: int | None = None) -> list[Holding]:
    """Inventory rows with the quantity held: now, or at the end of day ``on`` (UTC, replayed from the
    change log, undo included); only what session ``session_id`` added when given."""
    if on is None and session_id is None:
        return _all_rows(collection, "WHERE i.quantity > 0")
    end = (on + dt.timedelta(days=1)).isoformat() if on else "9999"
    sql = [
        "SELECT ch.inventory_id, SUM(ch.delta) FROM inventory_changes ch JOIN actions a ON a.id = ch.action_id",
        "JOIN scans s ON s.id = ch.scan_id" if session_id is not None else "",
        "WHERE a.time < ? AND (a.undone = 0 OR a.undone_at >= ?)",
        "AND s.session_id = ?" if session_id is not None else "",
        "GROUP BY ch.inventory_id HAVING SUM(ch.delta) > 0",
    ]
    args: list[Any] = [end, end] + ([session_id] if session_id is not None else [])

    def read(tx: Tx) -> tuple[dict[int, int], bool]:
        counts = {int(r[0]): int(r[1]) for r in tx.tuples(" ".join(sql), args)}
        known = session_id is None or tx.one("SELECT 1 AS x FROM sessions WHERE id = ?", (session_id,)) is not None
        return counts, known

    counts, known = collection.read_with(read)
    if not known:
        raise CollectionError(f"no session {session_id}")
    rows = []
    for r in _all_rows(collection):
        held = counts.get(r.id, 0)
        if on is None:
            # A session's share of a row edited down since is at most what the row holds now.
            held = min(held, r.quantity)
        if held > 0:
            rows.append(r._replace(quantity=held))
    return rows


def _all_rows(collection: CollectionStore, where: str = "") -> list[Holding]:
    """Inventory rows with the card metadata a valuation shows, oldest row first (totals are per set)."""
    rows = collection.read_with(
        lambda tx: tx.tuples(
            "SELECT i.id, i.card_id, i.finish, i.condition, i.language, i.location, i.quantity, c.name, c.set_id,"
            f" c.set_name, c.number FROM inventory i JOIN cards c ON c.card_id = i.card_id {where} ORDER BY i.id"
        )
    )
    return [Holding._make(r) for r in rows]


def value_collection(
    collection: CollectionStore,
    currency: str = DEFAULT_CURRENCY,
    on: dt.date | None = None,
    session_id: int | None = None,
    source: str | None = None,
    factors: Mapping[str, float] | None = None,
) -> Valuation:
    """The value of the collection (or a session's cards) in ``currency`` at the prices known on ``on``
    (the newest when None) and, with ``on``, the cards held that day."""
    factors = dict(factors or DEFAULT_CONDITION_FACTORS)
    currency = currency.strip().upper()
    rows = holdings(collection, on, session_id)
    prices = latest_prices(collection, currency, on, source, card_ids={r.card_id for r in rows})
    valuation = Valuation(currency, on, source, factors)
    valuation.rows = [RowValue(r, factors.get(r.condition, 1.0), prices.get((r.card_id, r.finish))) for r in rows]
    return valuation


def money(value_cents: int, currency: str) -> str:
    return f"{value_cents / 100:,.2f} {currency}"


def describe(valuation: Valuation, what: str, list_unpriced: int = 20) -> str:
    """The valuation as text: total with its sources and dates, per set, then the unpriced cards."""
    v = valuation
    dates = v.price_dates()
    sources = ", ".join(f"{name} ({n} row(s))" for name, n in sorted(v.sources().items())) or "none"
    when = f" on {v.on.isoformat()}" if v.on else ""
    lines = [
        f"{what}{when}: {money(v.total_cents, v.currency)} for {v.cards - sum(r.quantity for r in v.unpriced)}"
        f" of {v.cards} card(s)",
        f"  prices: {sources}" + (f", dated {dates[0]} to {dates[1]}" if dates else ""),
        "  condition factors: " + ", ".join(f"{c} {f:g}" for c, f in v.factors.items()),
    ]
    for s in v.sets():
        missing = f" ({s.unpriced_cards} unpriced)" if s.unpriced_cards else ""
        lines.append(
            f"  {s.set_id or '?':12} {s.set_name[:24]:24} {s.cards:6} card(s)"
            f" {money(s.value_cents, v.currency):>16}{missing}"
        )
    unpriced = v.unpriced
    if unpriced:
        lines.append(
            f"  {sum(r.quantity for r in unpriced)} card(s) in {len(unpriced)} row(s) have no {v.currency} price"
            f"{' from ' + v.source if v.source else ''} and are not in the total:"
        )
        for r in unpriced[:list_unpriced]:
            lines.append(f"    {r.quantity} × {r.row.card_id} {r.row.name or ''} ({r.row.finish}, {r.row.condition})")
        if len(unpriced) > list_unpriced:
            lines.append(f"    … and {len(unpriced) - list_unpriced} more row(s) (--json lists all)")
    return "\n".join(lines)
