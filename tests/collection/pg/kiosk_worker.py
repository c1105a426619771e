"""One kiosk process for the multi-kiosk tests and bench/shop.py.

``python -m tests.collection.pg.kiosk_worker scan URL OUTBOX KIOSK N [WAIT_S]`` records N auto-added scans
(cycling over the test cards, one in five unknown) through the outbox wrapper, then waits (up to
WAIT_S, default 120) until the outbox is sent and prints one JSON line: scans recorded, seconds,
how many were queued offline.
``… sync URL OUTBOX KIOSK`` replays an outbox and prints how many operations it sent.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from app.collection.open import open_collection
from app.collection.store import InventoryKey, ScanRecord

logger = logging.getLogger(__name__)

#: The cards the kiosks scan (ids as in tests/collection/conftest.py, which mypy's bench run must not
#: pull in).
CARDS: list[dict[str, Any]] = [
    {"card_id": card_id, "name": name, "set_id": card_id.split("-")[0], "number": card_id.split("-")[1]}
    for card_id, name in (
        ("sv3pt5-25", "Pikachu"),
        ("sv3pt5-29", "Nidoran ♀"),
        ("xy12-1", "Venusaur-EX"),
        ("sv5-10", "Card ten"),
        ("xy12-2", "Flabébé ★"),
    )
]


def scan_record(i: int, session_id: int | None) -> ScanRecord:
    """The i-th scan of a kiosk: an identified card, or (every fifth) an unknown one."""
    if i % 5 == 4:
        return ScanRecord(status="unknown", card_id=None, source="worker", session_id=session_id)
    card = str(CARDS[i % len(CARDS)]["card_id"])
    return ScanRecord(status="identified", card_id=card, confidence=0.9, source="worker", session_id=session_id)


def expected_added(n: int) -> int:
    return sum(1 for i in range(n) if i % 5 != 4)


def run_scans(url: str, outbox: str, kiosk: str, n: int, wait_s: float = 120.0) -> dict[str, float]:
    collection = open_collection(url, kiosk=kiosk, outbox=outbox)
    collection.retry_seconds = 0.5
    try:
        session_id = collection.start_session(f"kiosk {kiosk}", kiosk_id=kiosk)
        collection.upsert_cards(CARDS)
        offline = 0
        start = time.perf_counter()
        for i in range(n):
            scan_id = collection.record_scan(scan_record(i, session_id), auto_add=InventoryKey(""))
            offline += scan_id < 0
        seconds = time.perf_counter() - start
        sent = collection.wait_until_sent(wait_s)
        return {"scans": n, "seconds": seconds, "offline": offline, "sent": float(sent)}
    finally:
        collection.close()


def run_sync(url: str, outbox: str, kiosk: str) -> dict[str, float]:
    collection = open_collection(url, kiosk=kiosk, outbox=outbox, background_sync=False)
    try:
        start = time.perf_counter()
        sent = collection.sync()
        return {"sent": sent, "seconds": time.perf_counter() - start}
    finally:
        collection.close()


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.WARNING)
    mode, url, outbox, kiosk, *rest = argv
    if mode == "scan":
        result = run_scans(url, outbox, kiosk, int(rest[0]), float(rest[1]) if len(rest) > 1 else 120.0)
    else:
        result = run_sync(url, outbox, kiosk)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
