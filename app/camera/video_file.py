"""A recorded video file, replayed with its own frame times."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import cv2

from app.camera.base import CameraError, Frame, FrameSource

logger = logging.getLogger(__name__)


class VideoFileSource(FrameSource):
    """Frames of a video file. ``realtime=True`` paces reads to the file's fps (a demo feed);
    otherwise frames come as fast as they are read. Timestamps are always the file's frame times."""

    is_recorded = True

    def __init__(self, path: str | Path, realtime: bool = False, loop: bool = False) -> None:
        super().__init__()
        self.path = Path(path)
        self.realtime = realtime
        self.loop = loop
        self.description = f"video file {self.path.name}"
        self._capture: cv2.VideoCapture | None = None
        self.fps = 30.0
        self._start_wall = 0.0
        self._loop_offset = 0.0
        self._last_timestamp = 0.0

    def _open(self) -> None:
        if not self.path.is_file():
            raise CameraError(f"Video file not found: {self.path}")
        if self.path.stat().st_size == 0:
            raise CameraError(f"Video file {self.path} is empty (0 bytes)")
        capture = cv2.VideoCapture(str(self.path))
        if not capture.isOpened():
            capture.release()
            raise CameraError(f"Cannot read video file {self.path} (unsupported or corrupt)")
        fps = capture.get(cv2.CAP_PROP_FPS)
        self.fps = fps if fps and fps > 0 else 30.0
        self._capture = capture
        self._start_wall = time.monotonic()
        self._loop_offset = 0.0

    def _read(self) -> Frame | None:
        assert self._capture is not None
        ok, image = self._capture.read()
        if not ok or image is None:
            if not self.loop or self._frames_read == 0:
                return None
            # Restart at the beginning; times keep increasing so downstream trackers see a new scene.
            self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            self._loop_offset = self._last_timestamp + 1.0 / self.fps
            ok, image = self._capture.read()
            if not ok or image is None:
                return None
        position = self._capture.get(cv2.CAP_PROP_POS_FRAMES) - 1
        timestamp = self._loop_offset + max(position, 0) / self.fps
        self._last_timestamp = timestamp
        if self.realtime:
            delay = self._start_wall + timestamp - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        return Frame(image=image, timestamp=timestamp, index=self._frames_read)

    def _close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None
