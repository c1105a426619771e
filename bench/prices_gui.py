"""Prices in the GUI on a large collection: how long the browser's values and a sort by value take,
and how long the UI thread is blocked meanwhile; how soon the match panel shows a card's price.

A 100,000-row collection (1,000 synthetic cards × 100 rows, nine cards in ten priced) in a temporary
SQLite file; the real browser, match panel and price service, offscreen. UI stalls are measured with a
10 ms QTimer heartbeat on the UI thread: the longest gap minus 10 ms is the longest time it was blocked.

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/prices_gui.py > bench/results/prices_gui.json
"""

from __future__ import annotations

import itertools
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from app.collection.store import Collection
from app.config import load_settings
from app.match.bundle import ReferenceBundle
from app.pipeline import ScanEvent
from app.prices.base import Quote
from app.prices.table import store_quotes
from app.session import ScanEntry
from bench.common import machine

CARDS = 1_000
ROWS_PER_CARD = 100
CONDITIONS = ("NM", "LP", "MP", "HP", "DMG")


def build(path: Path) -> Collection:
    collection = Collection(path, synchronous="NORMAL")
    cards = [
        {"card_id": f"b{n // 500}-{n % 500 + 1}", "name": f"Card {n}", "set_id": f"b{n // 500}",
         "set_name": f"Bench set {n // 500}", "number": str(n % 500 + 1), "rarity": "Common"}
        for n in range(CARDS)
    ]  # fmt: skip
    collection.upsert_cards(cards)
    with collection.write() as conn:
        conn.executemany(
            "INSERT INTO inventory (card_id, finish, condition, language, location, quantity)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [
                (c["card_id"], "normal", CONDITIONS[k % 5], "English", f"box {k // 5}", 1 + k % 3)
                for c in cards
                for k in range(ROWS_PER_CARD)
            ],
        )
    quotes = [
        Quote(c["card_id"], "normal", "tcgplayer", "USD", "2026-12-01", round(0.05 + 0.37 * i, 2))
        for i, c in enumerate(cards)
        if i % 10
    ]
    store_quotes(collection, quotes)
    return collection


def main() -> None:
    from PySide6.QtCore import QCoreApplication, Qt, QTimer

    from ui.app import create_application
    from ui.collection_view import COLUMNS, CollectionBrowser
    from ui.match_panel import PRICE_PENDING, MatchPanel
    from ui.price_service import PriceService

    app = create_application()
    work = Path(tempfile.mkdtemp(prefix="cardsight-prices-gui-"))
    collection = build(work / "bench.db")
    prices = PriceService(collection, "USD")

    beats: list[float] = []
    heartbeat = QTimer()
    heartbeat.setTimerType(Qt.TimerType.PreciseTimer)
    heartbeat.timeout.connect(lambda: beats.append(time.perf_counter()))
    heartbeat.start(10)

    def wait_for(done: Callable[[], bool], timeout_s: float = 120.0) -> tuple[float, float]:
        """(seconds until ``done``, longest UI-thread stall in ms meanwhile)."""
        beats.clear()
        started = time.perf_counter()
        beats.append(started)
        while not done():
            QCoreApplication.processEvents()
            time.sleep(0.001)
            if time.perf_counter() - started > timeout_s:
                raise TimeoutError("no answer")
        gaps = [b - a for a, b in itertools.pairwise(beats)] or [0.0]
        return time.perf_counter() - started, max(0.0, max(gaps) * 1000 - 10)

    started = time.perf_counter()
    browser = CollectionBrowser(collection, None, prices=prices)
    opened_s = time.perf_counter() - started
    values_s, values_stall = wait_for(lambda: browser.model.values is not None)
    value_column = [k for k, _ in COLUMNS].index("value")
    started = time.perf_counter()
    browser.table.sortByColumn(value_column, Qt.SortOrder.DescendingOrder)
    request_s = time.perf_counter() - started
    sort_s, sort_stall = wait_for(lambda: not browser.model.sorting)
    sort_s += request_s

    bundle = ReferenceBundle.load(load_settings().match.bundle, verify_checksums=False)
    priced_card = next(iter(bundle.metadata))
    store_quotes(collection, [Quote(priced_card, "normal", "tcgplayer", "USD", "2026-12-01", 1.23)])
    panel = MatchPanel(bundle, prices=prices)
    lookups = []
    for i in range(20):
        card = priced_card if i % 2 == 0 else f"b0-{i}"
        entry = ScanEntry(i, ScanEvent(0.0, i, "identified", card, confidence=0.9), card)
        started = time.perf_counter()
        panel.show_entry(entry)
        wait_for(lambda: panel.price.text() != PRICE_PENDING)
        lookups.append((time.perf_counter() - started) * 1000)
    heartbeat.stop()
    prices.close()
    result = {
        "data": f"synthetic collection: {CARDS * ROWS_PER_CARD:,} inventory rows ({CARDS} cards × {ROWS_PER_CARD}),"
        " 9 of 10 cards priced (tcgplayer, USD), SQLite file, offscreen Qt",
        "machine": {**machine(), "load_average_1m": round(os.getloadavg()[0], 2)},
        "browser_open_s": round(opened_s, 2),
        "browser_values_arrive_s": round(values_s, 2),
        "browser_values_longest_ui_stall_ms": round(values_stall, 1),
        "sort_by_value_request_on_ui_thread_ms": round(request_s * 1000, 1),
        "sort_by_value_rows_shown_s": round(sort_s, 2),
        "sort_by_value_longest_ui_stall_ms": round(sort_stall, 1),
        "sorted_first_row_value": browser.model.index(0, value_column).data(),
        "match_panel_price_shown_ms_median": round(statistics.median(lookups), 1),
        "match_panel_price_shown_ms_max": round(max(lookups), 1),
    }
    collection.close()
    print(json.dumps(result, indent=2))
    app.quit()


if __name__ == "__main__":
    main()
