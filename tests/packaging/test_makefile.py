"""The Makefile's set-up: `make run` installs only the scanner, `make test` the dev tools and the
training stack, each behind its own stamp (read from `make -n`, which runs nothing)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from app import PROJECT_ROOT
from tests.packaging.system_tools import require_tool


def planned(*args: str, venv: Path) -> list[str]:
    """The commands `make -n ARGS` would run with the virtual env at ``venv``."""
    # Run from inside `make test` (CI) the outer make's variables would make this one print its directory.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES")}
    result = subprocess.run(
        [require_tool("make"), "--no-print-directory", "-n", *args, f"VENV={venv}"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def installs(commands: list[str]) -> list[str]:
    return [c for c in commands if "pip install" in c and "--upgrade pip" not in c]


def fresh_stamps(venv: Path) -> None:
    venv.mkdir(exist_ok=True)
    for name in (".installed-run", ".installed-test", ".installed-train"):
        (venv / name).touch()


def test_run_installs_the_scanner_without_the_training_stack(tmp_path: Path) -> None:
    commands = installs(planned("run", venv=tmp_path / "venv"))
    assert commands[0].endswith("pip install --quiet -e '.'")
    assert commands[1].endswith("pip install --quiet --no-deps 'rapidocr-onnxruntime==1.4.4'")
    assert not any("train" in c or "dev" in c for c in commands)


def test_test_installs_the_dev_tools_and_the_training_stack(tmp_path: Path) -> None:
    commands = installs(planned("test", venv=tmp_path / "venv"))
    assert commands[0].endswith("pip install --quiet -e '.[dev,train]'")
    assert any("--no-deps 'rapidocr-onnxruntime" in c for c in commands)


def test_test_installs_the_system_packages_before_pytest(tmp_path: Path) -> None:
    commands = planned("test", venv=tmp_path / "venv")
    script = commands.index("scripts/system-packages.sh")
    pytest_run = next(i for i, c in enumerate(commands) if c.endswith("-m pytest"))
    assert script < pytest_run


def test_run_after_test_and_test_after_run_install_nothing_again(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    fresh_stamps(venv)
    assert installs(planned("run", venv=venv)) == []
    assert installs(planned("test", venv=venv)) == []
    assert planned("run", venv=venv) == [f"{venv}/bin/cardsight"]


def test_each_set_is_reinstalled_when_pyproject_is_newer_than_its_stamp(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    fresh_stamps(venv)
    os.utime(venv / ".installed-test", (0, 0))
    assert installs(planned("run", venv=venv)) == []
    assert installs(planned("test", venv=venv))[0].endswith("-e '.[dev,train]'")
    os.utime(venv / ".installed-run", (0, 0))
    assert installs(planned("run", venv=venv))[0].endswith("-e '.'")


def test_train_and_bench_install_the_training_stack_without_the_dev_tools(tmp_path: Path) -> None:
    for target in ("train", "bench", "model-eval"):
        commands = installs(planned(target, venv=tmp_path / "venv"))
        assert commands[0].endswith("pip install --quiet -e '.[train]'"), target
