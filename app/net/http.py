"""One polite HTTP client: every request the app makes goes through :class:`PoliteClient`.

Polite means: a user agent naming cardsight, a timeout on every request, a rate limit shared by all
threads using the client, bounded retries with exponential backoff on 5xx answers and broken
transfers, the server's Retry-After honoured on 429 (up to a cap: a longer wait is a failure, not a
hang), and a size cap on what is read. A body shorter than its Content-Length is a broken transfer
(retried), never a result.
"""

from __future__ import annotations

import email.utils
import http.client
import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

USER_AGENT = "cardsight/1 (+https://github.com/cardsight)"
#: Read in pieces of this size, so that the size cap stops an endless body early.
_CHUNK = 256 * 1024


class HttpError(RuntimeError):
    """A request that failed for good (after the retries it deserved); ``status`` is the HTTP status
    of the last answer, None when there was none (timeout, unreachable, broken transfer)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class RequestCancelled(HttpError):
    """The caller's cancel event was set: no further attempt is made."""


class RetryableAnswer(Exception):
    """Raised by a ``check`` on an answer that is worth asking again for (e.g. an HTML error page
    served with status 200); ``wait_s`` None means the client's own backoff."""

    def __init__(self, reason: str, wait_s: float | None = None, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.wait_s = wait_s
        self.status = status


@dataclass(frozen=True)
class Answer:
    url: str
    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")


class RateLimit:
    """At most ``per_second`` request starts per second, across all threads sharing it."""

    def __init__(self, per_second: float) -> None:
        if not per_second > 0:
            raise ValueError("a rate limit must be more than 0 requests per second")
        self.interval_s = 1.0 / per_second
        self._lock = threading.Lock()
        self._next = 0.0

    def reserve(self) -> float:
        """Seconds the caller must wait before its request may start (its slot is then taken)."""
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval_s
            return start - now


#: The pokemontcg.io API (catalogue update and prices share it): it allows about 1,000 requests a day
#: without a key, far more with one; paging a set is a few requests, so a steady pace costs nothing.
POKEMONTCG_API_RATE = RateLimit(per_second=4.0)


def retry_after_s(value: str | None) -> float | None:
    """Seconds from a Retry-After header: a number or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass
class PoliteClient:
    """GET with timeouts, a shared rate limit, bounded retries, Retry-After and a size cap."""

    user_agent: str = USER_AGENT
    timeout_s: float = 20.0
    #: Tries per request in all (the first one included).
    attempts: int = 4
    #: The first backoff; it doubles on each further retry.
    backoff_s: float = 2.0
    #: The longest Retry-After honoured; a server asking for more is answered by giving up that request.
    max_wait_s: float = 120.0
    max_bytes: int = 64 * 1024 * 1024
    rate_limit: RateLimit | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    sleep: Callable[[float], None] = time.sleep

    def get(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        check: Callable[[Answer], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> Answer:
        """The answer (status 2xx) to a GET of ``url``; ``check`` may raise :class:`RetryableAnswer`
        on a 200 whose body is not what was asked for. Raises :class:`HttpError` when it fails for good."""
        last, status = "no attempt", None
        for attempt in range(1, self.attempts + 1):
            self._wait_for_slot(cancel)
            try:
                answer = self._get_once(url, {**self.headers, **(headers or {})})
                if check is not None:
                    check(answer)
                return answer
            except RetryableAnswer as retry:
                last, asked, status = retry.reason, retry.wait_s, retry.status
            if attempt == self.attempts:
                break
            wait = asked if asked is not None else self.backoff_s * 2 ** (attempt - 1)
            if wait > self.max_wait_s:
                raise HttpError(
                    f"{last}; the server asks to wait {wait:.0f} s (more than {self.max_wait_s:.0f})", status
                )
            logger.info("%s: %s; retrying in %.1f s (attempt %d of %d)", url, last, wait, attempt, self.attempts)
            self.sleep(wait)
        if cancel is not None and cancel.is_set():
            raise RequestCancelled("cancelled")
        raise HttpError(f"{last} (gave up after {self.attempts} attempts)", status)

    def _wait_for_slot(self, cancel: threading.Event | None) -> None:
        if cancel is not None and cancel.is_set():
            raise RequestCancelled("cancelled")
        delay = self.rate_limit.reserve() if self.rate_limit is not None else 0.0
        if delay > 0:
            if cancel is not None:
                cancel.wait(delay)
            else:
                time.sleep(delay)
        if cancel is not None and cancel.is_set():
            raise RequestCancelled("cancelled")

    def _get_once(self, url: str, headers: Mapping[str, str]) -> Answer:
        # A URL that is not http(s) (no scheme, file:, ftp:) or does not parse fails for good: asking
        # again would not change it, and urllib would otherwise raise a bare ValueError or read a file.
        if urllib.parse.urlsplit(url).scheme.lower() not in ("http", "https"):
            raise HttpError(f"bad URL {url!r}: not an http(s) address")
        try:
            request = urllib.request.Request(url, headers={"User-Agent": self.user_agent, **headers})
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                body = self._read(response)
                status, answer_headers = response.status, dict(response.headers.items())
        except (ValueError, http.client.InvalidURL) as error:
            raise HttpError(f"bad URL {url!r}: {error}") from error
        except urllib.error.HTTPError as error:
            raise _http_failure(error) from error
        except TimeoutError as error:
            raise RetryableAnswer(f"no answer within {self.timeout_s:g} s") from error
        except urllib.error.URLError as error:
            if isinstance(error.reason, TimeoutError):
                raise RetryableAnswer(f"no answer within {self.timeout_s:g} s") from error
            host = urllib.parse.urlsplit(url).netloc
            raise RetryableAnswer(f"cannot reach {host}: {error.reason}") from error
        except (http.client.HTTPException, ConnectionError, OSError) as error:
            raise RetryableAnswer(f"transfer broken ({type(error).__name__}: {error})") from error
        announced = answer_headers.get("Content-Length", "")
        if announced.isdigit() and int(announced) != len(body):
            raise RetryableAnswer(f"transfer broken (got {len(body)} of {announced} bytes)")
        return Answer(url, status, answer_headers, body)

    def _read(self, response: http.client.HTTPResponse) -> bytes:
        announced = response.headers.get("Content-Length", "")
        if announced.isdigit() and int(announced) > self.max_bytes:
            raise HttpError(f"the answer is {int(announced):,} bytes (more than the {self.max_bytes:,} allowed)")
        parts: list[bytes] = []
        size = 0
        while chunk := response.read(_CHUNK):
            size += len(chunk)
            if size > self.max_bytes:
                raise HttpError(f"the answer is more than the {self.max_bytes:,} bytes allowed")
            parts.append(chunk)
        return b"".join(parts)


def _http_failure(error: urllib.error.HTTPError) -> Exception:
    """A retry for 429 and 5xx (as long as the server's Retry-After says, else the backoff); an
    :class:`HttpError` for the rest (a 404 or a refused key does not get better by asking again)."""
    if error.code == 429:
        return RetryableAnswer("HTTP 429 too many requests", retry_after_s(error.headers.get("Retry-After")), 429)
    if error.code >= 500:
        wait = retry_after_s(error.headers.get("Retry-After"))
        return RetryableAnswer(f"HTTP {error.code} {error.reason}", wait, error.code)
    return HttpError(f"HTTP {error.code} {error.reason}", error.code)
