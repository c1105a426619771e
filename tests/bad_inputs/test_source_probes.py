"""Sources that never deliver, given to ``cardsight scan`` / ``watch``: each ends at once with one clear
line and a non-zero exit (no retrying as if a camera were lost), ``--max-seconds`` bounds every wait,
and Ctrl-C ends a scan blocked on a silent stream within a second."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from app.cli import main
from tests.camera.silent_server import refused_port, silent_server

#: Loading the engine (model, bundle) comes before the source is opened; this leaves room for it.
STARTUP_S = 8.0


@pytest.fixture(autouse=True)
def scratch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("CARDSIGHT_CONFIG", raising=False)
    monkeypatch.setenv("CARDSIGHT_OCR__ENABLED", "false")
    return home


def text_named_mp4(folder: Path) -> str:
    path = folder / "holiday.mp4"
    path.write_text("this is a shopping list, not a video\n", encoding="utf-8")
    return str(path)


def empty_mp4(folder: Path) -> str:
    path = folder / "empty.mp4"
    path.write_bytes(b"")
    return str(path)


def folder_without_images(folder: Path) -> str:
    path = folder / "scans"
    path.mkdir()
    (path / "notes.txt").write_text("no pictures here", encoding="utf-8")
    return str(path)


def refused_stream(_: Path) -> str:
    return f"rtsp://127.0.0.1:{refused_port()}/x"


PROBES: dict[str, tuple[Callable[[Path], str], str]] = {
    "a text file named .mp4": (text_named_mp4, "Cannot read video file"),
    "a 0-byte .mp4": (empty_mp4, "is empty (0 bytes)"),
    "a folder without images": (folder_without_images, "No images in"),
    "a refused port": (refused_stream, "Cannot open stream rtsp://127.0.0.1:"),
}


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str, float]:
    started = time.monotonic()
    code = main(argv)
    elapsed = time.monotonic() - started
    captured = capsys.readouterr()
    return code, captured.out, captured.err, elapsed


def assert_one_clear_line(err: str, expected: str) -> None:
    assert "Traceback" not in err and "Camera lost" not in err
    lines = [line for line in err.splitlines() if line.startswith("cardsight:")]
    assert len(lines) == 1 and expected in lines[0], err


@pytest.mark.parametrize("command", ["scan", "watch"])
@pytest.mark.parametrize("probe", list(PROBES))
def test_a_source_that_never_delivers_fails_at_once_with_one_line(
    probe: str, command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make, expected = PROBES[probe]
    code, _out, err, elapsed = run_cli([command, "--source", make(tmp_path)], capsys)
    assert code == 2
    assert_one_clear_line(err, expected)
    assert elapsed < STARTUP_S


def test_a_stream_that_accepts_and_never_answers_fails_within_its_timeout(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with silent_server() as port:
        code, _out, err, elapsed = run_cli(["scan", "--source", f"rtsp://127.0.0.1:{port}/x"], capsys)
    assert code == 2
    assert_one_clear_line(err, "no answer within 5 s")
    assert elapsed < STARTUP_S + 5.0 + 1.0


@pytest.mark.parametrize("command", ["scan", "watch"])
def test_max_seconds_bounds_the_wait_for_a_silent_stream(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with silent_server() as port:
        code, _out, err, elapsed = run_cli(
            [command, "--source", f"rtsp://127.0.0.1:{port}/x", "--max-seconds", "1.5"], capsys
        )
    assert code == 2
    assert_one_clear_line(err, "gave no frame in 1.5 s")
    assert elapsed < STARTUP_S + 1.5 + 1.0


def test_max_seconds_bounds_watch_on_a_looping_demo(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err, elapsed = run_cli(["watch", "--source", "demo", "--max-seconds", "1.5"], capsys)
    assert code == 0 and "Traceback" not in err
    assert "Stopped (time limit) after" in out
    assert elapsed < STARTUP_S + 1.5 + 1.0


def test_ctrl_c_ends_a_scan_blocked_on_a_silent_stream_within_a_second(capsys: pytest.CaptureFixture[str]) -> None:
    interrupted_at: list[float] = []
    before = signal.getsignal(signal.SIGINT)

    def interrupt_once_blocked() -> None:
        deadline = time.monotonic() + STARTUP_S
        while signal.getsignal(signal.SIGINT) is before and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(3.0)  # the engine is loaded and the open is blocked on the server by now
        interrupted_at.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)

    with silent_server() as port:
        sender = threading.Thread(target=interrupt_once_blocked, daemon=True)
        sender.start()
        code = main(["scan", "--source", f"rtsp://127.0.0.1:{port}/x"])
        ended_at = time.monotonic()
        sender.join(timeout=1.0)
    err = capsys.readouterr().err
    assert interrupted_at and ended_at - interrupted_at[0] < 1.0
    assert "Traceback" not in err
    assert code == 0
    assert signal.getsignal(signal.SIGINT) is before  # the command gave the handler back


@pytest.mark.parametrize("value", ["-1", "nan", "soon"])
def test_a_negative_or_meaningless_time_limit_is_refused(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["scan", "--source", "demo", "--max-seconds", value])
    assert exited.value.code == 2
    assert f"--max-seconds: expected 0 or more seconds, got {value!r}" in capsys.readouterr().err
