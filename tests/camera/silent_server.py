"""A real TCP server on 127.0.0.1 that accepts connections and never answers (a hung camera stream),
and a port nothing listens on. Bounded: the server stops by itself after ``lifetime_s``."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def silent_server(lifetime_s: float = 60.0) -> Iterator[int]:
    """Yields the port; every connection is accepted and held open without a byte sent back."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.1)
    done = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        deadline = time.monotonic() + lifetime_s
        while not done.is_set() and time.monotonic() < deadline:
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(connection)

    thread = threading.Thread(target=accept, name="silent-server", daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        done.set()
        thread.join(timeout=2.0)
        for connection in held:
            connection.close()
        listener.close()


def refused_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago: connecting to it is refused."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.bind(("127.0.0.1", 0))
    port: int = probe.getsockname()[1]
    probe.close()
    return port
