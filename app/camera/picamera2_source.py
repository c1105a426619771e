"""Raspberry Pi camera through Picamera2 (libcamera).

``picamera2`` comes from Raspberry Pi OS (apt ``python3-picamera2``); it is imported only here, when the
source is created. Written against Picamera2 0.3.x: ``Picamera2(camera_num)``,
``create_video_configuration(main=…, lores=…)``, ``configure``, ``start``, ``capture_array(name,
wait=False)`` + ``wait(job, timeout)``, ``stop``, ``close``, ``Picamera2.global_camera_info()``.
"""

from __future__ import annotations

import logging
from types import ModuleType
from typing import Any

from app.camera.base import CameraDisconnected, CameraError, Frame, FrameSource, monotonic_seconds

logger = logging.getLogger(__name__)


def import_picamera2() -> ModuleType:
    """Import picamera2 or raise CameraError saying why it is unavailable."""
    try:
        import picamera2
    except ImportError as error:
        raise CameraError(
            "picamera2 is not installed (on Raspberry Pi OS: sudo apt install python3-picamera2, "
            "and create the venv with --system-site-packages)"
        ) from error
    return picamera2


def picamera2_cameras() -> list[dict[str, Any]]:
    """Cameras libcamera sees; empty when picamera2 is missing or no camera is attached."""
    try:
        module = import_picamera2()
    except CameraError as error:
        logger.debug("Picamera2 unavailable: %s", error)
        return []
    try:
        return list(module.Picamera2.global_camera_info())
    except Exception as error:  # libcamera raises assorted errors when the stack is broken
        logger.warning("Picamera2 present but listing cameras failed: %s", error)
        return []


class Picamera2Source(FrameSource):
    """Main stream (``RGB888``: B,G,R byte order in memory, so OpenCV uses it as is) for display and
    the finder; an optional ``lores`` stream for cheap analysis."""

    def __init__(
        self,
        camera_num: int = 0,
        size: tuple[int, int] = (1280, 720),
        lores_size: tuple[int, int] | None = (640, 360),
        frame_timeout_s: float = 2.0,
        controls: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.camera_num = camera_num
        self.size = size
        self.lores_size = lores_size
        self.frame_timeout_s = frame_timeout_s
        self.controls = dict(controls or {})
        self.description = f"Raspberry Pi camera {camera_num} ({size[0]}×{size[1]})"
        self._camera: Any = None

    def _open(self) -> None:
        module = import_picamera2()
        try:
            camera = module.Picamera2(self.camera_num)
        except Exception as error:
            raise CameraError(f"Cannot open Raspberry Pi camera {self.camera_num}: {error}") from error
        try:
            main = {"size": self.size, "format": "RGB888"}
            lores = {"size": self.lores_size, "format": "YUV420"} if self.lores_size else None
            config = camera.create_video_configuration(main=main, lores=lores)
            camera.configure(config)
            if self.controls:
                camera.set_controls(self.controls)
            camera.start()
        except Exception as error:
            camera.close()
            raise CameraError(f"Cannot start Raspberry Pi camera {self.camera_num}: {error}") from error
        self._camera = camera

    def _read(self) -> Frame | None:
        camera = self._camera
        try:
            job = camera.capture_array("main", wait=False)
            image = camera.wait(job, timeout=self.frame_timeout_s)
        except TimeoutError as error:
            raise CameraDisconnected(f"{self.description} gave no frame in {self.frame_timeout_s:.1f} s") from error
        except Exception as error:
            raise CameraDisconnected(f"{self.description} failed: {error}") from error
        if image is None or image.ndim != 3:
            raise CameraDisconnected(f"{self.description} returned an empty frame")
        # RGB888 gives 3 channels already in B,G,R order; XRGB8888 would give 4.
        return Frame(image=image[:, :, :3], timestamp=monotonic_seconds(), index=self._frames_read)

    def _close(self) -> None:
        camera, self._camera = self._camera, None
        if camera is None:
            return
        try:
            camera.stop()
        finally:
            camera.close()
