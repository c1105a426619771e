"""A real local HTTP server playing the pokemontcg.io API from fixture pages, with injected faults."""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

# The collection on each backend in turn (an SQLite file, a shop server database): prices live in it.
from tests.collection.conftest import backend, collection, collection_address  # noqa: F401
from tests.local_http import LocalHttpServer


def priced_cards(set_id: str, count: int, updated: str = "2026/12/01") -> list[dict[str, Any]]:
    """``count`` cards of a set, each with a holo and a reverse holo price (card i: i + 1 and (i + 1) / 10)."""
    return [
        {
            "id": f"{set_id}-{i + 1}",
            "name": f"Card {i + 1}",
            "tcgplayer": {
                "updatedAt": updated,
                "prices": {"holofoil": {"market": float(i + 1)}, "reverseHolofoil": {"market": (i + 1) / 10}},
            },
        }
        for i in range(count)
    ]


Fault = Callable[["FakeApi", dict[str, list[str]]], tuple[int, dict[str, str], bytes] | None]


@dataclass
class FakeApi:
    """Cards by set; ``faults`` answer instead of the pages while they return something."""

    cards: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    page_size: int | None = None

    def answer(self, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        parsed = urllib.parse.urlparse(path)
        query = urllib.parse.parse_qs(parsed.query)
        self.requests.append((path, headers))
        for fault in self.faults:
            result = fault(self, query)
            if result is not None:
                return result
        if parsed.path != "/v2/cards":
            return 404, {}, b'{"error": "not found"}'
        q = query.get("q", [""])[0]
        cards = self.cards.get(q.removeprefix("set.id:"), []) if q else [c for s in self.cards.values() for c in s]
        page, size = int(query["page"][0]), self.page_size or int(query["pageSize"][0])
        chunk = cards[(page - 1) * size : page * size]
        body = {"data": chunk, "page": page, "pageSize": size, "count": len(chunk), "totalCount": len(cards)}
        return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()


@pytest.fixture
def fake_api() -> Iterator[tuple[FakeApi, str]]:
    api = FakeApi()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, headers, body = api.answer(self.path, dict(self.headers.items()))
            # Fault switches, not sent: a stall before answering, a body shorter than announced.
            time.sleep(float(headers.pop("X-Stall", "0")))
            length = headers.pop("X-Announced-Length", str(len(body)))
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", length)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            pass

    with LocalHttpServer(Handler) as server:
        yield api, server.url("/v2")


def price_rows(store: Any) -> int:
    return int(store.read_with(lambda tx: tx.tuples("SELECT COUNT(*) FROM prices"))[0][0])
