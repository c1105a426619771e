"""pokemontcg.io API v2 card objects: TCGplayer prices in USD by finish, Cardmarket prices in EUR.

Online (:class:`ApiSource`: ``/cards?q=set.id:…`` page by page, optional ``X-Api-Key``, through the
shared polite client :class:`app.net.http.PoliteClient`) or offline from saved response pages
(:class:`PagesSource`: JSON files holding ``{"data": [...]}`` or a list of cards).

Finishes: TCGplayer's keys name them (``reverseHolofoil`` is priced as a reverse holo, never as the
holo). Cardmarket gives one price for a card's regular printing (stored for ``normal`` and ``holo``,
whichever the card is) and a separate reverse holo trend.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.net.http import POKEMONTCG_API_RATE, HttpError, PoliteClient, RateLimit
from app.prices.base import PriceError, Progress, Quote, Report, amount, iso_date

logger = logging.getLogger(__name__)

DEFAULT_API_BASE = "https://api.pokemontcg.io/v2"
USER_AGENT = "cardsight-prices/1"
PAGE_SIZE = 250
TCGPLAYER = "tcgplayer"
CARDMARKET = "cardmarket"
#: TCGplayer's finish keys → cardsight's finishes (``app.collection.store.FINISHES``).
TCGPLAYER_FINISHES = {
    "normal": "normal",
    "holofoil": "holo",
    "reverseHolofoil": "reverse holo",
    "1stEditionHolofoil": "1st edition holo",
    "1stEditionNormal": "1st edition",
    "1stEdition": "1st edition",
    "unlimitedHolofoil": "holo",
    "unlimited": "normal",
}
#: Which figure values a card, first present wins.
TCGPLAYER_FIGURE = ("market", "mid")
CARDMARKET_REGULAR = ("trendPrice", "averageSellPrice")
CARDMARKET_REVERSE = ("reverseHoloTrend", "reverseHoloSell")
#: Retries after the first try (429, 5xx, timeouts, broken transfers).
MAX_RETRIES = 5
#: A Retry-After longer than this is not waited out: the update stops with a message instead.
MAX_RETRY_AFTER_S = 120.0


def _first(figures: dict[str, float], names: Sequence[str]) -> float | None:
    return next((figures[n] for n in names if n in figures), None)


def _figures(block: Any) -> dict[str, float]:
    if not isinstance(block, dict):
        return {}
    return {str(k): v for k, v in ((k, amount(raw)) for k, raw in block.items()) if v is not None}


def card_quotes(card: dict[str, Any]) -> list[Quote]:
    """Every price of one API card object (none when it has no price blocks)."""
    card_id = card.get("id")
    if not isinstance(card_id, str) or not card_id:
        raise PriceError("a card object has no id")
    return [*_tcgplayer_quotes(card_id, card.get("tcgplayer")), *_cardmarket_quotes(card_id, card.get("cardmarket"))]


def _tcgplayer_quotes(card_id: str, block: Any) -> list[Quote]:
    if not isinstance(block, dict) or not isinstance(block.get("prices"), dict) or not block.get("updatedAt"):
        return []
    date = iso_date(block["updatedAt"])
    quotes = []
    for key, raw in block["prices"].items():
        finish = TCGPLAYER_FINISHES.get(key)
        figures = _figures(raw)
        price = _first(figures, TCGPLAYER_FIGURE)
        if finish is None or price is None:
            logger.debug(
                "%s: TCGplayer %s not used (%s)", card_id, key, "unknown finish" if finish is None else "no price"
            )
            continue
        quotes.append(Quote(card_id, finish, TCGPLAYER, "USD", date, price, figures))
    return quotes


def _cardmarket_quotes(card_id: str, block: Any) -> list[Quote]:
    if not isinstance(block, dict) or not isinstance(block.get("prices"), dict) or not block.get("updatedAt"):
        return []
    date = iso_date(block["updatedAt"])
    figures = _figures(block["prices"])
    quotes = []
    regular = _first(figures, CARDMARKET_REGULAR)
    if regular is not None:
        quotes += [Quote(card_id, f, CARDMARKET, "EUR", date, regular, figures) for f in ("normal", "holo")]
    reverse = _first(figures, CARDMARKET_REVERSE)
    if reverse is not None:
        quotes.append(Quote(card_id, "reverse holo", CARDMARKET, "EUR", date, reverse, figures))
    return quotes


def page_cards(payload: Any, where: str) -> list[dict[str, Any]]:
    """The card objects of one response page (``{"data": [...]}``) or a saved list of cards."""
    cards = payload.get("data") if isinstance(payload, dict) else payload
    if not isinstance(cards, list) or not all(isinstance(c, dict) for c in cards):
        raise PriceError(f'{where} is not a pokemontcg.io card page (expected {{"data": [card, …]}})')
    return cards


def _quotes_of(cards: list[dict[str, Any]], where: str, report: Report, today: dt.date) -> Iterator[Quote]:
    for card in cards:
        try:
            quotes = card_quotes(card)
        except PriceError as error:
            raise PriceError(f"{where}: {error}") from error
        if not quotes:
            report.miss(f"{card.get('id')} ({card.get('name', '?')}): no prices")
        for quote in quotes:
            report.add(quote, today)
            yield quote


@dataclass
class PagesSource:
    """Saved API response pages (JSON files), read offline."""

    files: Sequence[Path]
    today: dt.date | None = None
    name: str = "pokemontcg.io pages"

    def quotes(self, report: Report, progress: Progress) -> Iterator[Quote]:
        today = self.today or dt.date.today()
        for number, path in enumerate(self.files, 1):
            progress(f"{path.name} ({number}/{len(self.files)})")
            yield from _quotes_of(page_cards(_read_json(path), str(path)), str(path), report, today)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except OSError as error:
        raise PriceError(f"cannot read {path}: {error.strerror or error}") from error
    except ValueError as error:
        raise PriceError(f"{path} is not JSON ({error})") from error


Sleep = Callable[[float], None]


@dataclass
class ApiSource:
    """The live API: every card of the given sets (all cards when none), page by page."""

    api_base: str = DEFAULT_API_BASE
    sets: Sequence[str] = ()
    api_key: str = ""
    timeout_s: float = 30.0
    backoff_s: float = 1.0
    sleep: Sleep = time.sleep
    today: dt.date | None = None
    name: str = "pokemontcg.io"
    rate_limit: RateLimit | None = POKEMONTCG_API_RATE

    def quotes(self, report: Report, progress: Progress) -> Iterator[Quote]:
        today = self.today or dt.date.today()
        for query in [f"set.id:{s}" for s in self.sets] or [""]:
            yield from self._query(query, report, progress, today)

    def _query(self, query: str, report: Report, progress: Progress, today: dt.date) -> Iterator[Quote]:
        page, seen = 1, 0
        while True:
            url = self.page_url(query, page)
            payload = self._get_json(url)
            cards = page_cards(payload, f"page {page} of {url}")
            total = payload.get("totalCount") if isinstance(payload, dict) else None
            seen += len(cards)
            progress(
                f"{query or 'all cards'}: page {page}, {seen}"
                + (f" of {total}" if isinstance(total, int) else "")
                + " card(s)"
            )
            yield from _quotes_of(cards, f"page {page} of {url}", report, today)
            if not cards or len(cards) < PAGE_SIZE or (isinstance(total, int) and seen >= total):
                return
            page += 1

    def page_url(self, query: str, page: int) -> str:
        params = {"page": str(page), "pageSize": str(PAGE_SIZE)}
        if query:
            params["q"] = query
        return f"{self.api_base.rstrip('/')}/cards?{urllib.parse.urlencode(params)}"

    def _get_json(self, url: str) -> Any:
        body = self._get(url)
        try:
            return json.loads(body)
        except ValueError as error:
            raise PriceError(f"{url} answered with something that is not JSON ({error}); nothing was stored") from error

    def _get(self, url: str) -> bytes:
        """The body of a 2xx answer, through the shared polite client (waits on 429 as Retry-After
        says, backs off on 5xx, timeouts and broken transfers, up to :data:`MAX_RETRIES` retries)."""
        headers = {"Accept": "application/json"}
        if self.api_key:
            headers["X-Api-Key"] = self.api_key
        client = PoliteClient(
            user_agent=USER_AGENT,
            timeout_s=self.timeout_s,
            attempts=MAX_RETRIES + 1,
            backoff_s=self.backoff_s,
            max_wait_s=MAX_RETRY_AFTER_S,
            rate_limit=self.rate_limit,
            sleep=self.sleep,
        )
        try:
            return client.get(url, headers=headers).body
        except HttpError as error:
            raise PriceError(f"{url}: {error}{_hint(error.status)}; nothing was stored") from error


def _hint(status: int | None) -> str:
    if status in (401, 403):
        return " (check the API key)"
    if status == 429:
        return "; try again later (an API key raises the limit)"
    return ""
