"""The desktop window driven by a replayed simulated clip (issue bar)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLabel
from pytestqt.qtbot import QtBot

from app.config import Settings
from app.engine import Engine
from tests.ui.conftest import CLIP_CARDS, UnpluggedCamera, replay
from ui.app import build_windows, create_application, open_collection
from ui.controller import ScanController
from ui.main_window import MainWindow


def make_window(qtbot: QtBot, settings: Settings, engine: Engine, open_source) -> MainWindow:  # type: ignore[no-untyped-def]
    create_application()
    controller = ScanController(engine, settings, open_collection(settings), open_source=open_source)
    window = MainWindow(controller, settings)
    qtbot.addWidget(window)
    window.show()
    return window


def run_clip_until_identified(qtbot: QtBot, window: MainWindow, card_id: str) -> None:
    controller = window.controller
    with qtbot.waitSignal(controller.scanner.worker.finished, timeout=120_000):
        controller.start()
    qtbot.waitUntil(lambda: any(e.card_id == card_id for e in controller.session.recent), timeout=10_000)


def test_window_shows_the_right_card_for_a_simulated_clip(
    qtbot: QtBot, settings: Settings, engine_for: Engine, clip_path: Path
) -> None:
    window = make_window(qtbot, settings, engine_for, replay(clip_path))
    run_clip_until_identified(qtbot, window, CLIP_CARDS[1])
    recent = window.controller.session.recent
    assert [e.card_id for e in reversed(recent)] == CLIP_CARDS
    assert window.panel.name.text() == engine_for.bundle.metadata[CLIP_CARDS[1]]["name"]
    assert window.live.frames_shown > 50
    assert "video file" in window.source_label.text()
    assert "ONNX" in window.backend_label.text() or "onnx" in window.backend_label.text().lower()
    assert "hailo" in window.backend_label.text().lower()  # why not the Hailo: shown, not only a tooltip
    # Every decision is logged as a scan, even before anyone presses Add.
    assert len(window.controller.collection.scans()) == 2
    window.close()


def test_key_2_corrects_the_collection_and_undo_restores_it(
    qtbot: QtBot, settings: Settings, engine_for: Engine, clip_path: Path
) -> None:
    window = make_window(qtbot, settings, engine_for, replay(clip_path))
    run_clip_until_identified(qtbot, window, CLIP_CARDS[1])
    collection = window.controller.collection
    window.setFocus()
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert [(r["card_id"], r["quantity"]) for r in collection.inventory()] == [(CLIP_CARDS[1], 1)]
    second = window.controller.current.alternatives[1]["card_id"]  # type: ignore[union-attr]
    qtbot.keyClick(window, Qt.Key.Key_2)
    assert [(r["card_id"], r["quantity"]) for r in collection.inventory()] == [(second, 1)]
    assert window.panel.name.text() == engine_for.bundle.metadata[second]["name"]
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert [(r["card_id"], r["quantity"]) for r in collection.inventory()] == [(CLIP_CARDS[1], 1)]
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert collection.inventory() == []
    window.close()


def test_export_dialog_writes_the_collection(
    qtbot: QtBot, settings: Settings, engine_for: Engine, clip_path: Path, tmp_path: Path
) -> None:
    window = make_window(qtbot, settings, engine_for, replay(clip_path))
    run_clip_until_identified(qtbot, window, CLIP_CARDS[1])
    window.controller.add_current()
    dialog = window.open_export()
    out = tmp_path / "export.csv"
    dialog.path.setText(str(out))
    dialog.format.setCurrentText("tcgplayer")
    dialog.export()
    with open(out, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 1 and dialog.rows_written == 1
    assert rows[0]["Name"] == engine_for.bundle.metadata[CLIP_CARDS[1]]["name"]
    window.close()


def test_unplugged_camera_shows_the_message_and_recovers(
    qtbot: QtBot, settings: Settings, engine_for: Engine, clip_path: Path
) -> None:
    settings.camera.reconnect_initial_s = 0.2
    camera = UnpluggedCamera(clip_path, fail_after=10)
    window = make_window(qtbot, settings, engine_for, lambda: (camera, _info()))
    seen_banners: list[str] = []
    window.controller.banner.connect(seen_banners.append)
    with qtbot.waitSignal(window.controller.worker.camera_restored, timeout=30_000):
        window.controller.start()
    assert any("disconnected" in b.lower() for b in seen_banners)
    qtbot.waitUntil(lambda: not window.banner.isVisible(), timeout=5_000)
    shown = window.live.frames_shown
    qtbot.waitUntil(lambda: window.live.frames_shown > shown + 5, timeout=30_000)
    assert camera.opens == 3
    window.close()


def _info():  # type: ignore[no-untyped-def]
    from ui.engine_thread import SourceInfo

    return SourceInfo("test camera", "test")


def test_no_widget_or_thread_is_left_after_close(
    qtbot: QtBot, settings: Settings, engine_for: Engine, clip_path: Path
) -> None:
    window = make_window(qtbot, settings, engine_for, replay(clip_path))
    window.controller.start()
    qtbot.waitUntil(lambda: window.live.frames_shown > 5, timeout=30_000)
    thread = window.controller.scanner.thread
    window.close()
    assert not thread.isRunning()
    assert window.controller.worker.engine.embedder.reason != ""  # the shared engine is left usable
    window.deleteLater()
    qtbot.waitUntil(lambda: not [w for w in QApplication.topLevelWidgets() if w.isVisible()], timeout=5_000)


def test_missing_reference_bundle_shows_what_to_run(qtbot: QtBot, settings: Settings, tmp_path: Path) -> None:
    create_application()
    settings.match.bundle = tmp_path / "no-bundle"
    window, controller = build_windows(settings, kiosk=False)
    qtbot.addWidget(window)
    assert controller is None
    text = " ".join(label.text() for label in window.findChildren(QLabel))
    assert "cardsight catalog build" in text


def test_settings_dialog_saves_to_the_config_file(
    qtbot: QtBot, settings: Settings, engine_for: Engine, clip_path: Path, tmp_path: Path
) -> None:
    window = make_window(qtbot, settings, engine_for, replay(clip_path))
    original = engine_for.matcher.thresholds
    dialog = window.open_settings()
    dialog.auto_add.setChecked(True)
    dialog.accept_at.setValue(0.72)
    dialog.save()
    from app.config import load_settings

    saved = load_settings()
    assert saved.ui.auto_add is True and saved.match.accept_at == pytest.approx(0.72)
    # …and in effect now, without a restart.
    assert window.controller.session.auto_add is True
    assert window.controller.engine.matcher.thresholds.accept_at == pytest.approx(0.72)
    engine_for.matcher.thresholds = original  # the engine is shared with the other tests
    window.close()


def test_settings_that_cannot_be_written_say_so_and_keep_the_dialog_open(
    qtbot: QtBot, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PySide6.QtWidgets import QMessageBox

    from ui.settings_dialog import SettingsDialog

    create_application()
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    dialog = SettingsDialog(settings, config_path=blocker / "config.toml")
    qtbot.addWidget(dialog)
    warnings: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _parent, _title, text: warnings.append(text))
    dialog.open()
    dialog.save()
    assert warnings and "Cannot write the settings file" in warnings[0]
    assert dialog.isVisible() and dialog.saved_to is None
