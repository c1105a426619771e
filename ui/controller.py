"""Glue between the engine (scanner thread, scan session) and the views (main window, kiosk).

Lives on the UI thread. Scan events arrive as queued signals from the scanner thread; each decision
is recorded in the collection at once. If the database is locked by another program, the scan is
kept in memory and retried — it is never dropped.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from app.camera.base import FrameSource
from app.camera.picamera2_source import Picamera2Source
from app.collection.store import Collection, CollectionError
from app.config import Settings
from app.engine import Engine
from app.match.bundle import ReferenceBundle
from app.pipeline import FrameResult, ScanEvent
from app.scanner import ScanSummary, choose_source
from app.session import AddOptions, ScanEntry, ScanSession
from ui.engine_thread import ScannerThread, ScanWorker, SourceInfo
from ui.fd_watcher import QtFdWatcher
from ui.price_service import PriceService, ValueTotals
from ui.recent_scans import card_label

logger = logging.getLogger(__name__)

#: How often a kiosk on a shop server looks at its outbox (a local count: no round trip to the server).
SERVER_CHECK_MS = 2000

SourceOpener = Callable[[], tuple[FrameSource, SourceInfo]]


def default_source_opener(settings: Settings, watcher: QtFdWatcher | None = None) -> Any:
    def open_source() -> tuple[FrameSource, SourceInfo]:
        choice = choose_source(settings.camera.source, settings, paced=True)
        source = choice.source
        if isinstance(source, Picamera2Source) and watcher is not None:
            # The Pi camera's own notifier drives its frames from the GUI event loop.
            source.watch_fd = watcher.watch
        return source, SourceInfo(source.description, choice.reason, choice.is_demo)

    return open_source


class ScanController(QObject):
    frame = Signal(object)  # FrameResult
    entry_added = Signal(object)  # ScanEntry (a new decision)
    entry_changed = Signal(object)  # ScanEntry (corrected / added / undone)
    banner = Signal(str)  # "" hides it
    status = Signal(dict)
    count_changed = Signal(int)
    message = Signal(str)
    #: A short confirmation that fades ("Added Pikachu (151 25/165)").
    toast = Signal(str)
    entry_removed = Signal(object)  # ScanEntry
    #: The source came to its end (a video file, an image folder): what it gave.
    finished = Signal(object)  # ScanSummary
    #: What the session's cards are worth now (after an add, a correction, an undo, a removal);
    #: None when the collection has no prices to read (a shop server's) or they cannot be read.
    session_value = Signal(object)  # ValueTotals | None

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        collection: Collection,
        open_source: Any = None,
        session_label: str | None = None,
        auto_add: bool | None = None,
        opener_for: Callable[[Settings], SourceOpener] | None = None,
    ) -> None:
        super().__init__()
        self.engine = engine
        self.settings = settings
        self.collection = collection
        self.session = ScanSession(
            collection,
            engine.bundle,
            auto_add=settings.ui.auto_add if auto_add is None else auto_add,
            source="",
            label=session_label,
        )
        self.current: ScanEntry | None = None
        #: Prices for the views (match panel, browser, kiosk), read on the service's own thread.
        self.prices = PriceService(collection, settings.prices.currency, parent=self)
        self._value_token = 0
        self.prices.answered.connect(self._on_session_value)
        self.prices.failed.connect(self._on_session_value_failed)
        self.count_changed.connect(self.refresh_session_value)
        self.entry_changed.connect(self.refresh_session_value)
        self.fd_watcher = QtFdWatcher(self)
        self.opener_for = opener_for or (lambda s: default_source_opener(s, self.fd_watcher))
        self.worker, self.scanner = self._make_scanner(open_source or self.opener_for(settings))
        self._pending: deque[ScanEvent] = deque()
        self._retry = QTimer(self)
        self._retry.setInterval(2000)
        self._retry.timeout.connect(self._flush_pending)
        # A shop server's kiosk: say when scans wait in the local outbox, and when they went through.
        self._server_status: str | None = None
        self._server_check = QTimer(self)
        self._server_check.setInterval(SERVER_CHECK_MS)
        self._server_check.timeout.connect(self.check_server)
        if callable(getattr(collection, "status_text", None)):
            self._server_check.start()
        self._frame_times: deque[float] = deque(maxlen=60)
        self.source_info: SourceInfo | None = None
        self.last_latency_ms: float | None = None
        self.frames_shown = 0
        self.stopped = False
        self.summary: ScanSummary | None = None

    def _make_scanner(self, open_source: SourceOpener) -> tuple[ScanWorker, ScannerThread]:
        worker = ScanWorker(self.engine, self.settings, open_source)
        scanner = ScannerThread(worker)
        worker.frame_ready.connect(self._on_frame)
        worker.scan_event.connect(self._on_event)
        worker.source_opened.connect(self._on_source)
        worker.camera_lost.connect(self.banner.emit)
        worker.camera_restored.connect(lambda: self.banner.emit(""))
        worker.failed.connect(self._on_failed)
        worker.scan_done.connect(self._on_scan_done)
        return worker, scanner

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self.scanner.start()
        self.refresh_session_value()  # the views are wired by now: they show the value from the start

    def check_server(self) -> None:
        """The shop server's state as a banner while scans wait offline (the banner clears once they are
        sent); a collection file has no server and no banner."""
        status_text = getattr(self.collection, "status_text", None)
        if not callable(status_text):
            return
        text = str(status_text())
        if text == self._server_status:
            return
        was_offline = self._server_status is not None and self._server_status != "online"
        self._server_status = text
        if text != "online":
            self.banner.emit(f"Shop server {text}. Scanning goes on; the scans are sent when it is back.")
        elif was_offline:
            self.banner.emit("")
            self.message.emit("Shop server back: every waiting scan was sent")

    def switch_source(self, spec: str) -> None:
        """Scan from ``spec`` now (a camera index, ``picamera2``, ``demo``, ``auto``, a video file or an
        image folder): the running scanner stops, a new one starts; the session and its list go on."""
        self.settings.camera.source = spec
        self.scanner.stop()
        self._disconnect(self.worker)
        self._frame_times.clear()
        self.source_info = None
        self.summary = None
        self.banner.emit("")
        self.worker, self.scanner = self._make_scanner(self.opener_for(self.settings))
        self.stopped = False
        self._emit_status()
        self.scanner.start()
        self.message.emit(f"Switching to {spec}…")

    def _disconnect(self, worker: ScanWorker) -> None:
        """Nothing late from a stopped scanner reaches the views (its frames, its end)."""
        for signal in (
            worker.frame_ready,
            worker.scan_event,
            worker.source_opened,
            worker.camera_lost,
            worker.camera_restored,
            worker.failed,
            worker.scan_done,
        ):
            try:
                signal.disconnect()
            except (RuntimeError, TypeError):
                logger.debug("Signal already disconnected")

    def stop(self) -> None:
        """Idempotent: stops the scanner thread (bounded wait) and flushes what it can."""
        if self.stopped:
            return
        self.stopped = True
        self._server_check.stop()
        self.scanner.stop()
        self._flush_pending()
        self._retry.stop()
        self.prices.close()

    # ------------------------------------------------------------------ engine → view
    def _on_source(self, info: SourceInfo) -> None:
        self.source_info = info
        self.summary = None
        self.session.source = info.description
        if info.is_demo:
            self.banner.emit(
                "No camera found — showing the bundled demo feed. Connect a camera and pick it in Settings."
            )
        self._emit_status()

    def _on_frame(self, result: FrameResult) -> None:
        self.worker.frame_taken()
        self._frame_times.append(time.monotonic())
        self.frames_shown += 1
        self.frame.emit(result)
        if self.frames_shown % 15 == 0:
            self._emit_status()

    def _on_event(self, event: ScanEvent) -> None:
        if event.event == "error":
            self.banner.emit(f"The recogniser stopped: {event.message}. Restart cardsight; your scans are saved.")
            return
        if event.event == "lost":
            return
        if event.latency_s is not None:
            self.last_latency_ms = event.latency_s * 1000
        self._pending.append(event)
        self._flush_pending()

    def _flush_pending(self) -> None:
        while self._pending:
            event = self._pending[0]
            try:
                entry = self.session.record(event)
            except (sqlite3.OperationalError, CollectionError) as error:
                logger.warning("Cannot record the scan yet: %s", error)
                self.banner.emit(
                    f"The collection database is busy or locked ({error}). "
                    f"{len(self._pending)} scan(s) are kept and will be saved as soon as it is free."
                )
                if not self._retry.isActive():
                    self._retry.start()
                return
            self._pending.popleft()
            if self._retry.isActive() and not self._pending:
                self._retry.stop()
                self.banner.emit("")
            if entry is None:
                continue
            self.current = entry
            self.entry_added.emit(entry)
            if entry.added:
                self._confirm_added(entry)
            self.count_changed.emit(self.session.added_count)

    def _on_scan_done(self, summary: ScanSummary) -> None:
        """A video file or an image folder came to its end: say so, with what it gave; the status bar
        stops showing a frame rate."""
        # A scanner's end always comes after its source_opened. Without one (between a switch and the
        # new source's opening) this is the end of the scanner replaced, queued before the switch: Qt
        # delivers it with no sender once that scanner is disconnected.
        if self.source_info is None or (self.sender() is not None and self.sender() is not self.worker):
            return
        self.summary = summary
        self._frame_times.clear()
        self._emit_status()
        self.finished.emit(summary)
        # A stop the user asked for (closing, another source) needs no banner; the demo replays quietly.
        if summary.ended == "stopped" or (self.source_info is not None and self.source_info.is_demo):
            return
        self.banner.emit(summary.describe().capitalize())

    def _on_failed(self, message: str) -> None:
        self.banner.emit(message)

    def _emit_status(self) -> None:
        fps = 0.0
        if len(self._frame_times) >= 2:
            span = self._frame_times[-1] - self._frame_times[0]
            fps = (len(self._frame_times) - 1) / span if span > 0 else 0.0
        embedder = self.engine.embedder
        self.status.emit(
            {
                "source": self.source_info.description if self.source_info else "opening camera…",
                "source_reason": self.source_info.reason if self.source_info else "",
                "backend": embedder.description,
                "backend_reason": embedder.reason,
                "fps": fps,
                "finished": self.summary.describe() if self.summary is not None else None,
                "latency_ms": self.last_latency_ms,
                "ocr": self.engine.ocr_status,
            }
        )

    def _confirm_added(self, entry: ScanEntry) -> None:
        self.toast.emit(f"Added {card_label(self.engine.bundle, entry.card_id)}")
        if self.settings.ui.sounds:
            from PySide6.QtWidgets import QApplication

            QApplication.beep()

    def apply_settings(self, source_before: str | None = None) -> None:
        """Everything but the recogniser applies at once: auto-add, sounds, thresholds, and the camera
        (a new source, or a new size for the same one, restarts the scanner)."""
        from app.engine import thresholds_from

        self.session.auto_add = self.settings.ui.auto_add
        # One attribute swap: the scanner thread sees the old or the new thresholds, never a mix.
        self.engine.matcher.thresholds = thresholds_from(self.settings)
        self.message.emit("Settings saved")
        if source_before is not None and source_before != self.settings.camera.source:
            self.switch_source(self.settings.camera.source)

    def use_reference(self, bundle: ReferenceBundle) -> None:
        """Scan with new reference data (sets installed or removed on the Catalogue page): the matcher is
        rebuilt on it and a running scanner restarts on the same source, since a pipeline keeps the
        bundle it was built with; the session and its list go on."""
        from app.engine import make_matcher

        self.engine.bundle, self.engine.matcher = bundle, make_matcher(self.settings, bundle)
        self.session.bundle = bundle
        if not self.stopped and self.scanner.thread.isRunning():
            self.switch_source(self.settings.camera.source)

    # ------------------------------------------------------------------ user intents
    def set_options(self, options: AddOptions) -> None:
        self.session.options = options

    def select(self, entry: ScanEntry) -> None:
        """Reopen an earlier scan: corrections, Add and Remove now act on it."""
        self.current = entry
        self.entry_changed.emit(entry)

    def add_current(self) -> None:
        if self.current is None:
            return
        try:
            self.session.add(self.current)
        except (CollectionError, sqlite3.OperationalError) as error:
            self.message.emit(str(error))
            return
        self._confirm_added(self.current)
        self.entry_changed.emit(self.current)
        self.count_changed.emit(self.session.added_count)

    def remove_current(self) -> None:
        """Take the shown scan out of the list, and its cards out of the collection if it was added
        (the scan stays in the collection's log, marked rejected)."""
        entry = self.current
        if entry is None:
            return
        try:
            taken = self.collection.reject_scan(entry.scan_id)
        except (CollectionError, sqlite3.OperationalError) as error:
            self.message.emit(str(error))
            return
        entry.added = False
        self.session.added_count = max(0, self.session.added_count - taken)
        if entry in self.session.recent:
            self.session.recent.remove(entry)
        self.current = None
        label = card_label(self.engine.bundle, entry.card_id) or "the scan"
        self.message.emit(f"Removed {label}" + (" from the collection" if taken else ""))
        self.entry_removed.emit(entry)
        self.count_changed.emit(self.session.added_count)

    def _scan_rows(self, entry: ScanEntry) -> list[tuple[int, int]]:
        """(inventory row, cards) this scan put in the inventory and that are still there."""
        try:
            return self.collection.scan_holdings(entry.scan_id)
        except (CollectionError, sqlite3.DatabaseError) as error:
            logger.warning("Cannot read what scan %d added: %s", entry.scan_id, error)
            return []

    def held_quantity(self, entry: ScanEntry) -> int | None:
        """How many the collection row of an added scan holds (None: not added)."""
        rows = self._scan_rows(entry) if entry.added else []
        if len(rows) != 1:
            return None
        try:
            return self.collection.inventory_quantity(rows[0][0])
        except (CollectionError, sqlite3.DatabaseError) as error:
            logger.warning("Cannot read the quantity of row %d: %s", rows[0][0], error)
            return None

    # ------------------------------------------------------------------ session value
    def refresh_session_value(self, *_: object) -> None:
        """Ask for the session's value again; the answer comes as ``session_value`` (no session: none)."""
        session_id = self.session.session_id
        if session_id is None or self.stopped:
            return
        self._value_token += 1
        self.prices.request_session_value(("session", self._value_token), session_id)

    def _on_session_value(self, token: object, totals: object) -> None:
        # Only the answer to the newest question: an older one may predate the last add or undo.
        if token == ("session", self._value_token) and isinstance(totals, ValueTotals):
            self.session_value.emit(totals)

    def _on_session_value_failed(self, token: object, message: str) -> None:
        if token == ("session", self._value_token):
            self.session_value.emit(None)

    def set_held_quantity(self, quantity: int) -> None:
        """The shown added card's collection row holds ``quantity`` now (one undoable edit)."""
        entry = self.current
        rows = self._scan_rows(entry) if entry is not None and entry.added else []
        if entry is None or len(rows) != 1:
            return
        try:
            self.collection.set_quantity(rows[0][0], quantity)
        except (CollectionError, sqlite3.OperationalError) as error:
            self.message.emit(str(error))
        else:
            self.message.emit(f"{card_label(self.engine.bundle, entry.card_id)}: {quantity} in the collection")
        self.entry_changed.emit(entry)

    def correct_current(self, card_id: str) -> None:
        if self.current is None:
            return
        try:
            self.session.correct(self.current, card_id)
        except (CollectionError, sqlite3.OperationalError) as error:
            self.message.emit(str(error))
            return
        self.message.emit(f"Changed to {self.engine.bundle.metadata.get(card_id, {}).get('name', card_id)}")
        self.entry_changed.emit(self.current)

    def undo(self) -> None:
        try:
            undone = self.session.undo()
        except (CollectionError, sqlite3.OperationalError) as error:
            self.message.emit(str(error))
            return
        self.message.emit(self._undo_text(undone[0]) if undone else "Nothing to undo")
        if self.current is not None:
            self.entry_changed.emit(self.current)
        self.count_changed.emit(self.session.added_count)

    def _undo_text(self, action: dict[str, Any]) -> str:
        """``Undid add of Pikachu (151 25/165)``: what was taken back, and of which card."""
        words = {"accept": "add", "add": "add", "correct": "correction", "reject": "removal", "edit": "edit"}
        what = words.get(str(action.get("kind")), str(action.get("kind")))
        scan_id = action.get("scan_id")
        card_id = None
        if scan_id is not None:
            try:
                card_id = self.collection.scan_row(int(scan_id)).get("card_id")
            except CollectionError:
                card_id = None
        label = card_label(self.engine.bundle, card_id)
        return f"Undid {what} of {label}" if label else f"Undid {what}"

    def search(self, text: str) -> list[dict[str, Any]]:
        return self.session.search(text)
