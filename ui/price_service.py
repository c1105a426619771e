"""Prices for the GUI, read off the GUI thread: one card's price for the match panel, valuations
(the collection, the browser's filtered rows, a session) for the browser and the kiosk.

Two worker threads, each with its own read-only connection to the collection (its file, or the shop
server it is kept on): one answers the quick questions (a card's price), the other the long ones (a
valuation, a sort of every row), so a price never waits behind a valuation, and a slow or locked
database (or an away server) delays a figure, never a frame or a click. Answers come back as Qt signals
queued to the GUI thread, each with the token of its request: a view drops an answer for a card it no
longer shows.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal, Slot

from app.collection.contract import CollectionStore
from app.collection.postgres import PostgresCollection
from app.collection.store import Collection, CollectionError
from app.prices.table import Price, card_price
from app.prices.value import DEFAULT_CONDITION_FACTORS, DEFAULT_CURRENCY, RowValue, Valuation, value_collection
from ui.inventory_sort import VALUE_COLUMNS, sort_rows

logger = logging.getLogger(__name__)

#: Questions answered on the quick thread; every other kind goes to the long one.
QUICK = frozenset({"price"})
#: What the views say when the collection is neither a file nor a shop server to read prices from.
NOT_A_FILE = "this collection keeps no prices (it is neither a collection file nor a shop server)"


@dataclass(frozen=True)
class ValueTotals:
    """What a set of inventory rows is worth: the sum of its priced rows, and what has no price."""

    value_cents: int = 0
    cards: int = 0
    unpriced_cards: int = 0
    unpriced_rows: int = 0
    sources: tuple[str, ...] = ()
    newest_date: str | None = None

    @classmethod
    def of(cls, rows: Iterable[RowValue]) -> ValueTotals:
        value = cards = unpriced_cards = unpriced_rows = 0
        sources: set[str] = set()
        newest: str | None = None
        for r in rows:
            cards += r.quantity
            if r.price is None:
                unpriced_cards += r.quantity
                unpriced_rows += 1
                continue
            value += r.value_cents or 0
            sources.add(r.price.source)
            newest = max(newest or r.price.date, r.price.date)
        return cls(value, cards, unpriced_cards, unpriced_rows, tuple(sorted(sources)), newest)


@dataclass
class BrowserValues:
    """The browser's answer: every row's value (by inventory id) and the three totals."""

    currency: str
    rows: dict[int, RowValue] = field(default_factory=dict)
    collection: ValueTotals = field(default_factory=ValueTotals)
    filtered: ValueTotals | None = None
    session: ValueTotals | None = None


class PriceService(QObject):
    """Ask with ``request_*`` (GUI thread); the answer arrives as ``answered(token, result)`` or
    ``failed(token, message)``. A newer request of the same kind replaces one not yet started."""

    answered = Signal(object, object)
    failed = Signal(object, str)
    #: Internal: (token, result, error) from the worker thread, queued to the GUI thread.
    _done = Signal(object, object, object)

    def __init__(
        self,
        collection: object,
        currency: str = DEFAULT_CURRENCY,
        factors: Mapping[str, float] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.currency = currency
        self.factors = dict(factors or DEFAULT_CONDITION_FACTORS)
        self.path = collection.path if isinstance(collection, Collection) else None
        # A shop server's collection (alone, or behind the kiosk's outbox, which hands on its url).
        url = getattr(collection, "url", None) if self.path is None else None
        self.url: str | None = url if isinstance(url, str) else None
        self.kiosk = str(getattr(collection, "kiosk", "") or "")
        #: Why this collection has no prices to show (None: it has).
        self.unavailable: str | None = None if self.path is not None or self.url else NOT_A_FILE
        self._quick = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cardsight-prices-quick")
        self._long = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cardsight-prices-long")
        self._local = threading.local()  # each worker thread's own connection (sqlite3 is per thread)
        self._waiting: dict[str, Future[None]] = {}
        self._closed = False
        self._done.connect(self._deliver, Qt.ConnectionType.QueuedConnection)

    # ------------------------------------------------------------------ GUI thread
    def request_price(self, token: object, card_id: str, finish: str) -> None:
        """``answered(token, Price | None)``: the card's newest price in this finish and currency."""
        self._submit("price", token, lambda reader: card_price(reader, card_id, finish, self.currency))

    def request_session_value(self, token: object, session_id: int) -> None:
        """``answered(token, ValueTotals)``: what session ``session_id`` added, at today's prices."""
        self._submit("session", token, lambda reader: ValueTotals.of(self._valuation(reader, session_id).rows))

    def request_browser_values(self, token: object, filters: Mapping[str, Any], session_id: int | None = None) -> None:
        """``answered(token, BrowserValues)``: each row's value, the collection's, the filtered rows'
        (when ``filters`` narrow it) and the session's (when given)."""
        wanted = dict(filters)
        self._submit("browser", token, lambda reader: self._browser_values(reader, wanted, session_id))

    def request_sorted_rows(self, token: object, filters: Mapping[str, Any], key: str, descending: bool) -> None:
        """``answered(token, list of rows)``: every inventory row under ``filters``, sorted by column
        ``key`` (see :func:`ui.inventory_sort.sort_rows`)."""
        wanted = dict(filters)
        self._submit("sort", token, lambda reader: self._sorted_rows(reader, wanted, key, descending))

    def close(self) -> None:
        """No more answers; the worker closes its connection once its current question is done."""
        if self._closed:
            return
        self._closed = True
        for future in self._waiting.values():
            future.cancel()
        for executor in (self._quick, self._long):
            executor.submit(self._close_reader)
            executor.shutdown(wait=False)

    def _submit(self, kind: str, token: object, ask: Callable[[CollectionStore], Any]) -> None:
        if self._closed:
            return
        if self.unavailable is not None:
            self.failed.emit(token, self.unavailable)
            return
        previous = self._waiting.get(kind)
        if previous is not None:
            previous.cancel()  # only if it has not started: the answer to the newer question counts
        executor = self._quick if kind in QUICK else self._long
        self._waiting[kind] = executor.submit(self._answer, token, ask)

    @Slot(object, object, object)
    def _deliver(self, token: object, result: object, error: object) -> None:
        if self._closed:
            return
        if error is not None:
            self.failed.emit(token, str(error))
        else:
            self.answered.emit(token, result)

    # ------------------------------------------------------------------ worker thread
    def _answer(self, token: object, ask: Callable[[CollectionStore], Any]) -> None:
        try:
            result, error = ask(self._open_reader()), None
        except (CollectionError, sqlite3.Error) as problem:
            logger.warning("Cannot read prices: %s", problem)
            result, error = None, f"cannot read prices: {problem}"
            self._close_reader()  # a damaged or replaced file: open afresh next time
        except Exception as problem:  # a bug: the view says so instead of waiting for ever
            logger.exception("Price lookup failed")
            result, error = None, f"price lookup failed ({type(problem).__name__}: {problem})"
        try:
            self._done.emit(token, result, error)
        except RuntimeError:
            logger.debug("Price answer dropped: the service is gone")

    def _open_reader(self) -> CollectionStore:
        reader: CollectionStore | None = getattr(self._local, "reader", None)
        if reader is None:
            if self.path is not None:
                reader = Collection(self.path, readonly=True)
            else:
                assert self.url is not None
                reader = PostgresCollection(self.url, kiosk=self.kiosk, readonly=True, pool_size=1)
            self._local.reader = reader
        return reader

    def _close_reader(self) -> None:
        reader: CollectionStore | None = getattr(self._local, "reader", None)
        if reader is not None:
            reader.close()
            self._local.reader = None

    def _valuation(self, reader: CollectionStore, session_id: int | None = None) -> Valuation:
        return value_collection(reader, self.currency, session_id=session_id, factors=self.factors)

    def _browser_values(
        self, reader: CollectionStore, filters: dict[str, Any], session_id: int | None
    ) -> BrowserValues:
        valuation = self._valuation(reader)
        rows = {r.row.id: r for r in valuation.rows}
        values = BrowserValues(self.currency, rows, ValueTotals.of(valuation.rows))
        if any(filters.values()):
            ids = {int(r["id"]) for r in reader.inventory(**filters)}
            values.filtered = ValueTotals.of(r for i, r in rows.items() if i in ids)
        if session_id is not None:
            values.session = ValueTotals.of(self._valuation(reader, session_id).rows)
        return values

    def _sorted_rows(
        self, reader: CollectionStore, filters: dict[str, Any], key: str, descending: bool
    ) -> list[dict[str, Any]]:
        rows = reader.inventory(**filters)
        values = {r.row.id: r for r in self._valuation(reader).rows} if key in VALUE_COLUMNS else None
        return sort_rows(rows, key, descending, values)


def price_line(price: Price | None, currency: str, finish: str) -> str:
    """``Market price (holo): 12.34 USD · tcgplayer, 2026-12-01``, or what to run when there is none."""
    if price is None:
        return f"No {currency} price for {finish} — run `cardsight prices update`"
    return f"Market price ({finish}): {price.price:,.2f} {currency} · {price.source}, {price.date}"
