"""A real HTTP server on 127.0.0.1 laid out like images.pokemontcg.io (``/<set>/<number>.png`` small,
``/<set>/<number>_hires.png`` large), serving the shared scans, with faults injected per path; and a
copy of the shipped catalogue database restricted to a few cards."""

from __future__ import annotations

import io
import re
import shutil
import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from PIL import Image

from app.catalog.database import SHIPPED_CATALOG
from tests.local_http import LocalHttpServer

#: One answer instead of the image: "404", "500", "429:<seconds>", "truncate", "stall", "html",
#: "square" (a whole picture, but not card-shaped).
Fault = str
_PATH = re.compile(r"^/(?P<set>[^/]+)/(?P<number>[^/_]+)(?P<hires>_hires)?\.png$")


@dataclass
class ImageHost:
    scans: Path
    #: URL path → faults, one per request in order ("always:<fault>" never runs out).
    faults: dict[str, list[Fault]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    stall_s: float = 3.0
    #: Set id in the URL → set whose scans answer for it (a set not shipped, served with real scans).
    aliases: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fault(self, path: str, *faults: Fault) -> None:
        self.faults.setdefault(path, []).extend(faults)

    def next_fault(self, path: str) -> Fault | None:
        with self._lock:
            self.requests.append(path)
            queue = self.faults.get(path) or []
            if not queue:
                return None
            return queue[0].removeprefix("always:") if queue[0].startswith("always:") else queue.pop(0)

    def body(self, path: str) -> bytes | None:
        """The scan (large) or a 245-px-wide JPEG of it (small), as the host's path names them."""
        match = _PATH.match(path)
        if match is None:
            return None
        set_id = self.aliases.get(match["set"], match["set"])
        scan = self.scans / set_id / f"{set_id}-{match['number']}.jpg"
        if not scan.is_file():
            return None
        if match["hires"]:
            return scan.read_bytes()
        with Image.open(scan) as image:
            small = image.convert("RGB").resize((245, 342))
        out = io.BytesIO()
        small.save(out, "JPEG", quality=85)
        return out.getvalue()


def _handler(host: ImageHost) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            fault = host.next_fault(path)
            if fault is not None:
                self._fault(fault, path)
                return
            body = host.body(path)
            if body is None:
                self._send(404, b"<html><body>404 Not Found</body></html>", "text/html")
            else:
                self._send(200, body, "image/png")

        def _send(self, status: int, body: bytes, content_type: str, **headers: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for key, value in headers.items():
                self.send_header(key.replace("_", "-"), value)
            self.end_headers()
            self.wfile.write(body)

        def _fault(self, fault: Fault, path: str) -> None:
            if fault == "404":
                self._send(404, b"<html><body>404 Not Found</body></html>", "text/html")
            elif fault == "500":
                self._send(500, b"<html><body>Internal Server Error</body></html>", "text/html")
            elif fault.startswith("429"):
                self._send(429, b"slow down", "text/plain", Retry_After=fault.split(":")[1])
            elif fault == "truncate":
                body = host.body(path) or b""
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 3])
                self.wfile.flush()
                self.connection.close()
            elif fault == "stall":
                time.sleep(host.stall_s)
            elif fault == "html":
                self._send(200, b"<!DOCTYPE html><html><body>Service unavailable</body></html>", "text/html")
            elif fault == "square":
                out = io.BytesIO()
                Image.new("RGB", (400, 400), "white").save(out, "PNG")
                self._send(200, out.getvalue(), "image/png")
            else:
                raise ValueError(fault)

    return Handler


class ImageServer(LocalHttpServer):
    """``with ImageServer(host) as server: server.base`` → ``http://127.0.0.1:<port>``."""

    def __init__(self, host: ImageHost) -> None:
        self.host = host
        super().__init__(_handler(host))

    @property
    def base(self) -> str:
        return self.url()


def catalogue_with_cards(dst: Path, cards: Mapping[str, Sequence[str]]) -> Path:
    """A copy of the shipped catalogue database whose sets in ``cards`` hold only those card ids
    (every other set keeps its cards: set names and codes stay whole)."""
    shutil.copyfile(SHIPPED_CATALOG, dst)
    conn = sqlite3.connect(dst)
    try:
        with conn:
            for set_id, keep in cards.items():
                marks = ",".join("?" * len(keep))
                conn.execute(f"DELETE FROM cards WHERE set_id = ? AND card_id NOT IN ({marks})", (set_id, *keep))
    finally:
        conn.close()
    return dst
