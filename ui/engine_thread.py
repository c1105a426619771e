"""The capture + engine loop on a QThread: frames and scan events reach the UI as signals.

The UI thread only paints and handles clicks; the camera, the finder and the pipeline run here, the
embedding in the pipeline's own worker. Stopping is cooperative (an Event checked every frame, and
the reconnect backoff waits on it), and ``stop`` waits with a timeout.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, QThread, Signal, Slot

from app.camera.base import CameraError, FrameSource
from app.camera.exposure import GlareExposure
from app.camera.reconnect import frames_with_reconnect
from app.config import Settings
from app.engine import Engine
from app.pipeline import FrameResult

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SourceInfo:
    description: str
    reason: str
    is_demo: bool = False


class ScanWorker(QObject):
    frame_ready = Signal(object)  # FrameResult
    scan_event = Signal(object)  # ScanEvent
    source_opened = Signal(object)  # SourceInfo
    camera_lost = Signal(str)
    camera_restored = Signal()
    failed = Signal(str)
    finished = Signal()

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        open_source: Callable[[], tuple[FrameSource, SourceInfo]],
    ) -> None:
        super().__init__()
        self.engine = engine
        self.settings = settings
        self.open_source = open_source
        self._stop = threading.Event()
        # Back-pressure for the display: a new frame is sent only once the UI took the last one, so a
        # slow UI never builds a queue of stale frames (scan events are always sent).
        self._frame_taken = threading.Event()
        self._frame_taken.set()
        self.frames_processed = 0
        self.frames_skipped_for_display = 0

    def request_stop(self) -> None:
        self._stop.set()

    def frame_taken(self) -> None:
        """Called by the UI (any thread) when it has taken the last frame for display."""
        self._frame_taken.set()

    @Slot()
    def run(self) -> None:
        try:
            self._loop()
        except Exception as error:  # surfaced to the user, never swallowed
            logger.exception("Scanner loop failed")
            self.failed.emit(str(error))
        finally:
            self.finished.emit()

    def _loop(self) -> None:
        try:
            source, info = self.open_source()
        except CameraError as error:
            self.failed.emit(f"Cannot open the camera: {error}")
            return
        self.source_opened.emit(info)
        pipeline = self.engine.pipeline(self.settings, realtime=not source.is_recorded)
        lost = False
        exposure = GlareExposure()

        def on_disconnect(error: Exception, delay: float) -> None:
            nonlocal lost
            lost = True
            self.camera_lost.emit(f"Camera disconnected ({error}). Reconnecting in {delay:.0f} s…")

        last_t = 0.0
        try:
            for frame in frames_with_reconnect(
                source,
                self._stop,
                on_disconnect=on_disconnect,
                initial_backoff_s=self.settings.camera.reconnect_initial_s,
                max_backoff_s=self.settings.camera.reconnect_max_s,
            ):
                if lost:
                    lost = False
                    self.camera_restored.emit()
                result: FrameResult = pipeline.process(frame)
                exposure.apply(source, result.worst_glare)
                self.frames_processed += 1
                last_t = frame.timestamp
                if self._frame_taken.is_set():
                    self._frame_taken.clear()
                    self.frame_ready.emit(result)
                else:
                    self.frames_skipped_for_display += 1
                for event in result.events:
                    self.scan_event.emit(event)
                if pipeline.failed or self._stop.is_set():
                    break
            for event in pipeline.finish(last_t):
                self.scan_event.emit(event)
        finally:
            pipeline.close()
            source.close()


class ScannerThread:
    """Owns the QThread and the worker; ``stop`` is idempotent and bounded."""

    def __init__(self, worker: ScanWorker) -> None:
        self.worker = worker
        self.thread = QThread()
        self.thread.setObjectName("cardsight-scanner")
        worker.moveToThread(self.thread)
        self.thread.started.connect(worker.run)
        worker.finished.connect(self.thread.quit)

    def start(self) -> None:
        self.thread.start()

    def stop(self, timeout_s: float = 5.0) -> bool:
        self.worker.request_stop()
        if not self.thread.isRunning():
            return True
        self.thread.quit()
        deadline = time.monotonic() + timeout_s
        while self.thread.isRunning() and time.monotonic() < deadline:
            self.thread.wait(50)
        if self.thread.isRunning():
            logger.warning("Scanner thread did not stop within %.1f s", timeout_s)
            return False
        return True
