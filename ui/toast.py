"""A short confirmation over the bottom of a window that goes away by itself ("Added Pikachu …")."""

from __future__ import annotations

import logging

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtWidgets import QLabel, QWidget

logger = logging.getLogger(__name__)

SHOWN_MS = 2500


class Toast(QLabel):
    """Child of ``host``, centred near its bottom edge; ``show_text`` restarts the timer."""

    def __init__(self, host: QWidget) -> None:
        super().__init__(host)
        self.setObjectName("toast")
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.hide)
        host.installEventFilter(self)
        self.hide()

    def show_text(self, text: str, ms: int = SHOWN_MS) -> None:
        self.setText(text)
        self._place()
        self.show()
        self.raise_()
        self._timer.start(ms)

    def _place(self) -> None:
        host = self.parentWidget()
        if host is None:
            return
        self.adjustSize()
        width = min(self.sizeHint().width() + 32, host.width() - 20)
        height = self.sizeHint().height() + 12
        self.setGeometry((host.width() - width) // 2, host.height() - height - 36, width, height)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.Resize and self.isVisible():
            self._place()
        return False
