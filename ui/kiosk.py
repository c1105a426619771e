"""Kiosk mode: fullscreen, no window chrome, big touch targets; every identified card is added to a
named session with a big running count, the session's running market value (and what the shop pays,
when a buy percentage is set) and an undo button. Leaving (or settings) needs the PIN.

Laid out for the Raspberry Pi's 800×480 touch screen and up: nothing in the window asks for more
height than the screen has (the count's font follows the room it gets, the last-card line is a fixed
number of lines), so the window never grows past the screen and the Staff button stays on it."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QKeyEvent, QResizeEvent, QShowEvent
from PySide6.QtWidgets import (
    QDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLayout,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from app.collection.csvio import card_number
from app.prices.value import money
from app.session import ScanEntry
from ui.live_view import LiveView
from ui.price_service import ValueTotals

logger = logging.getLogger(__name__)

#: Seconds without a tap after which the PIN pad closes by itself: a customer who tapped Staff is
#: back at the scanner without help.
PIN_TIMEOUT_S = 30.0
#: What the last-card line says before the first card, and after undoing the only one.
IDLE_TEXT = "Place a card in front of the camera"
#: Added cards remembered, so that undo can show the card before the undone one.
HISTORY = 50
#: Lines of text the last-card line always has room for (a name, its set and number, or a hint).
LAST_LINES = 3
#: The screen height the style sheet's text sizes are meant for (the Pi's touch screen) ...
BASE_HEIGHT = 480
#: ... and how much larger the words may grow on a taller screen.
MAX_TEXT_SCALE = 2.25

CardInfo = Mapping[str, Mapping[str, Any]]


class PinDialog(QDialog):
    """A touch keypad; ``accepted`` only with the configured PIN. Cancel, or no tap for
    ``timeout_s`` seconds, closes it (rejected)."""

    def __init__(self, pin: str, parent: QWidget | None = None, timeout_s: float = PIN_TIMEOUT_S) -> None:
        super().__init__(parent)
        self.setObjectName("pinDialog")
        self.setWindowTitle("Staff PIN")
        self.pin = pin
        self.entry = QLineEdit()
        self.entry.setEchoMode(QLineEdit.EchoMode.Password)
        self.entry.setObjectName("pinEntry")
        self.entry.textEdited.connect(self._restart_idle)
        self.message = QLabel("Enter the staff PIN")
        self.cancel = QPushButton("Cancel")
        self.cancel.setObjectName("pinCancel")
        self.cancel.clicked.connect(self.reject)
        self.idle = QTimer(self)
        self.idle.setSingleShot(True)
        self.idle.setTimerType(Qt.TimerType.PreciseTimer)  # a coarse timer may fire up to 5 % early
        self.idle.setInterval(max(1, round(timeout_s * 1000)))
        self.idle.timeout.connect(self._timed_out)
        top = QHBoxLayout()
        top.addWidget(self.message, 1)
        top.addWidget(self.cancel)
        grid = QGridLayout()
        for i, key in enumerate("123456789C0✓"):
            button = QPushButton(key)
            button.setObjectName("pinKey")
            button.setMinimumSize(72, 56)
            button.clicked.connect(lambda _=False, k=key: self.press(k))
            grid.addWidget(button, i // 3, i % 3)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.entry)
        layout.addLayout(grid)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        self.idle.start()

    def press(self, key: str) -> None:
        self._restart_idle()
        if key == "C":
            self.entry.clear()
        elif key == "✓":
            self.check()
        else:
            self.entry.insert(key)

    def check(self) -> None:
        if self.entry.text() == self.pin:
            self.accept()
        else:
            self.message.setText("Wrong PIN")
            self.entry.clear()

    def done(self, result: int) -> None:
        self.idle.stop()
        super().done(result)

    def _restart_idle(self) -> None:
        if self.isVisible():
            self.idle.start()

    def _timed_out(self) -> None:
        logger.info("PIN pad closed after %.0f s without a tap", self.idle.interval() / 1000)
        self.reject()


class CountLabel(QLabel):
    """The big running count: its font fills the height the layout gives it (never the other way
    round, so a large count cannot push the window past the screen)."""

    def __init__(self, text: str = "0") -> None:
        super().__init__(text)
        self.setObjectName("kioskCount")
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.setMinimumHeight(48)
        self._pixels = 0

    def set_count(self, total: int) -> None:
        self.setText(str(total))
        self._fit()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        # A digit is about 0.6 of the font's pixel size wide; leave a margin on every side.
        by_height = self.height() * 0.75
        by_width = self.width() * 0.9 / (0.6 * max(1, len(self.text())))
        pixels = int(max(24, min(by_height, by_width, 480)))
        if pixels != self._pixels:
            self._pixels = pixels
            # The widget's own style sheet wins over the application's, whatever its selectors.
            self.setStyleSheet(f"font-size: {pixels}px;")


class LastCardLabel(QLabel):
    """The last-card line: always :data:`LAST_LINES` lines high. A line break in the text is kept and
    each line that is too long ends in "…" (a long name never wraps into the buttons' room); a hint
    without line breaks wraps within the label."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.setObjectName("kioskLast")
        self.setWordWrap(True)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.full_text = text

    def set_full_text(self, text: str) -> None:
        self.full_text = text
        self._render()

    def fit_height(self) -> None:
        """The fixed height, from the font the style sheet gives (known once polished)."""
        self.ensurePolished()
        self.setFixedHeight(self.fontMetrics().lineSpacing() * LAST_LINES + 6)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._render()

    def _render(self) -> None:
        lines = self.full_text.split("\n")
        if len(lines) > 1:
            width = max(1, self.contentsRect().width() - 4)
            lines = [self.fontMetrics().elidedText(line, Qt.TextElideMode.ElideRight, width) for line in lines]
        self.setText("\n".join(lines))


def card_lines(entry: ScanEntry, cards: CardInfo | None) -> tuple[str, str]:
    """The card's name, and its set's name with the number as printed ("Temporal Forces 123/162");
    the event's own ids where the catalogue does not know the card."""
    event = entry.event
    card_id = entry.card_id or event.card_id or ""
    meta = (cards or {}).get(card_id) or {}
    name = str(meta.get("name") or event.name or card_id)
    where = str(meta.get("set_name") or event.set_id or "")
    number = card_number(dict(meta)) if meta.get("number") else str(event.number or "")
    return name, f"{where} {number}".strip()


def value_text(totals: ValueTotals, currency: str, buy_percent: float | None) -> str:
    """``Worth 123.45 USD`` (and the unpriced cards, never counted as 0), then ``We pay 60 %: 74.07 USD``
    when the shop set its buy percentage: two lines at most, for the fixed room the line has."""
    worth = f"Worth {money(totals.value_cents, currency)}"
    if totals.unpriced_cards:
        worth += f" + {totals.unpriced_cards} unpriced"
    if buy_percent is None:
        return worth
    offer = round(totals.value_cents * buy_percent / 100)
    return f"{worth}\nWe pay {buy_percent:g} %: {money(offer, currency)}"


class KioskWindow(QWidget):
    undo_requested = Signal()
    exit_granted = Signal()

    def __init__(
        self,
        pin: str,
        session_label: str,
        parent: QWidget | None = None,
        cards: CardInfo | None = None,
        pin_timeout_s: float = PIN_TIMEOUT_S,
        currency: str = "USD",
        buy_percent: float | None = None,
    ) -> None:
        """``cards``: card id → catalogue metadata (the reference bundle's), for set names and printed
        numbers on the last-card line. ``buy_percent``: what the shop pays, as a percentage of the
        market value, shown under it (None: only the value)."""
        super().__init__(parent)
        self.setObjectName("kioskWindow")
        self.setWindowFlag(Qt.WindowType.FramelessWindowHint, True)
        self.setWindowFlag(Qt.WindowType.WindowStaysOnTopHint, True)
        self.pin = pin
        self.cards = cards
        self.pin_timeout_s = pin_timeout_s
        self._may_close = False
        #: Entries shown as added, oldest first; undo drops the ones no longer added.
        self._added: list[ScanEntry] = []
        self._text_scale = 1.0
        #: The style sheet's point size and height of each widget whose words grow on a tall screen.
        self._base_sizes: dict[QWidget, tuple[float, int]] = {}
        self.live = LiveView()
        self.count = CountLabel("0")
        self.currency = currency
        self.buy_percent = buy_percent
        self.value = QLabel(value_text(ValueTotals(), currency, buy_percent))
        self.value.setObjectName("kioskValue")
        self.value.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.value.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.last = LastCardLabel(IDLE_TEXT)
        self.session = QLabel(session_label)
        self.session.setObjectName("kioskSession")
        self.session.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.session.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.banner = QLabel("")
        self.banner.setObjectName("banner")
        self.banner.setWordWrap(True)
        self.banner.hide()
        self.undo = QPushButton("Undo last")
        self.undo.setObjectName("kioskUndo")
        self.undo.clicked.connect(self.undo_requested)
        self.staff = QPushButton("Staff")
        self.staff.setObjectName("kioskStaff")
        self.staff.clicked.connect(self.ask_exit)
        self._lay_out()
        self._flash_timer = QTimer(self)
        self._flash_timer.setSingleShot(True)
        self._flash_timer.timeout.connect(lambda: self._set_flash(False))

    def _lay_out(self) -> None:
        caption = QLabel("cards added")
        caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._scaled = [self.session, caption, self.value, self.last, self.undo, self.staff, self.banner]
        # Undo and Staff side by side: one button row of height, so both fit under the count at 480 px.
        buttons = QHBoxLayout()
        buttons.addWidget(self.undo, 2)
        buttons.addWidget(self.staff, 1)
        side = QVBoxLayout()
        side.addWidget(self.session)
        side.addWidget(caption)
        side.addWidget(self.count, 1)
        side.addWidget(self.value)
        side.addWidget(self.last)
        side.addLayout(buttons)
        body = QHBoxLayout()
        body.addWidget(self.live, 3)
        body.addLayout(side, 2)
        layout = QVBoxLayout(self)
        # The screen sets the window's size, never the contents: the words are scaled to the size the
        # window gets (_scale_text), which a minimum from the previous, larger words would refuse.
        layout.setSizeConstraint(QLayout.SizeConstraint.SetNoConstraint)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(self.banner)
        layout.addLayout(body, 1)

    # ------------------------------------------------------------------ what the customer sees
    def show_added(self, entry: ScanEntry, total: int) -> None:
        self.count.set_count(total)
        event = entry.event
        if entry.added:
            self._added.append(entry)
            del self._added[:-HISTORY]
            self._show_card(entry)
            self._set_flash(True)
            self._flash_timer.start(600)
        elif event.event == "unknown":
            self._set_last("Not in the catalogue — put it aside")
        elif event.event == "card_back":
            self._set_last("That's the back — turn the card over")
        else:
            self._set_last("Not sure which card this is — hold it flatter and closer")

    def show_count(self, total: int) -> None:
        """The count after a change (an undo among them): the last-card line follows an undo."""
        self.count.set_count(total)
        kept = [e for e in self._added if e.added]
        if len(kept) != len(self._added):
            self._added = kept
            if kept:
                self._show_card(kept[-1])
            else:
                self._set_last(IDLE_TEXT)

    def show_value(self, totals: ValueTotals | None) -> None:
        """The session's value after an add or an undo (and the shop's offer when it set one); None:
        there is no value to show (a shop server's collection, unreadable prices), so none is shown
        rather than a wrong one. The empty line keeps its room: the layout does not jump."""
        if totals is None:
            self.value.setText("")
            return
        self.value.setText(value_text(totals, self.currency, self.buy_percent))

    def set_banner(self, text: str) -> None:
        self.banner.setText(text)
        self.banner.setVisible(bool(text))

    def _show_card(self, entry: ScanEntry) -> None:
        name, where = card_lines(entry, self.cards)
        self._set_last(f"✓ {name}\n{where}" if where else f"✓ {name}")

    def _set_last(self, text: str) -> None:
        self.last.set_full_text(text)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        self._fit_text_heights()
        super().showEvent(event)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._scale_text()

    def _fit_text_heights(self) -> None:
        self.last.fit_height()
        # Room for both lines from the start: the offer's line must not re-lay out the window.
        self.value.ensurePolished()
        lines = 1 if self.buy_percent is None else 2
        self.value.setFixedHeight(self.value.fontMetrics().lineSpacing() * lines + 4)
        self.banner.ensurePolished()
        # The banner wraps, but at most three lines' worth: the count gives way, never the buttons.
        self.banner.setMaximumHeight(self.banner.fontMetrics().lineSpacing() * 3 + 24)

    def _scale_text(self) -> None:
        """On a screen taller than the Pi's the words grow with it (up to :data:`MAX_TEXT_SCALE`), so
        they read from as far away at 1080p as at 480; at 480 px they stay as the style sheet says."""
        scale = min(MAX_TEXT_SCALE, max(1.0, self.height() / BASE_HEIGHT))
        if abs(scale - self._text_scale) < 0.05:
            return
        self._text_scale = scale
        for widget in self._scaled:
            if widget not in self._base_sizes:
                widget.ensurePolished()
                self._base_sizes[widget] = (widget.font().pointSizeF(), widget.sizeHint().height())
            points, height = self._base_sizes[widget]
            if points > 0:
                # The widget's own style sheet wins over the application's, whatever its selectors.
                widget.setStyleSheet(f"font-size: {points * scale:.1f}pt;")
            if isinstance(widget, QPushButton):
                # Taller buttons for the larger words, but not as much taller: they are wide already.
                widget.setMinimumHeight(round(height * (1 + (scale - 1) / 2)))
        self._fit_text_heights()

    def _set_flash(self, on: bool) -> None:
        self.count.setProperty("flash", on)
        self.count.style().unpolish(self.count)
        self.count.style().polish(self.count)

    # ------------------------------------------------------------------ locking
    def ask_exit(self) -> bool:
        dialog = PinDialog(self.pin, self, timeout_s=self.pin_timeout_s)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self._may_close = True
            self.exit_granted.emit()
            self.close()
            return True
        return False

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        # Alt+F4, a window manager close, or a stray signal: only with the PIN.
        if self._may_close:
            event.accept()
        else:
            event.ignore()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        if event.key() in (Qt.Key.Key_Escape, Qt.Key.Key_F4, Qt.Key.Key_Tab):
            event.accept()  # swallowed: no way out of the kiosk from the keyboard
            return
        if event.key() == Qt.Key.Key_Z and event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.undo_requested.emit()
            return
        super().keyPressEvent(event)
