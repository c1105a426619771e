"""Nothing acknowledged is lost: SIGKILL mid-stream, and two processes writing at once — into an
SQLite file and into the shop server alike."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from app.collection import Collection, InventoryKey
from tests.collection.backends import open_address

from .conftest import CARDS

WRITER = textwrap.dedent(
    """
    import sys
    from app.collection import InventoryKey, ScanRecord
    from app.collection.open import open_collection
    collection = open_collection(sys.argv[1])
    i = 0
    while True:
        scan = ScanRecord("identified", "sv3pt5-25", 0.9, source="kiosk")
        scan_id = collection.record_scan(scan, auto_add=InventoryKey(""))
        print(scan_id, flush=True)  # acknowledged to the "user" only after record_scan returned
        i += 1
        if len(sys.argv) > 2 and i >= int(sys.argv[2]):
            break
    """
)


def start_writer(db: str, count: int | None = None) -> subprocess.Popen[str]:
    args = [sys.executable, "-c", WRITER, db] + ([str(count)] if count else [])
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env=env)


def test_sigkill_right_after_acknowledgement_loses_no_scan(tmp_path: Path, collection_address: str) -> None:
    db = collection_address
    with open_address(db, tmp_path) as c:
        c.upsert_cards(CARDS)
    writer = start_writer(db)
    acknowledged = []
    assert writer.stdout is not None
    for line in writer.stdout:
        acknowledged.append(int(line))
        if len(acknowledged) == 150:
            break
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=10)
    with open_address(db, tmp_path) as c:
        stored = {s["id"] for s in c.scans()}
        assert set(acknowledged) <= stored
        assert c.stored_quantities() == c.replayed_quantities()
        assert c.inventory()[0]["quantity"] == len(stored)


def test_two_processes_writing_and_exporting_do_not_lose_or_corrupt(tmp_path: Path, collection_address: str) -> None:
    from app.collection.csvio import export_csv

    db = collection_address
    with open_address(db, tmp_path) as c:
        c.upsert_cards(CARDS)
    writers = [start_writer(db, 120), start_writer(db, 120)]
    exports = 0
    with open_address(db, tmp_path) as reader:
        deadline = time.monotonic() + 60
        while any(w.poll() is None for w in writers) and time.monotonic() < deadline:
            reader.add(InventoryKey("xy12-1"), 1)
            export_csv(reader, tmp_path / f"export{exports % 2}.csv")
            exports += 1
    for w in writers:
        assert w.wait(timeout=60) == 0
    with open_address(db, tmp_path) as c:
        assert len(c.scans()) == 240
        if isinstance(c, Collection):
            assert c.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        quantities = {r["card_id"]: r["quantity"] for r in c.inventory()}
        assert quantities["sv3pt5-25"] == 240 and quantities["xy12-1"] == exports
