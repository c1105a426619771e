"""Shop server benchmark: auto-added scans per second with 1, 2, 4 and 8 kiosk processes against one
PostgreSQL server on this machine, the full 6 kiosks × 1,000 scans check (nothing lost or doubled),
and how fast a kiosk's outbox replays when the server comes back.

    python bench/shop.py [--scans 1000] [--kiosks 1,2,4,8] [--out bench/results/shop.json]

Needs the PostgreSQL server binaries (Debian package ``postgresql``); a throwaway cluster is started
in the temp folder (fsync off: this measures cardsight and the server's CPU, not the disk) and
removed afterwards. Kiosks are processes of tests/collection/pg/kiosk_worker.py (the one the tests use).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.collection.postgres import PostgresCollection
from bench.common import machine
from tests.collection.pg.cluster import Cluster, make_cluster
from tests.collection.pg.kiosk_worker import expected_added

ROOT = Path(__file__).resolve().parent.parent
AWAY = "postgresql://nobody@127.0.0.1:1/shop"


def worker(mode: str, url: str, outbox: Path, kiosk: str, *extra: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "tests.collection.pg.kiosk_worker", mode, url, str(outbox), kiosk, *extra]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def result_of(process: subprocess.Popen[str]) -> dict[str, float]:
    out, err = process.communicate(timeout=900)
    if process.returncode != 0:
        raise RuntimeError(f"a kiosk process failed: {err[-1500:]}")
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def kiosks_at_once(cluster: Cluster, folder: Path, kiosks: int, scans: int) -> dict[str, Any]:
    """``kiosks`` processes scanning ``scans`` each at once; scans/s over the whole run, and the check."""
    url = cluster.createdb(f"k{kiosks}_{scans}")
    PostgresCollection(url).ensure_schema()
    start = time.perf_counter()
    processes = [worker("scan", url, folder / f"outbox-{kiosks}-{k}.db", f"k{k}", str(scans)) for k in range(kiosks)]
    results = [result_of(p) for p in processes]
    wall = time.perf_counter() - start
    with PostgresCollection(url, kiosk="check") as server:
        stored = server.scans()
        cards = server.inventory_totals()[1]
        consistent = server.replayed_quantities() == server.stored_quantities()
    total = kiosks * scans
    return {
        "kiosks": kiosks,
        "scans_per_kiosk": scans,
        "scans_per_s": round(total / max(r["seconds"] for r in results), 1),
        "per_kiosk_scans_per_s": round(sum(scans / r["seconds"] for r in results) / kiosks, 1),
        "wall_s_with_process_start": round(wall, 2),
        "scans_stored": len(stored),
        "lost": total - len({s["uid"] for s in stored}),
        "duplicated": len(stored) - len({s["uid"] for s in stored}),
        "inventory_equals_replay": consistent and cards == kiosks * expected_added(scans),
    }


def outbox_replay(cluster: Cluster, folder: Path, scans: int) -> dict[str, Any]:
    """A kiosk scans ``scans`` with its server away, then replays them: operations per second."""
    url = cluster.createdb(f"replay_{scans}")
    outbox = folder / "outbox-replay.db"
    offline = result_of(worker("scan", AWAY, outbox, "r", str(scans), "0"))
    replay = result_of(worker("sync", url, outbox, "r"))
    with PostgresCollection(url, kiosk="check") as server:
        stored = len(server.scans())
    return {
        "scans": scans,
        "offline_scans_per_s": round(scans / offline["seconds"], 1),
        "replayed_operations": int(replay["sent"]),
        "replay_s": round(replay["seconds"], 2),
        "replay_scans_per_s": round(scans / replay["seconds"], 1),
        "scans_stored": stored,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scans", type=int, default=1000, help="scans per kiosk")
    parser.add_argument("--kiosks", default="1,2,4,8", help="kiosk counts to measure")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "shop.json"))
    args = parser.parse_args()
    cluster = make_cluster()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            scaling = [kiosks_at_once(cluster, folder, int(k), args.scans) for k in args.kiosks.split(",")]
            six = kiosks_at_once(cluster, folder, 6, args.scans)
            replay = outbox_replay(cluster, folder, args.scans)
    finally:
        cluster.remove()
    result = {"machine": machine(), "scaling": scaling, "six_kiosks": six, "outbox_replay": replay}
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
