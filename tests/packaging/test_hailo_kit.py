"""The Hailo compile kit: calibration set + model script from the model sidecar, and compile.sh's
DFC calls (run against a stub `hailo` CLI that records its arguments — the DFC does not install here)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np

from app import PROJECT_ROOT
from app.embed.sidecar import load_model_sidecar
from models.hailo_kit import write_kit
from tests.packaging.system_tools import require_tool

MODEL = PROJECT_ROOT / "models" / "lite0_imagenet.onnx"
COMPILE = PROJECT_ROOT / "packaging" / "hailo" / "compile.sh"

STUB = """#!/usr/bin/env bash
# Records each DFC call and creates the file the real step would write.
echo "$*" >> "$HAILO_LOG"
case "$1" in
    parser) touch "${@: -2:1}" ;;
    optimize) touch "${@: -1}" ;;
    compiler) touch "$(basename "$2" _optimized.har).hef" ;;
esac
"""


def test_kit_holds_calibration_set_model_script_and_model_identity(tmp_path: Path, catalog_dir: Path) -> None:
    kit = write_kit(MODEL, tmp_path / "kit", catalog_dir, count=8, seed=3)
    sidecar = load_model_sidecar(MODEL)
    calib = np.load(tmp_path / "kit" / "calib_set.npy")
    assert calib.dtype == np.uint8 and calib.shape[1:] == (224, 224, 3) and 6 <= calib.shape[0] <= 8
    assert kit["onnx_sha256"] == sidecar.sha256 and kit["hw_arch"] == "hailo8l"
    script = (tmp_path / "kit" / "model.alls").read_text()
    assert "normalization1 = normalization([127, 127, 127], [128, 128, 128])" in script
    assert (tmp_path / "kit" / MODEL.name).read_bytes() == MODEL.read_bytes()


def test_compile_script_runs_parser_optimize_compiler_and_writes_the_hef_sidecar(
    tmp_path: Path, catalog_dir: Path
) -> None:
    kit_dir = tmp_path / "kit"
    write_kit(MODEL, kit_dir, catalog_dir, count=4, seed=3)
    stub = tmp_path / "hailo"
    stub.write_text(STUB)
    stub.chmod(0o755)
    log = tmp_path / "calls.log"
    out = tmp_path / "out"
    env = {"PATH": "/usr/bin:/bin", "HAILO_CLI": str(stub), "HAILO_LOG": str(log)}
    result = subprocess.run(["bash", str(COMPILE), str(kit_dir), str(out)], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    calls = log.read_text().splitlines()
    assert [c.split()[0] for c in calls] == ["parser", "optimize", "compiler"]
    assert "--hw-arch hailo8l --start-node-names image --end-node-names embedding" in calls[0]
    assert "--calib-set-path calib_set.npy --model-script model.alls" in calls[1]
    assert (out / "lite0_imagenet.hef").is_file()
    compiled = json.loads((out / "lite0_imagenet.hef.json").read_text())
    assert compiled["onnx_sha256"] == load_model_sidecar(MODEL).sha256


def test_compile_script_says_what_is_missing(tmp_path: Path) -> None:
    result = subprocess.run(
        ["bash", str(COMPILE), str(tmp_path)], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}
    )
    assert result.returncode == 1 and "not installed" in result.stderr


def test_compile_script_is_shellcheck_clean() -> None:
    result = subprocess.run([require_tool("shellcheck"), str(COMPILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
