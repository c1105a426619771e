"""`cardsight scan` on a recorded clip, and `cardsight` without a display falling back to it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from app.cli import main as cli_main
from models.sim.capture_sim import CaptureSimulator, SimOptions, load_card_texture, render_clip, write_clip
from ui.app import main as app_main


@pytest.fixture(scope="module")
def one_card_clip(tmp_path_factory: pytest.TempPathFactory, catalog_dir: Path) -> Path:
    sim = CaptureSimulator([load_card_texture(catalog_dir / "images" / "sv5" / "sv5-97.jpg")], SimOptions())
    path = tmp_path_factory.mktemp("scan") / "one.mp4"
    write_clip(render_clip(sim, np.random.default_rng(8), [0], fps=15), path, fps=15)
    return path


def test_scan_json_prints_one_identified_and_one_lost_event(
    one_card_clip: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main(["scan", "--source", str(one_card_clip), "--json", "--no-ocr"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e["event"], e["card_id"]) for e in events] == [("identified", "sv5-97"), ("lost", "sv5-97")]
    first = events[0]
    assert set(first) >= {"t", "track", "event", "card_id", "name", "set_id", "number", "confidence", "alternatives"}
    assert first["name"] and first["set_id"] == "sv5" and 0.0 < first["t"] < 3.0
    assert first["alternatives"][0]["card_id"] == "sv5-97"


def test_scan_events_do_not_depend_on_machine_speed(one_card_clip: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = []
    for _ in range(2):
        cli_main(["scan", "--source", str(one_card_clip), "--json", "--no-ocr"])
        runs.append([(e["t"], e["event"], e["card_id"]) for e in map(json.loads, capsys.readouterr().out.splitlines())])
    assert runs[0] == runs[1]


def test_app_without_a_display_runs_the_headless_scanner(
    one_card_clip: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CARDSIGHT_OCR__ENABLED", "false")
    assert app_main(["--source", str(one_card_clip)]) == 0
    out = capsys.readouterr().out
    assert "No display found" in out and "identified" in out and "sv5 97" in out


def test_unknown_source_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["scan", "--source", "/no/such/camera.mp4", "--no-ocr"]) == 2
    assert "Unknown source" in capsys.readouterr().err


def test_a_scanned_video_file_ends_with_a_summary_line(one_card_clip: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["scan", "--source", str(one_card_clip), "--no-ocr"]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith("finished — 1 card (1 identified), ") and " frames in " in last


def test_the_json_summary_goes_to_stderr_so_stdout_stays_json(
    one_card_clip: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main(["scan", "--source", str(one_card_clip), "--json", "--no-ocr", "--max-seconds", "60"]) == 0
    captured = capsys.readouterr()
    assert all(json.loads(line) for line in captured.out.splitlines())
    assert "finished — 1 card (1 identified)" in captured.err
