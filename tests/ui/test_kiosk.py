"""Kiosk mode: auto-adds into a named session, counts, undoes, and cannot be left without the PIN."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from app.config import Settings
from app.engine import Engine
from models.sim.scenarios import Material, seeded_suite, write_clip
from tests.ui.conftest import CLIP_CARDS, replay
from ui.app import build_kiosk, create_application, open_collection
from ui.controller import ScanController
from ui.kiosk import KioskWindow, PinDialog


def make_kiosk(qtbot: QtBot, settings: Settings, engine: Engine, clip: Path) -> tuple[KioskWindow, ScanController]:
    create_application()
    controller = ScanController(
        engine,
        settings,
        open_collection(settings),
        open_source=replay(clip),
        session_label="Saturday intake",
        auto_add=True,
    )
    kiosk = build_kiosk(controller, settings)
    qtbot.addWidget(kiosk)
    kiosk.showFullScreen()
    return kiosk, controller


def test_kiosk_auto_adds_and_counts(qtbot: QtBot, settings: Settings, engine_for: Engine, clip_path: Path) -> None:
    kiosk, controller = make_kiosk(qtbot, settings, engine_for, clip_path)
    with qtbot.waitSignal(controller.worker.finished, timeout=120_000):
        controller.start()
    qtbot.waitUntil(lambda: kiosk.count.text() == "2", timeout=10_000)
    collection = controller.collection
    assert sorted(r["card_id"] for r in collection.inventory()) == sorted(CLIP_CARDS)
    summary = collection.session_summary(controller.session.session_id or 0)
    assert summary["label"] == "Saturday intake" and summary["cards_added"] == 2
    qtbot.mouseClick(kiosk.undo, Qt.MouseButton.LeftButton)
    assert kiosk.count.text() == "1"
    assert len(collection.inventory()) == 1
    assert kiosk.isFullScreen()
    controller.stop()
    kiosk._may_close = True
    kiosk.close()


def test_kiosk_cannot_be_closed_or_escaped_without_the_pin(qtbot: QtBot, settings: Settings) -> None:
    create_application()
    kiosk = KioskWindow("4321", "Kiosk")
    qtbot.addWidget(kiosk)
    kiosk.showFullScreen()
    qtbot.keyClick(kiosk, Qt.Key.Key_Escape)
    kiosk.close()
    assert kiosk.isVisible()

    def answer(pin: str) -> None:
        dialog = next(w for w in QApplication.topLevelWidgets() if isinstance(w, PinDialog) and w.isVisible())
        for key in pin:
            dialog.press(key)
        dialog.press("✓")
        if dialog.isVisible():
            dialog.reject()

    QTimer.singleShot(100, lambda: answer("1111"))
    assert kiosk.ask_exit() is False
    assert kiosk.isVisible()
    QTimer.singleShot(100, lambda: answer("4321"))
    assert kiosk.ask_exit() is True
    assert not kiosk.isVisible()


def test_sigterm_ends_even_the_kiosk_cleanly(qtbot: QtBot, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """systemd stops the kiosk with SIGTERM: the handler ends the event loop with exit(0) — not quit(),
    which Qt would cancel because the kiosk refuses to close without the PIN."""
    import os
    import signal

    from ui.app import quit_on_signals

    app = create_application()
    kiosk = KioskWindow("4321", "Kiosk")
    qtbot.addWidget(kiosk)
    kiosk.show()
    exits: list[int] = []
    monkeypatch.setattr(app, "exit", lambda code=0: exits.append(code))
    monkeypatch.setattr(app, "quit", lambda: exits.append(-1))
    previous = (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT))
    timer = quit_on_signals(app)
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        qtbot.waitUntil(lambda: exits == [0], timeout=2_000)
        assert kiosk.isVisible()  # the PIN still guards the window itself
    finally:
        timer.stop()
        signal.signal(signal.SIGTERM, previous[0])
        signal.signal(signal.SIGINT, previous[1])
        kiosk._may_close = True
        kiosk.close()


def test_kiosk_counts_each_card_of_a_stack_laid_on_one_spot(
    qtbot: QtBot, settings: Settings, engine_for: Engine, catalog_dir: Path, ebay_dir: Path, tmp_path: Path
) -> None:
    """The kiosk's job: cards laid one after another where the last one lay, no gap between them."""
    material = Material(catalog_dir, ebay_dir)
    (swap,) = [s for s in seeded_suite(engine_for.bundle, material, 3, hold=45) if s.name == "kiosk_swap_gap0"]
    clip = write_clip(swap, material, tmp_path, 3, (1280, 720))
    kiosk, controller = make_kiosk(qtbot, settings, engine_for, clip)
    with qtbot.waitSignal(controller.worker.finished, timeout=120_000):
        controller.start()
    qtbot.waitUntil(lambda: kiosk.count.text() == "4", timeout=10_000)
    laid = [card for event, card in swap.expected]
    assert sorted((r["card_id"], r["quantity"]) for r in controller.collection.inventory()) == sorted(
        (card, 1) for card in laid
    )
    controller.stop()
    kiosk._may_close = True
    kiosk.close()
