"""A real HTTP server on 127.0.0.1 (a free port) for the tests of everything that downloads: the
catalogue API, card images, prices and the polite client. Requests are served on threads of their
own, so a stalled answer never blocks the next test's requests."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LocalHttpServer:
    """``with LocalHttpServer(Handler) as server: server.url("/v2")``; ``close()`` is idempotent."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.http = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.http.daemon_threads = True
        self._thread = threading.Thread(target=self.http.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        self._closed = False

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.http.server_address[1]}{path}"

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.http.shutdown()
        self.http.server_close()
        self._thread.join(5)

    def __enter__(self) -> LocalHttpServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
