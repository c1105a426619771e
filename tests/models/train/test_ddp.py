"""The same training under torchrun with 2 CPU processes (DDP, gloo)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from app import PROJECT_ROOT
from tests.catalog_copy import small_catalog


def test_training_runs_under_torchrun_with_two_gloo_processes(catalog_dir: Path, tmp_path: Path) -> None:
    catalog = small_catalog(catalog_dir, tmp_path / "catalog", per_set=3)
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    cmd += ["-m", "models.train", "--recipe", "tiny", "--catalog", str(catalog), "--out", str(out)]
    cmd += ["--cache-dir", str(tmp_path / "cache"), "--threads", "1"]
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    done = subprocess.run(cmd, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    for stage in ("teacher", "stage1", "stage2"):
        record = json.loads((out / f"{stage}.json").read_text())
        assert record["training"]["processes"] == 2
    # Each rank took half of every epoch's batches: the history was averaged on rank 0's share.
    assert (out / "stage2.pt").is_file()
