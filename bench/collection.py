"""Collection benchmark: scan-event inserts per second (crops stored off-row), CSV export time for
100,000 inventory rows, and database size per 10,000 scans.

    python bench/collection.py [--scans 3000] [--rows 100000]

Prints one JSON object. Data: synthetic scan events (200 synthetic card ids) with a small JPEG crop
each (size in the output); synthetic inventory rows. Files go to a temporary folder on the same disk as
the system temp directory (named in the output).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.collection import Collection, InventoryKey, ScanRecord
from app.collection.csvio import export_csv
from bench.common import machine


def crop_jpeg() -> bytes:
    rng = np.random.default_rng(0)
    image = cv2.GaussianBlur(rng.integers(0, 255, (154, 110, 3), dtype=np.uint8), (0, 0), 2)
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert ok
    return buffer.tobytes()


def scan_inserts(folder: Path, n: int, synchronous: str) -> dict[str, float]:
    cards = [
        {"card_id": f"s-{i}", "name": f"Card {i}", "set_id": "s", "set_name": "S", "number": str(i)} for i in range(200)
    ]
    crop = crop_jpeg()
    folder = folder / synchronous
    folder.mkdir()
    with Collection(folder / "scans.db", synchronous=synchronous) as c:
        c.upsert_cards(cards)
        session = c.start_session("bench")
        start = time.perf_counter()
        for i in range(n):
            c.record_scan(
                ScanRecord(
                    "identified",
                    f"s-{i % 200}",
                    0.9,
                    0.1,
                    [{"card_id": f"s-{i % 200}", "confidence": 0.9}],
                    session_id=session,
                    crop_jpeg=crop,
                ),
                auto_add=InventoryKey(""),
            )
        seconds = time.perf_counter() - start
        c.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db_bytes = (folder / "scans.db").stat().st_size
    crops_bytes = sum(p.stat().st_size for p in (folder / "scans.db.crops").iterdir())
    return {
        "scans": n,
        "crop_bytes_each": len(crop),
        "inserts_per_second": round(n / seconds, 1),
        "db_mb_per_10k_scans": round(db_bytes / n * 10_000 / 1e6, 2),
        "crops_mb_per_10k_scans": round(crops_bytes / n * 10_000 / 1e6, 2),
    }


def export_speed(folder: Path, rows: int) -> dict[str, float]:
    with Collection(folder / "big.db") as c:
        cards = [
            {
                "card_id": f"big-{i}",
                "name": f"Card ♀ {i}",
                "set_id": f"set{i % 50}",
                "set_name": f"Set {i % 50}",
                "number": str(i),
                "printed_total": 200,
                "rarity": "Common",
            }
            for i in range(rows)
        ]
        c.upsert_cards(cards)
        with c.write() as conn:
            conn.executemany(
                "INSERT INTO inventory (card_id, finish, condition, language, location, quantity)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [(f"big-{i}", "normal", "NM", "English", "", 1 + i % 4) for i in range(rows)],
            )
        out = {}
        for fmt in ("generic", "tcgplayer"):
            start = time.perf_counter()
            written = export_csv(c, folder / f"{fmt}.csv", fmt)
            out[f"{fmt}_seconds"] = round(time.perf_counter() - start, 3)
            assert written == rows
    return {"inventory_rows": rows, **out}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scans", type=int, default=3000)
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        report = {
            "benchmark": "collection (SQLite WAL, one transaction per scan, auto-add on)",
            "machine": machine(),
            "folder": str(folder),
            "scan_events_synchronous_full": scan_inserts(folder, args.scans, "FULL"),
            "scan_events_synchronous_normal": scan_inserts(folder, args.scans, "NORMAL"),
            "export": export_speed(folder, args.rows),
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
