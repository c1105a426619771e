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
import threading
from collections.abc import Callable
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

#: ``watch(fd, on_ready) -> unwatch``: calls ``on_ready`` (in the watcher's own thread, e.g. Qt's via a
#: QSocketNotifier) whenever ``fd`` is readable; the returned function stops watching.
FdWatcher = Callable[[int, Callable[[], None]], Callable[[], None]]


class _LatestFrame:
    """Picamera2 "preview" that keeps only the newest completed request's arrays (``render_request``
    is what Picamera2's ``process_requests`` calls on its attached preview)."""

    def __init__(self, streams: list[str]) -> None:
        self.streams = streams
        self._arrays: list[Any] | None = None
        self._ready = threading.Condition()
        self._interrupted = False
        self.delivered = 0

    def render_request(self, completed_request: Any) -> None:
        arrays = [completed_request.make_array(name) for name in self.streams]
        with self._ready:
            self._arrays = arrays
            self.delivered += 1
            self._ready.notify_all()

    def take(self, timeout_s: float) -> list[Any] | None:
        with self._ready:
            if self._arrays is None and not self._interrupted:
                self._ready.wait(timeout_s)
            arrays, self._arrays = self._arrays, None
            return arrays

    def interrupt(self) -> None:
        """``take`` returns None at once from now on (the source is closing)."""
        with self._ready:
            self._interrupted = True
            self._ready.notify_all()


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
        watch_fd: FdWatcher | None = None,
    ) -> None:
        """``watch_fd``: drive frames by the camera's own notifier (its ``notifyme_r`` descriptor, as
        Picamera2's Qt preview does) from the watcher's thread, instead of Picamera2's event-loop
        thread; ``read`` then takes the newest frame that arrived."""
        super().__init__()
        self.camera_num = camera_num
        self.size = size
        self.lores_size = lores_size
        self.frame_timeout_s = frame_timeout_s
        self.controls = dict(controls or {})
        self.continuous_autofocus = continuous_autofocus
        self.exposure_value = 0.0
        self.watch_fd = watch_fd
        self._latest: _LatestFrame | None = None
        self._unwatch: Callable[[], None] | None = None
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
            if self.watch_fd is not None:
                self._latest = _LatestFrame(["main", "lores"] if self.lores_size else ["main"])
                # Attaching a preview tells Picamera2 someone else runs its event loop.
                camera.attach_preview(self._latest)
                self._unwatch = self.watch_fd(camera.notifyme_r, self._on_camera_ready)
            camera.start()
        except Exception as error:
            self._stop_watching()
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
    def _on_camera_ready(self) -> None:
        """In the watcher's thread: drain the notification and let Picamera2 hand us the request."""
        camera = self._camera
        if camera is None or self._latest is None:
            return
        camera.notifymeread.read()
        camera.process_requests(self._latest)

    def _read(self) -> Frame | None:
        camera = self._camera
        if self._latest is not None:
            arrays = self._latest.take(self.frame_timeout_s)
            if arrays is None:
                raise CameraDisconnected(f"{self.description} gave no frame in {self.frame_timeout_s:.1f} s")
        else:
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

    def interrupt(self) -> None:
        # Frames arrive through the GUI thread, which may itself be waiting for the scanner to stop.
        latest = self._latest
        if latest is not None:
            latest.interrupt()

    def _stop_watching(self) -> None:
        unwatch, self._unwatch = self._unwatch, None
        if unwatch is not None:
            unwatch()

    def _close(self) -> None:
        self._stop_watching()
        camera, self._camera = self._camera, None
        if camera is None:
            return
        try:
            camera.stop()
            if self._latest is not None:
                camera.detach_preview()
        finally:
            self._latest = None
            camera.close()
