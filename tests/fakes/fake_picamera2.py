"""A stand-in for the ``picamera2`` module, following Picamera2 0.3.x's public API.

Source read: raspberrypi/picamera2 (``picamera2/picamera2.py``): ``Picamera2(camera_num=0)``,
``Picamera2.global_camera_info()``, ``create_video_configuration(main={...}, lores={...})`` returning
a config dict with ``main``/``lores`` stream dicts, ``configure(config)``, ``set_controls(dict)``,
``start()``, ``capture_array(name="main", wait=None)`` and ``capture_arrays(names, wait=None)``
(result ``(arrays, metadata)``) — with ``wait=False`` they return a job that ``wait(job,
timeout=None)`` resolves (raising ``TimeoutError`` when the camera stops delivering), the
``camera_controls`` dict (control → (min, max, default); ``AfMode``/``AfTrigger`` only on the
autofocus Camera Module 3, imx708), ``stop()``, ``close()``. ``YUV420`` arrays are I420 planes,
(H·3/2)×W.

The event-loop side that Picamera2's Qt preview uses (``previews/q_picamera2.py``): ``notifyme_r`` (the
read end of a non-blocking pipe) and ``notifymeread``; ``attach_preview(preview)`` /
``detach_preview()``; once started with a preview attached, libcamera completes a request per frame
(here: a thread at ``FPS``) and writes to the pipe; ``process_requests(display)`` then hands the newest
completed request to ``display.render_request(request)`` (``request.make_array(name)``) and releases
them all. The thread that called ``process_requests`` is recorded, so tests can check who drove it.
``RGB888`` arrays are H×W×3 in B, G, R byte order. Capturing before ``start()`` or configuring while
started raises ``RuntimeError`` as the real one does.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import numpy as np

# Test knobs, reset by the fixture.
CAMERAS: list[dict[str, Any]] = [
    {"Model": "imx708", "Location": 2, "Rotation": 0, "Id": "/base/i2c@88000/imx708@1a", "Num": 0}
]
FAIL_AFTER_FRAMES: int | None = None
INSTANCES: list[Picamera2] = []
FPS = 30.0


class _Job:
    def __init__(self, result: Any = None, error: BaseException | None = None) -> None:
        self._result = result
        self._error = error

    def get_result(self, timeout: float | None = None) -> Any:
        if self._error is not None:
            raise self._error
        return self._result


class _CompletedRequest:
    def __init__(self, arrays: dict[str, Any]) -> None:
        self._arrays = arrays
        self.released = False

    def make_array(self, name: str) -> Any:
        if self.released:
            raise RuntimeError("request already released")
        return self._arrays[name]

    def release(self) -> None:
        self.released = True


class Picamera2:
    @staticmethod
    def global_camera_info() -> list[dict[str, Any]]:
        return list(CAMERAS)

    def __init__(self, camera_num: int = 0, tuning: Any = None) -> None:
        if camera_num >= len(CAMERAS):
            raise IndexError("list index out of range")
        self.camera_num = camera_num
        self.camera_config: dict[str, Any] | None = None
        self.started = False
        self.closed = False
        self.controls: dict[str, Any] = {}
        self.control_history: list[dict[str, Any]] = []
        self.frames = 0
        model = CAMERAS[camera_num].get("Model", "")
        self.camera_controls: dict[str, tuple[Any, Any, Any]] = {
            "ExposureValue": (-8.0, 8.0, 0.0),
            "AeMeteringMode": (0, 3, 0),
            "AnalogueGain": (1.0, 16.0, None),
        }
        if model == "imx708":
            self.camera_controls |= {"AfMode": (0, 2, 0), "AfTrigger": (0, 1, 0), "LensPosition": (0.0, 15.0, 1.0)}
        self.notifyme_r, self.notifyme_w = os.pipe2(os.O_NONBLOCK)
        self.notifymeread = os.fdopen(self.notifyme_r, "rb")
        self._preview: Any = None
        self._completed: list[_CompletedRequest] = []
        self._lock = threading.Lock()
        self._producer: threading.Thread | None = None
        self.process_thread_ids: set[int] = set()
        INSTANCES.append(self)

    def create_video_configuration(
        self, main: dict[str, Any] | None = None, lores: dict[str, Any] | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        main = {"format": "XBGR8888", "size": (1280, 720), **(main or {})}
        config: dict[str, Any] = {"use_case": "video", "main": main, "lores": None, "buffer_count": 6}
        if lores is not None:
            lores = {"format": "YUV420", **lores}
            if lores["size"][0] > main["size"][0] or lores["size"][1] > main["size"][1]:
                raise RuntimeError("lores stream dimensions may not exceed main stream")
            config["lores"] = lores
        return config

    def configure(self, camera_config: dict[str, Any]) -> None:
        if self.started:
            raise RuntimeError("Camera must be stopped before configuring")
        self.camera_config = camera_config

    def set_controls(self, controls: dict[str, Any]) -> None:
        unknown = set(controls) - set(self.camera_controls)
        if unknown:
            raise RuntimeError(f"Control {sorted(unknown)[0]} is not advertised by libcamera")
        self.controls.update(controls)
        self.control_history.append(dict(controls))

    def attach_preview(self, preview: Any) -> None:
        if self._preview is not None:
            raise RuntimeError("A preview window is already running")
        self._preview = preview

    def detach_preview(self) -> None:
        self._preview = None

    def start(self) -> None:
        if self.camera_config is None:
            raise RuntimeError("Camera has not been configured")
        self.started = True
        if self._preview is not None:
            self._producer = threading.Thread(target=self._produce, daemon=True)
            self._producer.start()

    def _produce(self) -> None:
        """libcamera completing requests while the camera runs (only when someone else drives the loop)."""
        while self.started:
            if FAIL_AFTER_FRAMES is not None and self.frames >= FAIL_AFTER_FRAMES:
                time.sleep(0.01)
                continue
            assert self.camera_config is not None
            names = [n for n in ("main", "lores") if self.camera_config.get(n)]
            request = _CompletedRequest({n: self._array(n) for n in names})
            self.frames += 1
            with self._lock:
                self._completed.append(request)
            try:
                os.write(self.notifyme_w, b"\x00")
            except OSError:
                return
            time.sleep(1.0 / FPS)

    def process_requests(self, display: Any) -> None:
        self.process_thread_ids.add(threading.get_ident())
        with self._lock:
            requests, self._completed = self._completed, []
        if requests:
            display.render_request(requests[-1])
        for request in requests:
            request.release()

    def _array(self, name: str) -> Any:
        assert self.camera_config is not None
        stream = self.camera_config[name]
        if stream is None:
            raise RuntimeError(f"Stream {name!r} is not configured")
        width, height = stream["size"]
        if stream["format"] == "YUV420":
            return np.full((height * 3 // 2, width), 128, np.uint8)
        channels = 3 if stream["format"] in ("RGB888", "BGR888") else 4
        image = np.full((height, width, channels), self.frames % 256, np.uint8)
        image[..., 0] = 200  # blue channel first in memory for RGB888
        return image

    def _job(self, names: list[str], with_metadata: bool) -> _Job:
        if not self.started:
            raise RuntimeError("Camera must be started before capturing")
        if FAIL_AFTER_FRAMES is not None and self.frames >= FAIL_AFTER_FRAMES:
            return _Job(error=TimeoutError("Frame request timed out"))
        arrays = [self._array(n) for n in names]
        self.frames += 1
        return _Job(result=(arrays, {"SensorTimestamp": self.frames}) if with_metadata else arrays[0])

    def capture_array(self, name: str = "main", wait: Any = None, signal_function: Any = None) -> Any:
        job = self._job([name], with_metadata=False)
        return job if wait is False else job.get_result()

    def capture_arrays(self, names: list[str] | None = None, wait: Any = None, signal_function: Any = None) -> Any:
        job = self._job(list(names or ["main"]), with_metadata=True)
        return job if wait is False else job.get_result()

    def wait(self, job: _Job, timeout: float | None = None) -> Any:
        return job.get_result(timeout)

    def stop(self) -> None:
        self.started = False
        if self._producer is not None:
            self._producer.join(1.0)
            self._producer = None

    def close(self) -> None:
        self.stop()
        if not self.closed:
            self.notifymeread.close()
            os.close(self.notifyme_w)
        self.closed = True
