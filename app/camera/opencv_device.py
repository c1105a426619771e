"""A webcam or network stream through OpenCV's VideoCapture."""

from __future__ import annotations

import logging

import cv2

from app.camera.base import CameraDisconnected, CameraError, Frame, FrameSource, monotonic_seconds

logger = logging.getLogger(__name__)


class OpenCVDeviceSource(FrameSource):
    """OpenCV camera by index (``0``) or URL (``rtsp://…``, ``http://…/video``).

    ``max_failed_reads`` consecutive failed grabs mean the device is gone: USB webcams that are
    unplugged make ``read()`` return False rather than raise. Stream URLs get FFmpeg's open and read
    timeouts (``timeout_s``): without them a server that accepts and never answers blocks ~30 s.
    """

    def __init__(
        self,
        device: int | str,
        width: int | None = None,
        height: int | None = None,
        max_failed_reads: int = 5,
        timeout_s: float = 5.0,
    ) -> None:
        super().__init__()
        self.device = device
        self.width = width
        self.height = height
        self.max_failed_reads = max_failed_reads
        self.timeout_s = timeout_s
        self.description = f"stream {device}" if self.is_stream else f"OpenCV camera {device!r}"
        self._capture: cv2.VideoCapture | None = None
        self._failed_reads = 0

    @property
    def is_stream(self) -> bool:
        return isinstance(self.device, str) and "://" in self.device

    def _open(self) -> None:
        capture = self._capture_for_device()
        if not capture.isOpened():
            capture.release()
            if self.is_stream:
                raise CameraError(
                    f"Cannot open stream {self.device} (refused, unreachable, not a video stream, "
                    f"or no answer within {self.timeout_s:.0f} s)"
                )
            raise CameraError(f"Cannot open camera {self.device!r} (no such device, or it is busy)")
        if self.width and self.height:
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        self._capture = capture
        self._failed_reads = 0

    def _capture_for_device(self) -> cv2.VideoCapture:
        if not self.is_stream:
            # Local devices answer at once; the timeouts are FFmpeg's options for network streams.
            return cv2.VideoCapture(self.device)
        timeout_ms = int(self.timeout_s * 1000)
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeout_ms]
        return cv2.VideoCapture(self.device, cv2.CAP_ANY, params)

    def _read(self) -> Frame | None:
        assert self._capture is not None
        while True:
            ok, image = self._capture.read()
            if ok and image is not None:
                self._failed_reads = 0
                return Frame(image=image, timestamp=monotonic_seconds(), index=self._frames_read)
            self._failed_reads += 1
            if self._failed_reads >= self.max_failed_reads:
                raise CameraDisconnected(
                    f"{self.description} stopped delivering frames ({self._failed_reads} failed reads)"
                )

    def _close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


def probe_opencv_device(device: int | str) -> bool:
    """True when the device opens and delivers one frame (OpenCV's own warnings about absent
    devices are silenced while probing: a missing camera is the expected answer here)."""
    previous = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    capture = cv2.VideoCapture(device)
    try:
        if not capture.isOpened():
            return False
        ok, _ = capture.read()
        return bool(ok)
    finally:
        capture.release()
        cv2.utils.logging.setLogLevel(previous)


def list_devices(sys_root: str = "/sys/class/video4linux") -> list[tuple[int, str]]:
    """(index, name) of the V4L2 capture devices, for a settings list — without opening them (opening
    a busy camera can take seconds). Empty where V4L2 does not exist (macOS, Windows)."""
    from pathlib import Path

    devices: list[tuple[int, str]] = []
    root = Path(sys_root)
    if not root.is_dir():
        return devices
    for entry in sorted(root.glob("video*")):
        suffix = entry.name.removeprefix("video")
        if not suffix.isdigit():
            continue
        try:
            name = (entry / "name").read_text(encoding="utf-8").strip()
        except OSError:
            name = entry.name
        devices.append((int(suffix), name))
    return devices
