"""Picamera2 in the app: the camera's own notifier (its ``notifyme_r`` pipe) drives frames from the GUI
event loop into the scanner, as Picamera2's Qt preview does (fake: tests/fakes/fake_picamera2.py)."""

from __future__ import annotations

import sys
import threading

import pytest
from pytestqt.qtbot import QtBot

from app.camera.picamera2_source import Picamera2Source
from app.config import Settings
from app.engine import Engine
from tests.fakes import fake_picamera2
from ui.app import create_application, open_collection
from ui.controller import ScanController
from ui.engine_thread import SourceInfo
from ui.main_window import MainWindow


@pytest.fixture
def picamera2(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    fake_picamera2.FAIL_AFTER_FRAMES = None
    fake_picamera2.INSTANCES.clear()
    fake_picamera2.CAMERAS[:] = [{"Model": "imx708", "Num": 0}]
    monkeypatch.setitem(sys.modules, "picamera2", fake_picamera2)
    return fake_picamera2


def test_pi_camera_frames_are_driven_by_its_notifier_on_the_gui_thread(
    qtbot: QtBot,
    picamera2,
    settings: Settings,
    engine_for: Engine,  # type: ignore[no-untyped-def]
) -> None:
    create_application()
    settings.camera.source = "picamera2"
    controller = ScanController(engine_for, settings, open_collection(settings))
    window = MainWindow(controller, settings)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(controller.worker.source_opened, timeout=10_000):
        controller.start()
    qtbot.waitUntil(lambda: window.live.frames_shown >= 10, timeout=20_000)
    camera = picamera2.INSTANCES[0]
    assert camera.process_thread_ids == {threading.get_ident()}  # the GUI thread, not a polling thread
    assert camera.camera_config["lores"]["size"] == (384, 216)
    assert len(controller.fd_watcher.notifiers) == 1
    window.close()
    assert camera.closed
    qtbot.waitUntil(lambda: not controller.fd_watcher.notifiers, timeout=5_000)


def test_a_pi_camera_that_stops_delivering_is_reported_and_reopened(
    qtbot: QtBot,
    picamera2,
    settings: Settings,
    engine_for: Engine,  # type: ignore[no-untyped-def]
) -> None:
    create_application()
    settings.camera.reconnect_initial_s = 0.1
    picamera2.FAIL_AFTER_FRAMES = 5
    controller = ScanController(engine_for, settings, open_collection(settings))

    def open_source():  # type: ignore[no-untyped-def]
        source = Picamera2Source(frame_timeout_s=0.5, watch_fd=controller.fd_watcher.watch)
        return source, SourceInfo(source.description, "test")

    controller.worker.open_source = open_source
    window = MainWindow(controller, settings)
    qtbot.addWidget(window)
    banners: list[str] = []
    controller.banner.connect(banners.append)
    controller.start()
    qtbot.waitUntil(lambda: any("disconnected" in b.lower() for b in banners), timeout=20_000)
    # Reopened: a new Picamera2 instance delivers frames again (and the old one was closed).
    qtbot.waitUntil(lambda: len(picamera2.INSTANCES) >= 2 and picamera2.INSTANCES[1].frames > 0, timeout=20_000)
    assert picamera2.INSTANCES[0].closed
    window.close()
