"""The scan loop (:mod:`app.scanner`) on a QThread: frames and scan events reach the UI as signals.

The UI thread only paints and handles clicks; the camera, the finder and the pipeline run here, the
embedding in the pipeline's own worker. Stopping is cooperative (an Event the loop checks at least
every few tens of milliseconds, even while a source blocks), and ``stop`` waits with a timeout.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, QThread, Signal, Slot

from app.camera.base import CameraError, FrameSource
from app.config import Settings
from app.engine import Engine
from app.pipeline import FrameResult
from app.scanner import ScanListener, ScanLoop, ScanOptions, ScanSummary, SourceFailed

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
    #: The loop ended on its own terms (a file's end, a stop request): what it saw.
    scan_done = Signal(object)  # ScanSummary
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
        listener = ScanListener(
            on_frame=self._on_frame,
            on_event=self.scan_event.emit,
            on_lost=self._on_lost,
            on_restored=self.camera_restored.emit,
        )
        loop = ScanLoop(source, self._stop, ScanOptions.from_settings(self.settings), listener)
        try:
            summary: ScanSummary = loop.scan(pipeline)
        except SourceFailed as error:
            self.failed.emit(f"Cannot open the camera: {error}")
            return
        logger.info("Scanner %s", summary.describe())
        self.scan_done.emit(summary)

    def _on_frame(self, result: FrameResult) -> None:
        self.frames_processed += 1
        if self._frame_taken.is_set():
            self._frame_taken.clear()
            self.frame_ready.emit(result)
        else:
            self.frames_skipped_for_display += 1

    def _on_lost(self, message: str, retry_in_s: float) -> None:
        self.camera_lost.emit(f"Camera disconnected ({message}). Reconnecting in {retry_in_s:.0f} s…")


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
