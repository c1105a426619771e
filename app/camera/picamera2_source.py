"""Raspberry Pi camera through Picamera2 (libcamera).

``picamera2`` comes from Raspberry Pi OS (apt ``python3-picamera2``); it is imported only here, when the
source is created. Written against Picamera2 0.3.x: ``Picamera2(camera_num)``,
``create_video_configuration(main=…, lores=…)``, ``configure``, ``start``, ``capture_arrays([...],
wait=False)`` + ``wait(job, timeout)``, ``camera_controls``, ``set_controls``, ``stop``, ``close``,
``Picamera2.global_camera_info()``.

Two streams from one capture: ``main`` (RGB888, for display, the warp and OCR) and ``lores`` (YUV420,
scaled by the ISP at no CPU cost) for the card finder's network. Controls: continuous autofocus and an
autofocus trigger where the sensor has them (Camera Module 3, imx708), and exposure compensation so
the app can darken the picture when holo foil glares (:mod:`app.camera.exposure`).
"""

from __future__ import annotations

import logging
from types import ModuleType
from typing import Any

import cv2

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


# libcamera's control enums (libcamera.controls.AfModeEnum / AfTriggerEnum) as integers, so this
# module does not need the libcamera bindings to import.
AF_MODE_AUTO = 1
AF_MODE_CONTINUOUS = 2
AF_TRIGGER_START = 0


class Picamera2Source(FrameSource):
    """Main stream (``RGB888``: B,G,R byte order in memory, so OpenCV uses it as is) for display, warp
    and OCR; ``lores`` (YUV420) converted to a small BGR picture for the finder's network."""

    def __init__(
        self,
        camera_num: int = 0,
        size: tuple[int, int] = (1280, 720),
        lores_size: tuple[int, int] | None = (384, 216),
        frame_timeout_s: float = 2.0,
        controls: dict[str, Any] | None = None,
        continuous_autofocus: bool = True,
    ) -> None:
        super().__init__()
        self.camera_num = camera_num
        self.size = size
        self.lores_size = lores_size
        self.frame_timeout_s = frame_timeout_s
        self.controls = dict(controls or {})
        self.continuous_autofocus = continuous_autofocus
        self.exposure_value = 0.0
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
            self._camera = camera
            controls = dict(self.controls)
            if self.continuous_autofocus and self.supports("AfMode"):
                controls.setdefault("AfMode", AF_MODE_CONTINUOUS)
            if controls:
                camera.set_controls(controls)
            camera.start()
        except Exception as error:
            self._camera = None
            camera.close()
            raise CameraError(f"Cannot start Raspberry Pi camera {self.camera_num}: {error}") from error

    # ------------------------------------------------------------------ controls
    def supports(self, control: str) -> bool:
        """Whether the attached sensor has ``control`` (``AfMode`` only on autofocus modules)."""
        return self._camera is not None and control in getattr(self._camera, "camera_controls", {})

    def trigger_autofocus(self) -> bool:
        """One autofocus sweep now (e.g. when a card is held up); False where the lens is fixed."""
        if not self.supports("AfTrigger"):
            return False
        self._camera.set_controls({"AfMode": AF_MODE_AUTO, "AfTrigger": AF_TRIGGER_START})
        if self.continuous_autofocus:
            self._camera.set_controls({"AfMode": AF_MODE_CONTINUOUS})
        return True

    def set_exposure_compensation(self, ev: float) -> float:
        """Exposure compensation in stops (negative darkens: less glare on foil); clamped to the
        sensor's range. Returns the value set."""
        if not self.supports("ExposureValue"):
            return 0.0
        low, high, _default = self._camera.camera_controls["ExposureValue"]
        self.exposure_value = float(min(max(ev, low), high))
        self._camera.set_controls({"ExposureValue": self.exposure_value})
        return self.exposure_value

    # ------------------------------------------------------------------ frames
    def _read(self) -> Frame | None:
        camera = self._camera
        streams = ["main", "lores"] if self.lores_size else ["main"]
        try:
            job = camera.capture_arrays(streams, wait=False)
            arrays, _metadata = camera.wait(job, timeout=self.frame_timeout_s)
        except TimeoutError as error:
            raise CameraDisconnected(f"{self.description} gave no frame in {self.frame_timeout_s:.1f} s") from error
        except Exception as error:
            raise CameraDisconnected(f"{self.description} failed: {error}") from error
        image = arrays[0] if arrays else None
        if image is None or image.ndim != 3:
            raise CameraDisconnected(f"{self.description} returned an empty frame")
        analysis = None
        if self.lores_size and len(arrays) > 1 and arrays[1] is not None:
            # YUV420 (I420) planes stacked: height × 3/2 rows of width bytes.
            analysis = cv2.cvtColor(arrays[1], cv2.COLOR_YUV2BGR_I420)
        # RGB888 gives 3 channels already in B,G,R order; XRGB8888 would give 4.
        return Frame(image=image[:, :, :3], timestamp=monotonic_seconds(), index=self._frames_read, analysis=analysis)

    def _close(self) -> None:
        camera, self._camera = self._camera, None
        if camera is None:
            return
        try:
            camera.stop()
        finally:
            camera.close()
