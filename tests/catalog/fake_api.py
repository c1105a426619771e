"""A real HTTP server on 127.0.0.1 that answers like the pokemontcg.io API v2, from the shared
metadata, with faults injected per request."""

from __future__ import annotations

import json
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from tests.local_http import LocalHttpServer

#: A fault answers one request instead of the data: "404", "500", "429:<seconds>", "truncate",
#: "stall", "html", "badjson".
Fault = str


@dataclass
class ApiData:
    sets: list[dict[str, Any]]
    cards: dict[str, list[dict[str, Any]]]
    #: (path, set id or "") → faults, used one per request in order ("always:<fault>" never runs out).
    faults: dict[tuple[str, str], list[Fault]] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str], dict[str, str]]] = field(default_factory=list)
    stall_s: float = 3.0

    @classmethod
    def from_metadata(cls, root: Path, set_ids: list[str] | None = None) -> ApiData:
        sets = json.loads((root / "sets" / "en.json").read_text(encoding="utf-8"))
        if set_ids is not None:
            sets = [s for s in sets if s["id"] in set_ids]
        cards = {s["id"]: json.loads((root / "cards" / "en" / f"{s['id']}.json").read_text()) for s in sets}
        return cls(sets, cards)

    def add_set(self, record: dict[str, Any], cards: list[dict[str, Any]]) -> None:
        self.sets.append(record)
        self.cards[record["id"]] = cards

    def next_fault(self, path: str, set_id: str) -> Fault | None:
        queue = self.faults.get((path, set_id)) or []
        if not queue:
            return None
        if queue[0].startswith("always:"):
            return queue[0].removeprefix("always:")
        return queue.pop(0)

    def card_requests(self) -> list[str]:
        return [params.get("q", "") for path, params, _ in self.requests if path.endswith("/cards")]


def _handler(data: ApiData) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            params = dict(urllib.parse.parse_qsl(url.query))
            data.requests.append((url.path, params, dict(self.headers)))
            set_id = params.get("q", "").removeprefix("set.id:")
            fault = data.next_fault(url.path, set_id)
            if fault is not None:
                self._fault(fault)
                return
            if url.path == "/v2/sets":
                records = data.sets
            elif url.path == "/v2/cards" and set_id in data.cards:
                records = data.cards[set_id]
            else:
                self._send(404, b'{"error": {"message": "Not Found", "code": 404}}')
                return
            page, size = int(params.get("page", 1)), int(params.get("pageSize", 250))
            chunk = records[(page - 1) * size : page * size]
            body = {"data": chunk, "page": page, "pageSize": size, "count": len(chunk), "totalCount": len(records)}
            self._send(200, json.dumps(body).encode())

        def _send(self, status: int, body: bytes, content_type: str = "application/json", **headers: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for key, value in headers.items():
                self.send_header(key.replace("_", "-"), value)
            self.end_headers()
            self.wfile.write(body)

        def _fault(self, fault: Fault) -> None:
            if fault == "404":
                self._send(404, b'{"error": {"message": "Not Found", "code": 404}}')
            elif fault == "500":
                self._send(500, b"<html><body>Internal Server Error</body></html>", "text/html")
            elif fault.startswith("429"):
                self._send(429, b'{"error": "rate limited"}', Retry_After=fault.split(":")[1])
            elif fault == "truncate":
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "100000")
                self.end_headers()
                self.wfile.write(b'{"data": [{"id": "x"')
                self.wfile.flush()
            elif fault == "stall":
                time.sleep(data.stall_s)
            elif fault == "html":
                self._send(200, b"<!DOCTYPE html><html><body>Service unavailable</body></html>", "text/html")
            elif fault == "badjson":
                self._send(200, b'{"data": [{"id": "sv1-1", "name": }')
            else:
                raise ValueError(fault)

    return Handler


class FakeApi(LocalHttpServer):
    """``with FakeApi(data) as api: api.base`` → ``http://127.0.0.1:<port>/v2``."""

    def __init__(self, data: ApiData) -> None:
        self.data = data
        super().__init__(_handler(data))

    @property
    def base(self) -> str:
        return self.url("/v2")


def faults_for(data: ApiData, path: str, set_id: str, *faults: Fault) -> None:
    data.faults.setdefault((path, set_id), []).extend(faults)
