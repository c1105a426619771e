"""A folder of still images replayed as a stream."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from app.camera.base import CameraError, Frame, FrameSource
from app.imageio import ImageReadError, read_image_bgr

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".heic"})


class ImageFolderSource(FrameSource):
    """Images in name order, one frame each. ``fps=None`` replays as fast as possible; otherwise
    frames are paced to ``fps`` and stamped ``index / fps``. Unreadable files are logged and skipped.

    Each photo is its own scene (``stills``): the scan loop identifies every photo on its own rather
    than tracking cards across photos as if they were frames of one video."""

    is_recorded = True
    #: Frames are unrelated photos, not a stream (see :meth:`app.scanner.ScanLoop.scan`).
    stills = True

    def __init__(self, folder: str | Path, fps: float | None = None, loop: bool = False) -> None:
        super().__init__()
        self.folder = Path(folder)
        self.fps = fps
        self.loop = loop
        self.description = f"image folder {self.folder}"
        self._paths: list[Path] = []
        self._position = 0
        self._start_wall = 0.0
        self.skipped: list[tuple[Path, str]] = []

    def _open(self) -> None:
        if not self.folder.is_dir():
            raise CameraError(f"Image folder not found: {self.folder}")
        self._paths = sorted(p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self._paths:
            raise CameraError(f"No images in {self.folder} (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
        self._position = 0
        self._start_wall = time.monotonic()

    def _read(self) -> Frame | None:
        while True:
            if self._position >= len(self._paths):
                if not self.loop or len(self.skipped) >= len(self._paths):
                    return None
                self._position = 0
                self.skipped.clear()
            path = self._paths[self._position]
            index = self._frames_read
            self._position += 1
            try:
                image = read_image_bgr(path)
            except ImageReadError as error:
                logger.warning("Skipping %s: %s", path, error)
                self.skipped.append((path, str(error)))
                continue
            interval = 1.0 / self.fps if self.fps else 1.0 / 30.0
            timestamp = index * interval
            if self.fps:
                delay = self._start_wall + timestamp - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            return Frame(image=image, timestamp=timestamp, index=index)

    def _close(self) -> None:
        self._paths = []
