"""Nothing phones home: the product's ONNX Runtime sessions leave no trace under the user's home.

Each probe runs in a fresh interpreter (ONNX Runtime decides about telemetry at its first import)
with a scratch HOME and XDG folders, and lists every file that appeared there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app import PROJECT_ROOT

#: Where the product may write under HOME during a scan: nowhere (the collection and settings live
#: where the user's config says; this probe configures neither).
DOCUMENTED_PLACES: tuple[str, ...] = ()

#: The product's own start: settings, the engine (embedder, bundle, finder, number reader) and one
#: inference of each network.
PRODUCT_SESSIONS = """
import json
import numpy as np
import app
from app.config import load_settings
from app.engine import load_engine
from app.ocr.reader import strip_from_card_image

settings = load_settings()
engine = load_engine(settings)
ran = ["embedder"]
card = np.full((614, 440, 3), 200, np.uint8)
engine.embedder.embed([card])
engine.finder.find_cards(np.full((720, 1280, 3), 90, np.uint8))
ran.append("finder")
if engine.reader is not None:
    engine.reader.recognise(strip_from_card_image(card))
    ran.append("ocr")
engine.close()
print(json.dumps(ran))
"""

#: The same network made straight from onnxruntime, without the app: what the probe must catch.
BARE_ONNX_RUNTIME = """
import json
import onnxruntime
onnxruntime.InferenceSession("models/lite0_imagenet.onnx", providers=["CPUExecutionProvider"])
print(json.dumps(["bare onnxruntime"]))
"""


def run_with_scratch_home(code: str, home: Path) -> list[str]:
    """Run ``code`` in a fresh interpreter whose HOME and XDG folders are ``home``; what it printed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CARDSIGHT_", "XDG_", "ORT_"))}
    env.update(
        HOME=str(home),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        XDG_STATE_HOME=str(home / ".local" / "state"),
        PYTHONDONTWRITEBYTECODE="1",
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return list(json.loads(result.stdout.strip().splitlines()[-1]))


def written_under(home: Path) -> list[str]:
    return sorted(p.relative_to(home).as_posix() for p in home.rglob("*") if p.is_file())


def test_a_scan_writes_nothing_under_the_home_folder(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    ran = run_with_scratch_home(PRODUCT_SESSIONS, home)
    assert ran[:2] == ["embedder", "finder"]
    undocumented = [f for f in written_under(home) if not any(f.startswith(p) for p in DOCUMENTED_PLACES)]
    assert undocumented == [], f"sessions {ran} wrote {undocumented}"


def test_the_probe_sees_what_onnx_runtime_writes_on_its_own(tmp_path: Path) -> None:
    """The control: without the app's setting, ONNX Runtime leaves its device id in the scratch home,
    so an empty listing above means the app stopped it, not that the probe looked elsewhere."""
    home = tmp_path / "home"
    home.mkdir()
    run_with_scratch_home(BARE_ONNX_RUNTIME, home)
    if not written_under(home):
        pytest.skip("this onnxruntime build writes no telemetry files at all")
    assert any(".onnxruntime" in f for f in written_under(home))
