"""Watching a file descriptor from Qt's event loop: how Picamera2 frames reach the app.

Picamera2 signals completed camera requests on a pipe (``notifyme_r``); its own Qt preview puts a
``QSocketNotifier`` on it and processes requests in the GUI thread. ``QtFdWatcher.watch`` offers the
same to :class:`app.camera.picamera2_source.Picamera2Source` (which stays Qt-free): the source is opened
on the scanner thread, the notifier is created in the GUI thread, and ``unwatch`` removes it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from PySide6.QtCore import QObject, QSocketNotifier, QThread, Signal

from app.camera.base import CameraError

logger = logging.getLogger(__name__)


class QtFdWatcher(QObject):
    """Create in the GUI thread. ``watch`` may be called from any thread; it waits (bounded) until the
    notifier exists, so no frame notification is missed."""

    _create_requested = Signal(int, object, object)  # fd, callback, (event, holder)
    _remove_requested = Signal(object)  # QSocketNotifier

    def __init__(self, parent: QObject | None = None, timeout_s: float = 2.0) -> None:
        super().__init__(parent)
        self.timeout_s = timeout_s
        self.notifiers: list[QSocketNotifier] = []
        self._create_requested.connect(self._create)
        self._remove_requested.connect(self._remove)

    def watch(self, fd: int, on_ready: Callable[[], None]) -> Callable[[], None]:
        done = threading.Event()
        holder: list[QSocketNotifier] = []
        if QThread.currentThread() is self.thread():
            self._create(fd, on_ready, (done, holder))
        else:
            self._create_requested.emit(fd, on_ready, (done, holder))
            if not done.wait(self.timeout_s):
                raise CameraError("the GUI did not start watching the camera in time")
        notifier = holder[0]

        def unwatch() -> None:
            if QThread.currentThread() is self.thread():
                self._remove(notifier)
            else:
                self._remove_requested.emit(notifier)

        return unwatch

    def _create(
        self, fd: int, on_ready: Callable[[], None], reply: tuple[threading.Event, list[QSocketNotifier]]
    ) -> None:
        notifier = QSocketNotifier(fd, QSocketNotifier.Type.Read, self)

        def activated(*_: object) -> None:
            try:
                on_ready()
            except Exception:  # a failing camera callback must not take the GUI down; the reader times out
                logger.exception("Camera notification handler failed")

        notifier.activated.connect(activated)
        self.notifiers.append(notifier)
        event, holder = reply
        holder.append(notifier)
        event.set()

    def _remove(self, notifier: QSocketNotifier) -> None:
        notifier.setEnabled(False)
        if notifier in self.notifiers:
            self.notifiers.remove(notifier)
        notifier.deleteLater()
