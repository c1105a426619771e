"""numpy ↔ Qt image helpers (the only place pixels cross into Qt)."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap

from app.camera.base import BGRImage


def qimage_from_bgr(image: BGRImage) -> QImage:
    """A QImage that owns a copy of the pixels (the numpy buffer may be reused by the camera)."""
    image = np.ascontiguousarray(image)
    height, width = image.shape[:2]
    return QImage(image.data, width, height, int(image.strides[0]), QImage.Format.Format_BGR888).copy()


def pixmap_from_bgr(image: BGRImage, width: int, height: int) -> QPixmap:
    pixmap = QPixmap.fromImage(qimage_from_bgr(image))
    return pixmap.scaled(width, height, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)


def pixmap_from_file(path: Path | None, width: int, height: int) -> QPixmap:
    """A reference thumbnail scaled to fit; cached, since the same cards come back as alternatives
    and decoding six JPEGs on the UI thread for every scan shows up as a stall."""
    if path is None:
        return QPixmap()
    return QPixmap(_scaled_thumbnail(str(path), width, height))


@functools.lru_cache(maxsize=1024)
def _scaled_thumbnail(path: str, width: int, height: int) -> QPixmap:
    pixmap = QPixmap(path)
    if pixmap.isNull():
        return pixmap
    return pixmap.scaled(width, height, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
