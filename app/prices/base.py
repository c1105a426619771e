"""The contract every price source keeps: it yields :class:`Quote` rows and fills a :class:`Report`.

A source knows nothing of the database; :func:`app.prices.table.store_quotes` writes what it yields.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

logger = logging.getLogger(__name__)

#: A price dated this many days before the update is counted as stale in the summary (still stored).
STALE_DAYS = 30
#: How many unmatched rows a summary lists by name (all are counted).
MAX_LISTED = 50

Progress = Callable[[str], None]


class PriceError(ValueError):
    """A clear, user-facing problem with a price source or its input; nothing was stored."""


@dataclass(frozen=True)
class Quote:
    """One price of one card in one finish, from one source, on the date the source gives for it.

    ``price`` is the figure a value is computed from (TCGplayer's market price, Cardmarket's trend);
    ``figures`` holds every number the source gave, by its own names."""

    card_id: str
    finish: str
    source: str
    currency: str
    date: str
    price: float
    figures: dict[str, float] = field(default_factory=dict)


@dataclass
class Report:
    """What one update or import did: quotes yielded, cards priced, rows it could not match, stale prices."""

    source: str
    quotes: int = 0
    cards: set[str] = field(default_factory=set)
    unmatched: list[str] = field(default_factory=list)
    unmatched_count: int = 0
    skipped: int = 0
    stale: int = 0
    newest: str = ""
    oldest: str = ""

    def add(self, quote: Quote, today: dt.date, stale_days: int = STALE_DAYS) -> None:
        self.quotes += 1
        self.cards.add(quote.card_id)
        self.newest = max(self.newest, quote.date)
        self.oldest = min(self.oldest, quote.date) if self.oldest else quote.date
        if (today - dt.date.fromisoformat(quote.date)).days > stale_days:
            self.stale += 1

    def miss(self, description: str) -> None:
        self.unmatched_count += 1
        if len(self.unmatched) < MAX_LISTED:
            self.unmatched.append(description)

    def merge(self, other: Report) -> None:
        self.quotes += other.quotes
        self.cards |= other.cards
        self.unmatched += other.unmatched[: max(0, MAX_LISTED - len(self.unmatched))]
        self.unmatched_count += other.unmatched_count
        self.skipped += other.skipped
        self.stale += other.stale
        self.newest = max(self.newest, other.newest)
        self.oldest = min(d for d in (self.oldest, other.oldest) if d) if self.oldest or other.oldest else ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "quotes": self.quotes,
            "cards_priced": len(self.cards),
            "unmatched": self.unmatched_count,
            "unmatched_rows": self.unmatched,
            "skipped": self.skipped,
            "stale": self.stale,
            "oldest_price_date": self.oldest or None,
            "newest_price_date": self.newest or None,
        }

    def summary(self) -> str:
        lines = [
            f"{self.source}: {len(self.cards)} card(s) priced ({self.quotes} price(s)), "
            f"{self.unmatched_count} unmatched, {self.stale} stale (over {STALE_DAYS} days old)"
            + (f", {self.skipped} row(s) not cards skipped" if self.skipped else "")
        ]
        if self.newest:
            lines.append(f"  price dates {self.oldest} to {self.newest}")
        lines += [f"  unmatched: {row}" for row in self.unmatched]
        if self.unmatched_count > len(self.unmatched):
            lines.append(f"  … and {self.unmatched_count - len(self.unmatched)} more unmatched")
        return "\n".join(lines)


class PriceSource(Protocol):
    """A source of quotes: ``quotes`` yields them (and fills ``report``), raising :class:`PriceError`
    for input it cannot read."""

    name: str

    def quotes(self, report: Report, progress: Progress) -> Iterator[Quote]: ...


def amount(value: Any) -> float | None:
    """A price figure as a float, or None when absent or not a finite number of 0 or more."""
    if isinstance(value, bool) or value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number >= 0 else None


def iso_date(text: str) -> str:
    """A source's date ("2024/08/04", "2024-08-04T12:00:00Z", …) as YYYY-MM-DD; PriceError when not a date."""
    head = str(text).strip()[:10].replace("/", "-")
    try:
        return dt.date.fromisoformat(head).isoformat()
    except ValueError as error:
        raise PriceError(f"{text!r} is not a date (expected YYYY/MM/DD or YYYY-MM-DD)") from error


def no_progress(message: str) -> None:
    logger.debug("%s", message)
