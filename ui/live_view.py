"""The live camera picture with each found card outlined in the colour of its state."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPaintEvent, QPen, QPolygonF
from PySide6.QtWidgets import QSizePolicy, QWidget

from app.pipeline import FrameResult, TrackView
from ui.images import qimage_from_bgr

#: Outline colour per track state: looking (amber), steady (blue), identified (green), unknown (red).
STATE_COLOURS = {
    "looking": QColor("#f5a623"),
    "steady": QColor("#4a90e2"),
    "identified": QColor("#2ecc71"),
    "uncertain": QColor("#f1c40f"),
    "unknown": QColor("#e74c3c"),
    "card_back": QColor("#9b59b6"),
}


class LiveView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("liveView")
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(320, 180)
        self._image: QImage | None = None
        self._tracks: list[TrackView] = []
        self.message = ""
        self.frames_shown = 0

    def show_frame(self, result: FrameResult) -> None:
        self._image = qimage_from_bgr(result.frame.image)
        self._tracks = result.tracks
        self.frames_shown += 1
        self.update()

    def set_message(self, text: str) -> None:
        self.message = text
        self.update()

    def image_rect(self) -> QRectF:
        if self._image is None:
            return QRectF(self.rect())
        scale = min(self.width() / self._image.width(), self.height() / self._image.height())
        w, h = self._image.width() * scale, self._image.height() * scale
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#10151c"))
        if self._image is not None:
            target = self.image_rect()
            painter.drawImage(target, self._image)
            scale = target.width() / self._image.width()
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            for track in self._tracks:
                colour = STATE_COLOURS.get(track.state, QColor("white"))
                painter.setPen(QPen(colour, max(2.0, 3.0 * scale)))
                polygon = QPolygonF([QPointF(target.x() + x * scale, target.y() + y * scale) for x, y in track.corners])
                painter.drawPolygon(polygon)
        if self.message:
            painter.setPen(QColor("white"))
            font = painter.font()
            font.setPointSizeF(max(11.0, self.height() / 30))
            painter.setFont(font)
            painter.drawText(
                self.rect().adjusted(20, 20, -20, -20),
                Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                self.message,
            )
        painter.end()
