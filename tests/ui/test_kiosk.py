"""Kiosk mode: auto-adds into a named session, counts, undoes, and cannot be left without the PIN."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint, QRect, Qt, QTimer
from PySide6.QtWidgets import QApplication, QPushButton, QWidget
from pytestqt.qtbot import QtBot

from app.config import Settings
from app.engine import Engine
from app.pipeline import ScanEvent
from app.session import ScanEntry
from models.sim.scenarios import Material, seeded_suite, write_clip
from tests.ui.conftest import CLIP_CARDS, replay
from ui.app import build_kiosk, create_application, open_collection
from ui.controller import ScanController
from ui.kiosk import IDLE_TEXT, KioskWindow, PinDialog


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
    names = [controller.engine.bundle.metadata[card]["name"] for card in CLIP_CARDS]
    assert names[1] in kiosk.last.text()
    qtbot.mouseClick(kiosk.undo, Qt.MouseButton.LeftButton)
    assert kiosk.count.text() == "1"
    assert len(collection.inventory()) == 1
    # The last-card line follows the undo: the card before, not the undone one.
    assert names[0] in kiosk.last.text() and names[1] not in kiosk.last.text()
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
    last = engine_for.bundle.metadata[str(laid[-1])]
    assert str(last["name"]) in kiosk.last.text() and str(last["set_name"]) in kiosk.last.text()
    assert sorted((r["card_id"], r["quantity"]) for r in controller.collection.inventory()) == sorted(
        (card, 1) for card in laid
    )
    controller.stop()
    kiosk._may_close = True
    kiosk.close()


# ---------------------------------------------------------------------------- the screen and the line


def catalogue(settings: Settings) -> dict[str, Any]:
    metadata: dict[str, Any] = json.loads((Path(settings.match.bundle) / "metadata.json").read_text(encoding="utf-8"))
    return metadata


def added(card_id: str, cards: dict[str, Any], scan_id: int = 1) -> ScanEntry:
    meta = cards.get(card_id, {})
    event = ScanEvent(
        0.0, scan_id, "identified", card_id, meta.get("name", "Mystery card"), meta.get("set_id", "zz9"), "77"
    )
    return ScanEntry(scan_id, event, card_id, added=True)


def inside(window: QWidget, widget: QWidget) -> bool:
    area = QRect(widget.mapTo(window, QPoint(0, 0)), widget.size())
    return widget.isVisible() and not area.isEmpty() and window.rect().contains(area)


@pytest.mark.parametrize(
    ("size", "before"),
    [((800, 480), None), ((1920, 1080), None), ((800, 480), (1920, 1080)), ((1920, 1080), (800, 480))],
)
def test_kiosk_fits_the_screen_with_every_control_on_it(
    qtbot: QtBot, settings: Settings, size: tuple[int, int], before: tuple[int, int] | None
) -> None:
    """The Pi's 800×480 screen (and a 1080p one): the window never asks for more, and the count, the
    last card, Undo and Staff lie wholly on it — with a banner and a long name showing, and after the
    window had another size first (the words grow on a tall screen and shrink back); the value line
    with the shop's offer too."""
    from ui.price_service import ValueTotals

    create_application()  # the real style sheet: its fonts are what must fit
    cards = catalogue(settings)
    kiosk = KioskWindow("4321", "Saturday intake at the card shop's front counter", cards=cards, buy_percent=62.5)
    qtbot.addWidget(kiosk)
    kiosk.resize(*(before or size))
    kiosk.show()
    qtbot.waitExposed(kiosk)
    kiosk.resize(*size)
    kiosk.set_banner("The camera was lost — reconnecting. Check its cable; scanning goes on by itself once it is back.")
    long_name = max((c for c in cards.values() if c.get("set_name")), key=lambda c: len(c["name"]))
    kiosk.show_added(added(long_name["card_id"], cards), 1234)
    kiosk.show_value(ValueTotals(value_cents=12_345_678, cards=1234, unpriced_cards=56))
    qtbot.wait(50)
    assert (kiosk.width(), kiosk.height()) == size
    assert kiosk.minimumSizeHint().height() <= size[1] and kiosk.minimumSizeHint().width() <= size[0]
    for widget in (kiosk.count, kiosk.value, kiosk.last, kiosk.undo, kiosk.staff, kiosk.session, kiosk.banner):
        assert inside(kiosk, widget), widget.objectName()
    for line in kiosk.value.text().split("\n"):
        assert kiosk.value.fontMetrics().horizontalAdvance(line) <= kiosk.value.width(), line
    assert kiosk.value.fontMetrics().lineSpacing() * 2 <= kiosk.value.height()
    assert kiosk.undo.height() >= 48 and kiosk.staff.height() >= 48  # touch targets
    assert kiosk.count.font().pixelSize() <= kiosk.count.height()
    metrics = kiosk.last.fontMetrics()
    for line in kiosk.last.text().split("\n"):
        assert metrics.horizontalAdvance(line) <= kiosk.last.width()
    pin = PinDialog("4321", kiosk)
    pin.ensurePolished()
    assert pin.sizeHint().height() <= size[1] and pin.sizeHint().width() <= size[0]
    kiosk._may_close = True
    kiosk.close()


def test_last_card_shows_the_set_name_and_the_printed_number(qtbot: QtBot, settings: Settings) -> None:
    create_application()
    cards = catalogue(settings)
    kiosk = KioskWindow("4321", "Kiosk", cards=cards)
    qtbot.addWidget(kiosk)
    kiosk.resize(800, 480)
    kiosk.show()
    kiosk.show_added(added("sv5-123", cards), 1)
    assert kiosk.last.text() == "✓ Raging Bolt ex\nTemporal Forces 123/162"
    # A card the catalogue does not describe still shows what the scan said.
    kiosk.show_added(added("zz9-77", cards, scan_id=2), 2)
    assert kiosk.last.text() == "✓ Mystery card\nzz9 77"
    kiosk._may_close = True
    kiosk.close()


def test_undo_moves_the_last_card_line_back_to_the_card_before_or_to_nothing(qtbot: QtBot, settings: Settings) -> None:
    create_application()
    cards = catalogue(settings)
    kiosk = KioskWindow("4321", "Kiosk", cards=cards)
    qtbot.addWidget(kiosk)
    kiosk.resize(800, 480)
    kiosk.show()
    first, second = added("sv3pt5-6", cards, 1), added("sv5-123", cards, 2)
    kiosk.show_added(first, 1)
    kiosk.show_added(second, 2)
    # What the scan session does on undo: the entry is no longer added, then the count follows.
    second.added = False
    kiosk.show_count(1)
    assert kiosk.count.text() == "1" and kiosk.last.text() == "✓ Charizard ex\n151 6/165"
    first.added = False
    kiosk.show_count(0)
    assert kiosk.count.text() == "0" and kiosk.last.text() == IDLE_TEXT
    kiosk._may_close = True
    kiosk.close()


def visible_pin_pad() -> PinDialog | None:
    return next((w for w in QApplication.topLevelWidgets() if isinstance(w, PinDialog) and w.isVisible()), None)


def tap_when_the_pin_pad_shows(button: str, tapped: list[str]) -> None:
    """Tap ``button`` on the PIN pad once it shows; without such a button, close the pad another way
    (so the test fails instead of waiting for ever)."""

    def tap() -> None:
        dialog = visible_pin_pad()
        assert dialog is not None
        found = dialog.findChild(QPushButton, button)
        if found is None:
            dialog.reject()
            return
        found.click()
        tapped.append(button)

    QTimer.singleShot(100, tap)


def test_cancel_on_the_pin_pad_returns_to_the_kiosk(qtbot: QtBot) -> None:
    create_application()
    kiosk = KioskWindow("4321", "Kiosk")
    qtbot.addWidget(kiosk)
    kiosk.show()
    tapped: list[str] = []
    tap_when_the_pin_pad_shows("pinCancel", tapped)
    assert kiosk.ask_exit() is False
    assert tapped == ["pinCancel"]
    assert kiosk.isVisible() and visible_pin_pad() is None
    kiosk._may_close = True
    kiosk.close()


def test_the_pin_pad_closes_itself_when_nobody_taps(qtbot: QtBot) -> None:
    create_application()
    kiosk = KioskWindow("4321", "Kiosk", pin_timeout_s=0.3)
    qtbot.addWidget(kiosk)
    kiosk.show()
    rescued: list[bool] = []

    def rescue() -> None:
        dialog = visible_pin_pad()
        if dialog is not None:
            rescued.append(True)
            dialog.reject()

    QTimer.singleShot(15_000, rescue)
    started = time.monotonic()
    assert kiosk.ask_exit() is False  # returns once the pad has timed out
    assert not rescued and time.monotonic() - started >= 0.25
    assert kiosk.isVisible() and visible_pin_pad() is None
    kiosk._may_close = True
    kiosk.close()


def test_each_tap_on_the_pin_pad_restarts_its_timeout(qtbot: QtBot) -> None:
    create_application()
    dialog = PinDialog("4321", timeout_s=1.0)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.wait(700)
    dialog.press("1")
    qtbot.wait(700)  # past the first deadline: the tap started the wait again
    assert dialog.isVisible() and dialog.idle.isActive()
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=5_000)
    assert not dialog.idle.isActive()


def test_the_session_value_follows_adds_and_undo_and_shows_the_shop_offer(
    qtbot: QtBot, settings: Settings, engine_for: Engine
) -> None:
    from app.prices.base import Quote
    from app.prices.table import store_quotes

    create_application()
    collection = open_collection(settings)
    store_quotes(
        collection,
        [
            Quote("sv5-123", "normal", "tcgplayer", "USD", "2026-12-01", 2.5),
            Quote("sv3pt5-6", "normal", "tcgplayer", "USD", "2026-12-01", 100.0),
            Quote("sv3pt5-6", "holo", "tcgplayer", "USD", "2026-12-01", 900.0),  # another finish: not this one
        ],
    )
    controller = ScanController(
        engine_for, settings, collection, open_source=replay(Path("unused")), session_label="Intake", auto_add=True
    )
    kiosk = KioskWindow("4321", "Intake", cards=catalogue(settings), currency="USD", buy_percent=60)
    qtbot.addWidget(kiosk)
    # What build_kiosk wires (besides the camera): added cards, the count, the value, undo.
    controller.entry_added.connect(lambda entry: kiosk.show_added(entry, controller.session.added_count))
    controller.count_changed.connect(kiosk.show_count)
    controller.session_value.connect(kiosk.show_value)
    kiosk.undo_requested.connect(controller.undo)
    kiosk.resize(800, 480)
    kiosk.show()
    assert kiosk.value.text() == "Worth 0.00 USD\nWe pay 60 %: 0.00 USD"

    def scan(card_id: str, track: int) -> None:
        controller._on_event(ScanEvent(float(track), track, "identified", card_id, confidence=0.99))

    def shows(text: str) -> None:
        qtbot.waitUntil(lambda: kiosk.value.text() == text, timeout=5_000)

    scan("sv5-123", 1)
    shows("Worth 2.50 USD\nWe pay 60 %: 1.50 USD")
    scan("sv3pt5-6", 2)
    shows("Worth 102.50 USD\nWe pay 60 %: 61.50 USD")
    scan("xy12-1", 3)  # no price: counted apart, never as 0
    shows("Worth 102.50 USD + 1 unpriced\nWe pay 60 %: 61.50 USD")
    kiosk.undo.click()
    shows("Worth 102.50 USD\nWe pay 60 %: 61.50 USD")
    kiosk.undo.click()
    shows("Worth 2.50 USD\nWe pay 60 %: 1.50 USD")
    assert kiosk.count.text() == "1"
    controller.stop()
    collection.close()
    kiosk._may_close = True
    kiosk.close()


def test_without_a_buy_percentage_only_the_value_shows(qtbot: QtBot) -> None:
    from ui.price_service import ValueTotals

    create_application()
    kiosk = KioskWindow("4321", "Kiosk", currency="EUR")
    qtbot.addWidget(kiosk)
    kiosk.show_value(ValueTotals(value_cents=123_456, cards=3, unpriced_cards=0))
    assert kiosk.value.text() == "Worth 1,234.56 EUR"
    kiosk._may_close = True
    kiosk.close()


def test_no_value_to_show_leaves_the_value_line_empty_rather_than_zero(qtbot: QtBot) -> None:
    from ui.price_service import ValueTotals

    create_application()
    kiosk = KioskWindow("4321", "Kiosk", buy_percent=50)
    qtbot.addWidget(kiosk)
    kiosk.show_value(ValueTotals(value_cents=1_000, cards=1))
    assert kiosk.value.text() == "Worth 10.00 USD\nWe pay 50 %: 5.00 USD"
    kiosk.show_value(None)  # a shop server's collection, or prices that cannot be read
    assert kiosk.value.text() == ""
    kiosk._may_close = True
    kiosk.close()
