"""``cardsight catalog update``: new sets and cards from the pokemontcg.io API v2 into the user's copy.

Only this module talks to the API, through the shared :class:`app.net.http.PoliteClient`, and only
when the user runs the command. It is polite: every request has a timeout and keeps a steady pace,
429 answers wait the server's Retry-After (bounded), 5xx answers and broken transfers back off and
retry a few times, and one failing set never stops the others.
Each set is written in its own transaction, so an interrupted update keeps the sets it finished and
the next run fetches only what is still missing or changed (resumable).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.catalog.database import SHIPPED_CATALOG, CatalogDatabaseError, set_row, store_set, writable_copy
from app.net.http import POKEMONTCG_API_RATE, Answer, HttpError, PoliteClient, RateLimit, RetryableAnswer

logger = logging.getLogger(__name__)

DEFAULT_API_BASE = "https://api.pokemontcg.io/v2"
PAGE_SIZE = 250
USER_AGENT = "cardsight-catalog-update/1"


class ApiError(RuntimeError):
    """A request that failed for good (after the retries it deserved)."""


@dataclass
class UpdateReport:
    sets_seen: int = 0
    sets_added: list[str] = field(default_factory=list)
    sets_updated: list[str] = field(default_factory=list)
    sets_current: int = 0
    cards_before: int = 0
    cards_after: int = 0
    #: (set id or "sets", reason): what could not be fetched this time.
    failed: list[tuple[str, str]] = field(default_factory=list)

    def summary(self, path: Path) -> str:
        lines = [
            f"Catalogue {path}: {self.sets_seen} set(s) listed by the API, {len(self.sets_added)} new, "
            f"{len(self.sets_updated)} updated, {self.sets_current} already current; "
            f"{self.cards_before} → {self.cards_after} cards"
        ]
        if self.sets_added:
            lines.append(f"New sets: {', '.join(self.sets_added)}")
        if self.sets_updated:
            lines.append(f"Updated sets: {', '.join(self.sets_updated)}")
        for what, reason in self.failed:
            lines.append(f"Failed: {what}: {reason}")
        if self.failed:
            lines.append("Run `cardsight catalog update` again later: finished sets are kept, the rest is retried.")
        return "\n".join(lines)


@dataclass
class ApiClient:
    """GET JSON from the API through the shared polite client (timeouts, bounded retries, Retry-After)."""

    base: str = DEFAULT_API_BASE
    api_key: str | None = None
    timeout_s: float = PoliteClient.timeout_s
    attempts: int = PoliteClient.attempts
    backoff_s: float = PoliteClient.backoff_s
    max_wait_s: float = PoliteClient.max_wait_s
    sleep: Callable[[float], None] = time.sleep
    rate_limit: RateLimit | None = POKEMONTCG_API_RATE

    def url(self, path: str, params: dict[str, Any] | None = None) -> str:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        return f"{self.base.rstrip('/')}/{path.lstrip('/')}{query}"

    def http(self) -> PoliteClient:
        return PoliteClient(
            user_agent=USER_AGENT,
            timeout_s=self.timeout_s,
            attempts=self.attempts,
            backoff_s=self.backoff_s,
            max_wait_s=self.max_wait_s,
            rate_limit=self.rate_limit,
            sleep=self.sleep,
        )

    def get_json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        headers = {"Accept": "application/json"}
        if self.api_key:
            headers["X-Api-Key"] = self.api_key
        try:
            answer = self.http().get(self.url(path, params), headers=headers, check=_check_json)
        except HttpError as error:
            hint = " (check --api-key)" if error.status in (401, 403) else ""
            raise ApiError(f"{error}{hint}") from error
        return json.loads(answer.body.decode("utf-8"))


def _check_json(answer: Answer) -> None:
    """An HTML page or broken JSON (a proxy's or captive portal's answer) is asked for again."""
    try:
        json.loads(answer.body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        kind = "an HTML page" if b"<html" in answer.body[:512].lower() else f"malformed JSON ({error})"
        raise RetryableAnswer(
            f"the answer was {kind}, not JSON (Content-Type {answer.content_type or 'none'})"
        ) from error


def _page_data(page: Any, what: str) -> tuple[list[dict[str, Any]], int | None]:
    if not isinstance(page, dict) or not isinstance(page.get("data"), list):
        raise ApiError(f"{what}: the answer has no `data` list")
    total = page.get("totalCount")
    return [item for item in page["data"] if isinstance(item, dict)], total if isinstance(total, int) else None


def fetch_all(client: ApiClient, path: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every record of a paged listing (``page``/``pageSize``, until ``totalCount`` or a short page)."""
    records: list[dict[str, Any]] = []
    page = 1
    while True:
        answer = client.get_json(path, {**(params or {}), "page": page, "pageSize": PAGE_SIZE})
        data, total = _page_data(answer, f"{path} page {page}")
        records.extend(data)
        if not data or len(data) < PAGE_SIZE or (total is not None and len(records) >= total):
            return records
        page += 1


def _stored_sets(conn: sqlite3.Connection) -> dict[str, tuple[str | None, int]]:
    """Set id → (updatedAt, cards stored)."""
    counts = dict(conn.execute("SELECT set_id, count(*) FROM cards GROUP BY set_id").fetchall())
    return {sid: (updated, counts.get(sid, 0)) for sid, updated in conn.execute("SELECT set_id, updated_at FROM sets")}


def _needs_fetch(record: dict[str, Any], stored: tuple[str | None, int] | None) -> bool:
    if stored is None:
        return True
    updated_at, count = stored
    total = record.get("total")
    return record.get("updatedAt") != updated_at or (isinstance(total, int) and count < total)


def update_catalog(
    client: ApiClient,
    path: Path,
    source: Path = SHIPPED_CATALOG,
    progress: Callable[[str], None] | None = None,
) -> UpdateReport:
    """Merge the API's sets and cards into the user copy at ``path`` (made from ``source`` first)."""
    say = progress or (lambda message: logger.info("%s", message))
    report = UpdateReport()
    with writable_copy(path, source) as conn:
        report.cards_before = report.cards_after = conn.execute("SELECT count(*) FROM cards").fetchone()[0]
        try:
            sets = fetch_all(client, "sets")
        except ApiError as error:
            report.failed.append(("the set list", str(error)))
            return report
        report.sets_seen = len(sets)
        stored = _stored_sets(conn)
        for record in sets:
            try:
                set_id = set_row(record)[0]
            except (KeyError, TypeError) as error:
                report.failed.append((f"set record {str(record)[:60]}", f"malformed ({error})"))
                continue
            if not _needs_fetch(record, stored.get(set_id)):
                report.sets_current += 1
                continue
            say(f"Fetching {set_id} ({record.get('name')})…")
            failure = _update_set(client, conn, record, set_id)
            if failure:
                report.failed.append((set_id, failure))
                continue
            (report.sets_updated if set_id in stored else report.sets_added).append(set_id)
        report.cards_after = conn.execute("SELECT count(*) FROM cards").fetchone()[0]
    return report


def _update_set(client: ApiClient, conn: sqlite3.Connection, record: dict[str, Any], set_id: str) -> str | None:
    """Fetch and store one set in one transaction; the failure's reason, or None."""
    try:
        cards = fetch_all(client, "cards", {"q": f"set.id:{set_id}"})
    except ApiError as error:
        return str(error)
    try:
        with conn:
            store_set(conn, record, cards)
    except (KeyError, TypeError, AttributeError) as error:
        return f"malformed card record ({error}); nothing of this set was stored"
    except sqlite3.Error as error:
        raise CatalogDatabaseError(f"cannot write the catalogue: {error}") from error
    total = record.get("total")
    if isinstance(total, int) and len(cards) < total:
        # What came is kept; the next update fetches the set again (fewer cards than its total).
        return f"incomplete: the API listed {len(cards)} of the set's {total} cards"
    return None
