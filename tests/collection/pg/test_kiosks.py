"""Kiosk processes against one real server: all at once, with the server stopped mid-run, and one
killed while it replays its outbox. Counts are scaled down here to keep the folder quick on two cores;
bench/shop.py runs the full 6 kiosks × 1,000 scans.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.collection.postgres import PostgresCollection
from app.collection.store import CollectionError
from tests.collection.backends import need_server as _need_server
from tests.collection.pg.cluster import Cluster, make_cluster
from tests.collection.pg.kiosk_worker import expected_added

KIOSKS = 6
SCANS = 150
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def own_cluster() -> Iterator[Cluster]:
    _need_server()
    cluster = make_cluster()
    yield cluster
    cluster.remove()


def start_worker(
    mode: str, url: str, outbox: Path, kiosk: str, scans: int = 0, wait_s: float = 120
) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "tests.collection.pg.kiosk_worker", mode, url, str(outbox), kiosk]
    if mode == "scan":
        command += [str(scans), str(wait_s)]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen[str], seconds: float = 150) -> dict[str, float]:
    out, err = process.communicate(timeout=seconds)
    assert process.returncode == 0, err[-2000:]
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def arrived(url: str) -> int:
    """Scans on the server so far (0 before the first kiosk created the tables)."""
    try:
        with PostgresCollection(url, kiosk="peek", readonly=True) as server:
            return len(server.scans())
    except CollectionError:
        return 0


def check_server(url: str, per_kiosk: dict[str, int]) -> None:
    """Every scan once (by uid, per kiosk), and the inventory = the replay of the scans' changes."""
    with PostgresCollection(url, kiosk="check") as server:
        scans = server.scans()
        counts: dict[str, int] = {}
        for s in scans:
            counts[s["kiosk"]] = counts.get(s["kiosk"], 0) + 1
        assert counts == per_kiosk
        assert len({s["uid"] for s in scans}) == len(scans)
        assert server.inventory_totals()[1] == sum(expected_added(n) for n in per_kiosk.values())
        assert server.replayed_quantities() == server.stored_quantities()
        added = sum(1 for s in scans if s["action"] == "accepted")
        assert added == server.inventory_totals()[1]


def test_six_kiosks_at_once_lose_and_double_nothing(own_cluster: Cluster, tmp_path: Path) -> None:
    url = own_cluster.createdb("six")
    workers = [start_worker("scan", url, tmp_path / f"outbox-{k}.db", f"k{k}", SCANS) for k in range(KIOSKS)]
    results = [finish(w) for w in workers]
    assert all(r["sent"] for r in results)
    check_server(url, {f"k{k}": SCANS for k in range(KIOSKS)})


def test_the_server_stopped_for_ten_seconds_mid_run_still_gets_every_scan_once(
    own_cluster: Cluster, tmp_path: Path
) -> None:
    url = own_cluster.createdb("stopped")
    scans = 400
    workers = [start_worker("scan", url, tmp_path / f"outbox-{k}.db", f"k{k}", scans) for k in range(3)]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if arrived(url) >= 30:
            break
        time.sleep(0.2)
    own_cluster.stop("immediate")
    time.sleep(10)
    own_cluster.start()
    results = [finish(w) for w in workers]
    assert all(r["sent"] for r in results)
    assert sum(r["offline"] for r in results) > 0, "no kiosk noticed the server was away"
    check_server(url, {f"k{k}": scans for k in range(3)})


def test_a_kiosk_killed_while_replaying_its_outbox_loses_and_doubles_nothing(
    own_cluster: Cluster, tmp_path: Path
) -> None:
    url = own_cluster.createdb("killed")
    outbox = tmp_path / "outbox-k.db"
    scans = 300
    offline = finish(start_worker("scan", "postgresql://nobody@127.0.0.1:1/shop", outbox, "k", scans, 0), 60)
    assert offline["offline"] == scans and not offline["sent"]
    replaying = start_worker("sync", url, outbox, "k")
    deadline = time.monotonic() + 60
    count = 0
    while time.monotonic() < deadline and replaying.poll() is None:
        count = arrived(url)
        if count >= 20:
            os.kill(replaying.pid, signal.SIGKILL)
            break
        time.sleep(0.05)
    replaying.communicate(timeout=30)
    assert replaying.returncode == -signal.SIGKILL, "the replay ended before it could be killed"
    assert 20 <= count < scans
    finish(start_worker("sync", url, outbox, "k"))
    check_server(url, {"k": scans})
