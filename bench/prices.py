"""Prices benchmark: valuing a 100,000-row collection, and a price update of 20,000 cards from saved
pokemontcg.io response pages (read as files, and served by a local HTTP server as the API would).

    python bench/prices.py [--rows 100000] [--cards 20000] [--history 3]

Prints one JSON object. Data: synthetic — card ids, inventory rows (a mix of finishes and conditions)
and API pages (250 cards a page, TCGplayer prices for two finishes and a Cardmarket block per card)
made up here; ``--history`` earlier price dates are stored first so that the valuation reads a table
with history. Bars (issue 33): valuation ≤ 2 s, update ≤ 30 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.collection import CONDITIONS, FINISHES, Collection
from app.collection.csvio import export_csv
from app.prices.base import Quote
from app.prices.pokemontcg import PAGE_SIZE, ApiSource
from app.prices.table import run_source, store_quotes
from app.prices.update import import_files
from app.prices.value import value_collection
from bench.common import machine

VALUE_BAR_S = 2.0
UPDATE_BAR_S = 30.0


def api_card(i: int, date: str) -> dict[str, Any]:
    price = round(0.1 + (i % 997) * 0.37, 2)
    return {
        "id": f"bench-{i}",
        "name": f"Card {i}",
        "number": str(i % 300 + 1),
        "tcgplayer": {
            "updatedAt": date,
            "prices": {
                "normal": {"low": price / 2, "mid": price, "high": price * 3, "market": price},
                "reverseHolofoil": {"low": price, "mid": price * 2, "market": price * 2},
            },
        },
        "cardmarket": {"updatedAt": date, "prices": {"trendPrice": price * 0.9, "reverseHoloTrend": price * 1.8}},
    }


def write_pages(folder: Path, cards: int, date: str) -> list[Path]:
    folder.mkdir()
    paths = []
    for page, start in enumerate(range(0, cards, PAGE_SIZE), 1):
        data = [api_card(i, date) for i in range(start, min(start + PAGE_SIZE, cards))]
        path = folder / f"page{page:04d}.json"
        path.write_text(json.dumps({"data": data, "page": page, "pageSize": PAGE_SIZE, "totalCount": cards}))
        paths.append(path)
    return paths


def stock(c: Collection, rows: int, cards: int, history: int) -> None:
    """``rows`` inventory rows over ``cards`` cards, and ``history`` earlier days of prices."""
    c.upsert_cards(
        [
            {"card_id": f"bench-{i}", "name": f"Card {i}", "set_id": f"set{i % 60}", "set_name": f"Set {i % 60}"}
            for i in range(cards)
        ]
    )
    with c.write() as conn:
        conn.executemany(
            "INSERT INTO inventory (card_id, finish, condition, language, location, quantity)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [
                (f"bench-{i % cards}", FINISHES[i % 3], CONDITIONS[i % 5], "English", f"box {i // cards}", 1 + i % 4)
                for i in range(rows)
            ],
        )
    day = dt.date(2026, 11, 1)
    for back in range(history, 0, -1):
        date = (day - dt.timedelta(days=7 * back)).isoformat()
        store_quotes(
            c,
            [
                Quote(f"bench-{i}", finish, "tcgplayer", "USD", date, 1.0 + i % 50, {"market": 1.0 + i % 50})
                for i in range(cards)
                for finish in ("normal", "reverse holo")
            ],
        )


def timed_runs(fn: Any, repeat: int) -> tuple[float, float, Any]:
    """Median wall and CPU seconds of ``repeat`` calls (CPU time shows the cost on a busy machine)."""
    walls, cpus, result = [], [], None
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return round(statistics.median(walls), 3), round(statistics.median(cpus), 3), result


def update_from_pages(folder: Path, cards: int) -> dict[str, Any]:
    pages = write_pages(folder / "pages", cards, "2026/12/01")
    with Collection(folder / "update.db") as c:
        seconds, cpu_seconds, report = timed_runs(lambda: import_files(c, pages), 1)
        stored = c.conn.execute("SELECT COUNT(*) FROM prices").fetchone()[0]
    return {
        "cards": len(report.cards),
        "pages": len(pages),
        "prices_stored": stored,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
    }


def update_from_local_server(folder: Path, cards: int) -> dict[str, Any]:
    """The same pages through ApiSource: paging, HTTP and JSON parsing included."""
    api = folder / "api" / "v2"
    api.mkdir(parents=True)
    for page, path in enumerate(sorted((folder / "pages").iterdir()), 1):
        # SimpleHTTPRequestHandler ignores the query: one file per page, named as the query asks.
        (api / f"cards_page{page}").write_bytes(path.read_bytes())
    handler = partial(QuietHandler, directory=str(folder / "api"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        source = PagedFiles(f"http://127.0.0.1:{server.server_address[1]}/v2", today=dt.date(2026, 12, 4))
        with Collection(folder / "served.db") as c:
            start = time.perf_counter()
            report = run_source(c, source)
            seconds = time.perf_counter() - start
    finally:
        server.shutdown()
        server.server_close()
    return {"cards": len(report.cards), "seconds": round(seconds, 3)}


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class PagedFiles(ApiSource):
    """ApiSource asking for static page files instead of query strings."""

    def page_url(self, query: str, page: int) -> str:
        return f"{self.api_base}/cards_page{page}"


def valuation(folder: Path, rows: int, cards: int, history: int) -> dict[str, Any]:
    with Collection(folder / "value.db", synchronous="NORMAL") as c:
        stock(c, rows, cards, history)
        seconds, cpu_seconds, result = timed_runs(lambda: value_collection(c), 3)
        export_seconds, _, _ = timed_runs(lambda: export_csv(c, folder / "priced.csv"), 1)
        price_rows = c.conn.execute("SELECT COUNT(*) FROM prices").fetchone()[0]
    return {
        "inventory_rows": rows,
        "cards": cards,
        "price_rows": price_rows,
        "priced_rows": len(result.priced),
        "unpriced_rows": len(result.unpriced),
        "seconds_median_of_3": seconds,
        "cpu_seconds_median_of_3": cpu_seconds,
        "generic_export_with_prices_seconds": export_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--cards", type=int, default=20_000)
    parser.add_argument("--history", type=int, default=3, help="earlier price dates stored before valuing")
    args = parser.parse_args()
    load = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        value = valuation(folder, args.rows, args.cards, args.history)
        update = update_from_pages(folder, args.cards)
        served = update_from_local_server(folder, args.cards)
    report = {
        "benchmark": "prices (synthetic cards, inventory and API pages)",
        "machine": machine(),
        "load_average_at_start": load,
        "valuation": {**value, "bar_seconds": VALUE_BAR_S, "passes": value["seconds_median_of_3"] <= VALUE_BAR_S},
        "update_from_saved_pages": {**update, "bar_seconds": UPDATE_BAR_S, "passes": update["seconds"] <= UPDATE_BAR_S},
        "update_from_local_server": served,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
