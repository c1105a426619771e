"""The Catalogue page: every known set with its status (shipped, downloaded, not installed), download
and remove sets with a progress bar (on a worker thread, cancellable), search any card of the catalogue
and add it to the collection by hand.

The page meets the catalogue's install and download API (``app.catalog.install``,
``app.catalog.download``) through one adapter, :class:`ReferenceSets`; everything else reads the
catalogue database, which never touches the network.
"""

from __future__ import annotations

import atexit
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    QThread,
    QTimer,
    Signal,
    Slot,
)
from PySide6.QtGui import QResizeEvent, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.catalog.database import CardInfo, CatalogDatabase, CatalogDatabaseError, SetInfo
from app.catalog.download import DEFAULT_JOBS, DownloadProgress, split_not_tried
from app.collection.store import CollectionError, InventoryKey
from app.embed.base import EmbedderBackend, EmbedderError
from app.match.bundle import BundleError, ReferenceBundle
from ui.match_panel import add_choice_widgets

logger = logging.getLogger(__name__)

SHIPPED, DOWNLOADED, NOT_INSTALLED = "shipped", "downloaded", "not installed"
COLUMNS = ("Set", "Name", "Series", "Released", "Cards", "Pictures")
SEARCH_LIMIT = 50
#: Below this page width the set list leaves out the series column.
COMPACT_WIDTH = 1000
#: How long closing the page waits for a download to notice its cancel before leaving it to finish.
STOP_WAIT_S = 10.0
#: How long the process's exit waits for a job the window could not wait for (it was cancelled).
EXIT_WAIT_S = 60.0

AnyIndex = QModelIndex | QPersistentModelIndex

#: Every catalogue job started, with its thread, until that thread has finished. A QThread destroyed
#: while it runs aborts the whole process, so neither belongs to the page (which may be closed or
#: deleted first) and neither is let go before its thread has ended.
_JOBS: list[tuple[QThread, CatalogJob]] = []


def _forget_finished_jobs() -> None:
    _JOBS[:] = [(thread, job) for thread, job in _JOBS if not thread.isFinished()]


@atexit.register
def _stop_jobs_at_exit() -> None:
    """Before Python tears the Qt objects down: cancel what still runs and wait for it (every step
    of a job looks at its cancel, so this is short)."""
    for thread, job in list(_JOBS):
        job.cancel.set()
        thread.quit()
        if not thread.wait(int(EXIT_WAIT_S * 1000)):
            logger.error("The catalogue job did not stop within %.0f s of the exit", EXIT_WAIT_S)
    _forget_finished_jobs()


# ---------------------------------------------------------------------------- the one adapter


@dataclass(frozen=True)
class SetOutcome:
    """What one set's download (or removal) came to, in the page's terms."""

    set_id: str
    downloaded: int = 0
    already_had: int = 0
    embedded: int = 0
    failed: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class JobResult:
    """A finished job: per-set outcomes, the reference data to scan with now (None: unchanged or not
    loadable), and the one-line error that stopped it (None: it ran to its end)."""

    outcomes: tuple[SetOutcome, ...] = ()
    removed: tuple[str, ...] = ()
    bundle: ReferenceBundle | None = None
    error: str | None = None
    cancelled: bool = False
    #: Installed sets left out of the reference data (damaged, another model), each with its reason.
    problems: tuple[str, ...] = ()


#: A download's progress, as ``app.catalog.download`` reports it.
Progress = DownloadProgress


@dataclass
class ReferenceSets:
    """Which sets' reference pictures are installed, and the calls that change that — the page's one
    adapter to ``app.catalog.install`` and ``app.catalog.download``."""

    bundle_path: Path
    sets_dir: Path | None = None
    cache_dir: Path | None = None
    image_base: str | None = None
    jobs: int = DEFAULT_JOBS
    catalog: CatalogDatabase | None = field(default=None, repr=False)

    def status(self) -> dict[str, str]:
        """set id → SHIPPED or DOWNLOADED, for every set whose reference pictures are installed."""
        from app.catalog.install import present_sets

        present = present_sets(self.bundle_path, self.sets_dir)
        shipped = present.shipped or frozenset()
        return {s: SHIPPED if s in shipped else DOWNLOADED for s in present.installed}

    def download(
        self,
        set_ids: Sequence[str],
        embedder: EmbedderBackend,
        progress: Callable[[Progress], None],
        cancel: threading.Event,
    ) -> list[SetOutcome]:
        from app.catalog.download import download_and_install

        reports = download_and_install(
            list(set_ids),
            embedder,
            catalog=self.catalog,
            image_base=self.image_base,
            jobs=self.jobs,
            progress=progress,
            cancel=cancel,
            cache_dir=self.cache_dir,
            sets_dir=self.sets_dir,
            shipped=self.bundle_path,
        )
        return [
            SetOutcome(r.set_id, r.downloaded, r.already_had, r.embedded, tuple((card, why) for card, why in r.failed))
            for r in reports
        ]

    def remove(self, set_ids: Sequence[str], cancel: threading.Event | None = None) -> list[str]:
        from app.catalog.download import remove_sets

        return list(remove_sets(list(set_ids), sets_dir=self.sets_dir, shipped=self.bundle_path, cancel=cancel))

    def load(self, embedder: EmbedderBackend) -> ReferenceBundle:
        """The reference data the scanner uses: the shipped bundle and every installed set that checks
        out (the others are named in its ``problems``), loaded as the engine loads it at start."""
        from app.engine import reference_with_installed_sets

        return reference_with_installed_sets(self.bundle_path, embedder, self.sets_dir)


# ---------------------------------------------------------------------------- the worker


class CatalogJob(QObject):
    """Downloads or removes sets on its own thread, then loads the reference data the scanner should
    use; every outcome (a network fault, a damaged file, a cancel) ends in ``done`` with a JobResult."""

    progress = Signal(object)  # Progress
    done = Signal(object)  # JobResult

    def __init__(
        self,
        sets: ReferenceSets,
        kind: str,
        set_ids: Sequence[str],
        make_embedder: Callable[[], EmbedderBackend],
    ) -> None:
        super().__init__()
        self.sets = sets
        self.kind = kind
        self.set_ids = list(set_ids)
        self.make_embedder = make_embedder
        self.cancel = threading.Event()

    @Slot()
    def run(self) -> None:
        try:
            result = self._run()
        except Exception as error:  # shown on the page as one line, never lost with the thread
            logger.exception("Catalogue %s failed", self.kind)
            result = JobResult(error=str(error) or type(error).__name__)
        self.done.emit(result)

    def _run(self) -> JobResult:
        try:
            embedder = self.make_embedder()
        except (EmbedderError, OSError) as error:
            return JobResult(error=f"the recogniser cannot start: {error}")
        try:
            outcomes: list[SetOutcome] = []
            removed: list[str] = []
            if self.kind == "download":
                outcomes = self.sets.download(self.set_ids, embedder, self.progress.emit, self.cancel)
            else:
                removed = self.sets.remove(self.set_ids, self.cancel)
            try:
                bundle = self.sets.load(embedder)
            except (BundleError, OSError) as error:
                return JobResult(
                    tuple(outcomes), tuple(removed), error=f"the new reference data cannot be loaded: {error}"
                )
            return JobResult(
                tuple(outcomes), tuple(removed), bundle, cancelled=self.cancel.is_set(), problems=tuple(bundle.problems)
            )
        finally:
            embedder.close()


def describe_result(kind: str, result: JobResult) -> str:
    """One paragraph for the page: what was installed or removed, and every failure with its reason."""
    if result.error is not None and not result.outcomes and not result.removed:
        return f"Nothing changed: {result.error}"
    lines: list[str] = []
    if kind == "remove":
        lines.append(f"Removed {', '.join(result.removed)}." if result.removed else "No set was removed.")
    for outcome in result.outcomes:
        line = (
            f"{outcome.set_id}: {outcome.embedded} card pictures installed "
            f"({outcome.downloaded} downloaded, {outcome.already_had} already here)"
        )
        if outcome.failed:
            tried, not_tried, why_not = split_not_tried(outcome.failed)
            reasons = "; ".join(f"{card}: {why}" for card, why in tried[:3])
            more = f" and {len(tried) - 3} more" if len(tried) > 3 else ""
            line += f", {len(outcome.failed)} failed — {reasons}{more}"
            if not_tried:
                line += f"; {not_tried} not tried: {why_not}"
        lines.append(line)
    if result.outcomes and all(o.failed and not o.downloaded and not o.already_had for o in result.outcomes):
        lines.append(
            "No card picture could be fetched: is this computer online? The sets already installed keep working."
        )
    if result.cancelled:
        lines.append("Cancelled: what was already verified is kept; download again to finish.")
    if result.error is not None:
        lines.append(f"Stopped: {result.error}")
    lines.extend(result.problems)  # each names the set, why, and how to reinstall it
    return "\n".join(lines)


def eta_text(seconds: float | None) -> str:
    if seconds is None or seconds < 0.5:  # unknown, or done
        return ""
    if seconds < 60:
        return f"about {max(1, round(seconds))} s left"
    return f"about {round(seconds / 60)} min left"


# ---------------------------------------------------------------------------- the set list


@dataclass(frozen=True)
class SetRow:
    info: SetInfo
    cards: int
    status: str


class SetsModel(QAbstractTableModel):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.rows: list[SetRow] = []

    def reset(self, rows: list[SetRow]) -> None:
        self.beginResetModel()
        self.rows = rows
        self.endResetModel()

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008, N802 - Qt override
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008, N802 - Qt override
        return 0 if parent.isValid() else len(COLUMNS)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        if role == Qt.ItemDataRole.UserRole:
            return row.info.set_id
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() == 4:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        info = row.info
        values = (info.set_id, info.name, info.series or "", info.release_date or "", row.cards, row.status)
        return values[index.column()]

    def headerData(  # noqa: N802 - Qt override
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None


# ---------------------------------------------------------------------------- the page


class CatalogPage(QWidget):
    #: A one-line message for the status bar.
    status_message = Signal(str)
    #: Sets were installed or removed: the reference data to scan with from now on.
    reference_changed = Signal(object)  # ReferenceBundle
    #: A card was added by hand (the collection changed).
    card_added = Signal(str)
    #: Each line of a running job's progress ("Downloading base1: 40/102 · about 20 s left"), for
    #: whichever page the user is on.
    job_progress_text = Signal(str)
    #: A job has ended and its thread is gone (what a window waiting to close waits for).
    job_ended = Signal()

    def __init__(
        self,
        collection: Any,
        sets: ReferenceSets,
        catalog: CatalogDatabase | None,
        make_embedder: Callable[[], EmbedderBackend],
        bundle_metadata: Callable[[], dict[str, dict[str, Any]]] = dict,
        catalog_error: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("catalogPage")
        self.collection = collection
        self.sets = sets
        self.catalog = catalog
        self.make_embedder = make_embedder
        self.bundle_metadata = bundle_metadata
        self.status_by_set: dict[str, str] = {}
        self.job: CatalogJob | None = None
        self.job_thread: QThread | None = None
        self._job_kind = ""

        # ---- sets
        self.filter = QLineEdit()
        self.filter.setObjectName("setFilter")
        self.filter.setPlaceholderText("Filter sets: name, code, series, year, status…")
        self.filter.setClearButtonEnabled(True)
        self.model = SetsModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setFilterKeyColumn(-1)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.filter.textChanged.connect(self.proxy.setFilterFixedString)
        self.filter.textChanged.connect(self._update_summary)
        self.table = QTableView()
        self.table.setObjectName("setTable")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(3, Qt.SortOrder.DescendingOrder)  # newest sets first
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.verticalHeader().hide()
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)  # "Scarlet & Violet" may shrink too
        self.table.selectionModel().selectionChanged.connect(self._update_buttons)
        self.summary = QLabel("")
        self.summary.setObjectName("catalogSummary")
        self.summary.setWordWrap(True)  # long lines must not widen the window past a small display

        self.download_button = QPushButton("Download")
        self.download_button.setObjectName("downloadSets")
        self.download_button.setToolTip("Fetch the card pictures of the selected sets and learn them (needs internet)")
        self.download_button.clicked.connect(self.download_selected)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setObjectName("removeSets")
        self.remove_button.setToolTip("Forget the downloaded pictures of the selected sets (shipped sets stay)")
        self.remove_button.clicked.connect(self.remove_selected)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelDownload")
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.progress.setObjectName("downloadProgress")
        self.progress.setTextVisible(True)
        self.progress_label = QLabel("")
        self.progress_label.setWordWrap(True)
        self.report = QLabel("")
        self.report.setObjectName("downloadReport")
        self.report.setWordWrap(True)
        self.report.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        actions = QHBoxLayout()
        actions.addWidget(self.download_button)
        actions.addWidget(self.remove_button)
        running = QHBoxLayout()
        running.addWidget(self.progress, 1)
        running.addWidget(self.cancel_button)
        sets_box = QGroupBox("Sets")
        sets_box.setToolTip("The scanner recognises the cards of the installed sets by their picture")
        sets_layout = QVBoxLayout(sets_box)
        sets_layout.addWidget(self.filter)
        sets_layout.addWidget(self.table, 1)
        sets_layout.addWidget(self.summary)
        sets_layout.addLayout(actions)
        sets_layout.addLayout(running)
        sets_layout.addWidget(self.progress_label)
        sets_layout.addWidget(self.report)

        # ---- cards
        self.search = QLineEdit()
        self.search.setObjectName("cardSearch")
        self.search.setPlaceholderText("Any card: name, number (4/102, TG05), set code (EVO)…")
        self.search.setClearButtonEnabled(True)
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(200)
        self._search_timer.timeout.connect(self.run_search)
        self.search.textChanged.connect(self._search_timer.start)
        self.search.returnPressed.connect(self.run_search)
        self.results = QListWidget()
        self.results.setObjectName("cardResults")
        self.results.setWordWrap(True)
        self.results.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.results.currentItemChanged.connect(self._update_buttons)
        self.results.itemDoubleClicked.connect(lambda _item: self.add_selected_card())
        self.finish, self.condition, self.language, self.quantity = add_choice_widgets()
        self.add_button = QPushButton("Add to collection")
        self.add_button.setObjectName("addByHand")
        self.add_button.clicked.connect(self.add_selected_card)
        form = QFormLayout()
        form.addRow("Finish", self.finish)
        form.addRow("Condition", self.condition)
        form.addRow("Language", self.language)
        form.addRow("Quantity", self.quantity)
        cards_box = QGroupBox("Any card, added by hand")
        cards_layout = QVBoxLayout(cards_box)
        cards_layout.addWidget(self.search)
        cards_layout.addWidget(self.results, 1)
        cards_layout.addLayout(form)
        cards_layout.addWidget(self.add_button)

        splitter = QSplitter()
        self.splitter = splitter
        splitter.addWidget(sets_box)
        # Scrolls rather than make the window taller than a small display (with a banner above it).
        cards_scroll = QScrollArea()
        cards_scroll.setWidget(cards_box)
        cards_scroll.setWidgetResizable(True)
        cards_scroll.setFrameShape(QFrame.Shape.NoFrame)
        cards_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll_bar = cards_scroll.verticalScrollBar().sizeHint().width()
        cards_scroll.setMinimumWidth(cards_box.minimumSizeHint().width() + scroll_bar)
        self.cards_scroll = cards_scroll
        splitter.addWidget(cards_scroll)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.error = QLabel(catalog_error)
        self.error.setObjectName("catalogError")
        self.error.setWordWrap(True)
        self.error.setVisible(bool(catalog_error))
        layout.addWidget(self.error)
        layout.addWidget(splitter, 1)
        self._set_busy(False)
        self.refresh()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        # On a small display the series column gives its room to the set's name (the filter still
        # matches it).
        compact = event.size().width() < COMPACT_WIDTH
        self.table.setColumnHidden(2, compact)
        if compact:  # the card form needs only its own width; the set names get the rest
            cards = self.cards_scroll.minimumWidth()
            self.splitter.setSizes([event.size().width() - cards, cards])
        super().resizeEvent(event)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        # A set may have been installed from the command line meanwhile.
        if not self.busy:
            self.refresh()
        super().showEvent(event)

    # ------------------------------------------------------------------ the set list
    def refresh(self) -> None:
        """Re-read which sets are installed and list every set of the catalogue."""
        self.status_by_set = self._read_status()
        if self.catalog is None:
            self.model.reset([])
            self._update_summary()
            return
        try:
            infos, counts = self.catalog.sets(), self.catalog.card_counts()
        except CatalogDatabaseError as error:
            self.show_error(str(error))
            infos, counts = [], {}
        rows = [SetRow(i, counts.get(i.set_id, 0), self.status_by_set.get(i.set_id, NOT_INSTALLED)) for i in infos]
        self.model.reset(rows)
        self._update_summary()

    def _read_status(self) -> dict[str, str]:
        try:
            return self.sets.status()
        except (OSError, ValueError, BundleError) as error:
            self.show_error(f"Which sets are installed is unknown: {error}")
            return {}

    def show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.setVisible(bool(text))

    def _update_summary(self, *_: object) -> None:
        installed = [s for s in self.status_by_set if self.status_by_set[s] != NOT_INSTALLED]
        cards = sum(r.cards for r in self.model.rows if r.status != NOT_INSTALLED)
        shown = self.proxy.rowCount()
        self.summary.setText(
            f"{len(self.model.rows)} sets ({shown} shown) · the scanner knows the pictures of {len(installed)} "
            f"sets, {cards:,} cards · any card can be added by hand"
        )

    def selected_set_ids(self) -> list[str]:
        rows = self.table.selectionModel().selectedRows()
        return [str(self.proxy.data(index, Qt.ItemDataRole.UserRole)) for index in rows]

    def select_sets(self, set_ids: Sequence[str]) -> None:
        """Select these sets' rows (what a click does)."""
        wanted = set(set_ids)
        selection = self.table.selectionModel()
        selection.clear()
        for row in range(self.proxy.rowCount()):
            index = self.proxy.index(row, 0)
            if self.proxy.data(index, Qt.ItemDataRole.UserRole) in wanted:
                selection.select(
                    index,
                    selection.SelectionFlag.Select | selection.SelectionFlag.Rows,
                )

    # ------------------------------------------------------------------ download / remove
    @property
    def busy(self) -> bool:
        return self.job is not None

    def _set_busy(self, busy: bool) -> None:
        self.cancel_button.setVisible(busy)
        self.cancel_button.setEnabled(busy)
        self.progress.setVisible(busy)
        self._update_buttons()

    def _update_buttons(self, *_: object) -> None:
        chosen = [self.status_by_set.get(s, NOT_INSTALLED) for s in self.selected_set_ids()]
        self.download_button.setEnabled(not self.busy and (NOT_INSTALLED in chosen or DOWNLOADED in chosen))
        self.remove_button.setEnabled(not self.busy and DOWNLOADED in chosen)
        self.add_button.setEnabled(self.results.currentItem() is not None)

    def download_selected(self) -> None:
        # A downloaded set downloads again (fetching only what is missing); a shipped one needs nothing.
        chosen = [s for s in self.selected_set_ids() if self.status_by_set.get(s) != SHIPPED]
        if chosen:
            self._start("download", chosen)

    def remove_selected(self) -> None:
        chosen = [s for s in self.selected_set_ids() if self.status_by_set.get(s) == DOWNLOADED]
        if chosen:
            self._start("remove", chosen)

    def _start(self, kind: str, set_ids: list[str]) -> None:
        if self.busy:
            return
        self._job_kind = kind
        self.report.setText("")
        self.progress.setRange(0, 0)  # busy until the first progress report
        self.progress_label.setText(
            f"{'Downloading' if kind == 'download' else 'Removing'} {', '.join(set_ids)}… (starting the recogniser)"
        )
        job = CatalogJob(self.sets, kind, set_ids, self.make_embedder)
        # No parent: deleting the page must not destroy a thread that still runs (see _JOBS).
        thread = QThread()
        thread.setObjectName("cardsight-catalog")
        job.moveToThread(thread)
        thread.started.connect(job.run)
        job.progress.connect(self._on_progress)
        job.done.connect(self._on_done)
        _forget_finished_jobs()
        _JOBS.append((thread, job))
        self.job, self.job_thread = job, thread
        self._set_busy(True)
        thread.start()

    def _on_progress(self, update: Progress) -> None:
        total = max(update.total, 1)
        self.progress.setRange(0, total)
        self.progress.setValue(min(update.done, total))
        verb = "Downloading" if update.stage == "download" else "Learning the pictures of"
        failed = f" · {update.failed} failed" if update.failed else ""
        eta = eta_text(update.eta_s)
        text = f"{verb} {update.set_id}: {update.done}/{update.total}{failed}{' · ' + eta if eta else ''}"
        self.progress_label.setText(text)
        self.job_progress_text.emit(text)

    def _on_done(self, result: JobResult) -> None:
        thread = self.job_thread
        if thread is not None:
            # The job has returned; quit here (its queued quit would only run after this slot).
            thread.quit()
            if not thread.wait(int(STOP_WAIT_S * 1000)):
                logger.warning("The catalogue job's thread did not end within %.0f s", STOP_WAIT_S)
        self.job, self.job_thread = None, None
        _forget_finished_jobs()
        text = describe_result(self._job_kind, result)
        self.report.setText(text)
        self.progress_label.setText("")
        self._set_busy(False)
        self.refresh()
        self.status_message.emit(text.splitlines()[0] if text else "")
        if result.bundle is not None:
            self.reference_changed.emit(result.bundle)
        self.job_ended.emit()

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel.set()
            self.cancel_button.setEnabled(False)
            self.progress_label.setText("Cancelling… (what is verified is kept)")

    def shutdown(self, timeout_s: float | None = None) -> bool:
        """Cancel a running job and wait for its thread, at most ``timeout_s`` (default
        :data:`STOP_WAIT_S`); False if it is still running — ``job_ended`` follows once it has ended
        (the download keeps what it verified; the next start resumes it)."""
        timeout_s = STOP_WAIT_S if timeout_s is None else timeout_s
        thread = self.job_thread
        if self.job is None or thread is None:
            return True
        self.job.cancel.set()
        # Direct, not through the job's queued "done": this wait keeps the GUI's event loop from running.
        thread.quit()
        deadline = time.monotonic() + timeout_s
        while thread.isRunning() and time.monotonic() < deadline:
            thread.wait(50)
        if thread.isRunning():
            logger.warning("The catalogue download did not stop within %.0f s", timeout_s)
            return False
        return True

    # ------------------------------------------------------------------ cards
    def run_search(self) -> None:
        """List the cards that match the search text: installed sets first among equal matches."""
        self._search_timer.stop()
        self.results.clear()
        text = self.search.text().strip()
        if not text or self.catalog is None:
            self._update_buttons()
            return
        installed = frozenset(s for s, status in self.status_by_set.items() if status != NOT_INSTALLED)
        try:
            cards = self.catalog.search(text, limit=SEARCH_LIMIT, prefer=installed)
        except CatalogDatabaseError as error:
            self.status_message.emit(str(error))
            cards = []
        for card in cards:
            item = QListWidgetItem(card_text(card, card.set_id in installed))
            item.setData(Qt.ItemDataRole.UserRole, card.card_id)
            self.results.addItem(item)
        if not cards:
            self.results.addItem(QListWidgetItem(f"No card matches “{text}”"))
            self.results.item(0).setFlags(Qt.ItemFlag.NoItemFlags)
        else:
            self.results.setCurrentRow(0)
        self._update_buttons()

    def selected_card(self) -> CardInfo | None:
        item = self.results.currentItem()
        card_id = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        if not card_id or self.catalog is None:
            return None
        try:
            return self.catalog.card(str(card_id))
        except CatalogDatabaseError as error:
            self.status_message.emit(str(error))
            return None

    def add_selected_card(self) -> bool:
        """Add the chosen card with the form's finish, condition, language and quantity (one undoable
        action, like ``cardsight collection add``)."""
        card = self.selected_card()
        if card is None:
            return False
        key = InventoryKey(
            card.card_id, self.finish.currentText(), self.condition.currentText(), self.language.currentText()
        )
        quantity = self.quantity.value()
        try:
            if not self.collection.has_card(card.card_id):
                # The bundle's metadata when the card has pictures installed, else the catalogue's.
                self.collection.upsert_cards([self.bundle_metadata().get(card.card_id) or card.metadata()])
            self.collection.add(key, quantity)
        except (CollectionError, sqlite3.Error) as error:
            self.status_message.emit(f"Not added: {error}")
            return False
        text = f"Added {quantity} × {card.name} ({card.set_name} {printed_number(card)}) to the collection"
        self.status_message.emit(text)
        self.card_added.emit(text)
        return True


def printed_number(card: CardInfo) -> str:
    """``4/102`` when the set prints a total and the number is plain digits, else the number as printed."""
    return f"{card.number}/{card.printed_total}" if card.printed_total and card.number.isdigit() else card.number


def card_text(card: CardInfo, installed: bool) -> str:
    """``Charizard — Base 4/102 · Rare Holo`` and whether the scanner knows its picture."""
    rarity = f" · {card.rarity}" if card.rarity else ""
    known = "" if installed else " · picture not installed"
    return f"{card.name} — {card.set_name} {printed_number(card)}{rarity}{known}"


def installed_summary(catalog: CatalogDatabase | None, status: dict[str, str]) -> str:
    """``151, Temporal Forces and Evolutions`` — the installed sets by name, for the welcome."""
    if not status:
        return ""
    names: dict[str, str] = {}
    if catalog is not None:
        try:
            names = {s.set_id: s.name for s in catalog.sets()}
        except CatalogDatabaseError:
            names = {}
    labels = sorted(names.get(s, s) for s in status)
    return labels[0] if len(labels) == 1 else f"{', '.join(labels[:-1])} and {labels[-1]}"
