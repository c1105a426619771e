"""Kiosk mode: fullscreen, no window chrome, big touch targets; every identified card is added to a
named session with a big running count and an undo button. Leaving (or settings) needs the PIN."""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QKeyEvent
from PySide6.QtWidgets import (
    QDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.session import ScanEntry
from ui.live_view import LiveView

logger = logging.getLogger(__name__)


class PinDialog(QDialog):
    """A touch keypad; ``accepted`` only with the configured PIN."""

    def __init__(self, pin: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("pinDialog")
        self.setWindowTitle("Staff PIN")
        self.pin = pin
        self.entry = QLineEdit()
        self.entry.setEchoMode(QLineEdit.EchoMode.Password)
        self.entry.setObjectName("pinEntry")
        self.message = QLabel("Enter the staff PIN")
        grid = QGridLayout()
        for i, key in enumerate("123456789C0✓"):
            button = QPushButton(key)
            button.setObjectName("pinKey")
            button.setMinimumSize(72, 56)
            button.clicked.connect(lambda _=False, k=key: self.press(k))
            grid.addWidget(button, i // 3, i % 3)
        layout = QVBoxLayout(self)
        layout.addWidget(self.message)
        layout.addWidget(self.entry)
        layout.addLayout(grid)

    def press(self, key: str) -> None:
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


class KioskWindow(QWidget):
    undo_requested = Signal()
    exit_granted = Signal()

    def __init__(self, pin: str, session_label: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("kioskWindow")
        self.setWindowFlag(Qt.WindowType.FramelessWindowHint, True)
        self.setWindowFlag(Qt.WindowType.WindowStaysOnTopHint, True)
        self.pin = pin
        self._may_close = False
        self.live = LiveView()
        self.count = QLabel("0")
        self.count.setObjectName("kioskCount")
        self.count.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.last = QLabel("Place a card in front of the camera")
        self.last.setObjectName("kioskLast")
        self.last.setWordWrap(True)
        self.last.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.session = QLabel(session_label)
        self.session.setObjectName("kioskSession")
        self.session.setAlignment(Qt.AlignmentFlag.AlignCenter)
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

        side = QVBoxLayout()
        side.addWidget(self.session)
        side.addWidget(QLabel("cards added"), 0, Qt.AlignmentFlag.AlignHCenter)
        side.addWidget(self.count, 1)
        side.addWidget(self.last)
        side.addWidget(self.undo)
        side.addWidget(self.staff)
        body = QHBoxLayout()
        body.addWidget(self.live, 3)
        body.addLayout(side, 2)
        layout = QVBoxLayout(self)
        layout.addWidget(self.banner)
        layout.addLayout(body, 1)
        self._flash_timer = QTimer(self)
        self._flash_timer.setSingleShot(True)
        self._flash_timer.timeout.connect(lambda: self._set_flash(False))

    def show_added(self, entry: ScanEntry, total: int) -> None:
        self.count.setText(str(total))
        event = entry.event
        if entry.added:
            self.last.setText(f"✓ {event.name}\n{event.set_id} {event.number}")
            self._set_flash(True)
            self._flash_timer.start(600)
        elif event.event == "unknown":
            self.last.setText("Not in the catalogue — put it aside")
        elif event.event == "card_back":
            self.last.setText("That's the back — turn the card over")
        else:
            self.last.setText("Not sure which card this is — hold it flatter and closer")

    def show_count(self, total: int) -> None:
        self.count.setText(str(total))

    def set_banner(self, text: str) -> None:
        self.banner.setText(text)
        self.banner.setVisible(bool(text))

    def _set_flash(self, on: bool) -> None:
        self.count.setProperty("flash", on)
        self.count.style().unpolish(self.count)
        self.count.style().polish(self.count)

    # ------------------------------------------------------------------ locking
    def ask_exit(self) -> bool:
        dialog = PinDialog(self.pin, self)
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
