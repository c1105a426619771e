"""A short confirmation over the bottom of a window that goes away by itself ("Added Pikachu …")."""

from __future__ import annotations

import logging

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtWidgets import QLabel, QWidget

logger = logging.getLogger(__name__)

SHOWN_MS = 2500


class Toast(QLabel):
    """Child of ``host``, centred near the bottom of ``anchor`` while that is visible (the camera
    picture: the panel's buttons stay uncovered), else of ``host``; ``show_text`` restarts the timer."""

    def __init__(self, host: QWidget, anchor: QWidget | None = None) -> None:
        super().__init__(host)
        self.anchor = anchor
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
        area = host.rect()
        if self.anchor is not None and self.anchor.isVisible():
            area = self.anchor.rect().translated(self.anchor.mapTo(host, self.anchor.rect().topLeft()))
        self.setWordWrap(False)
        width = min(self.sizeHint().width() + 32, area.width() - 20)
        if width < self.sizeHint().width():
            self.setWordWrap(True)  # a narrow picture: two lines rather than a cut name
        height = self.heightForWidth(width) if self.wordWrap() else self.sizeHint().height()
        height += 12
        self.setGeometry(area.x() + (area.width() - width) // 2, area.bottom() - height - 16, width, height)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.Resize and self.isVisible():
            self._place()
        return False
