"""The recent scans as a Qt model/view list: each row one presentation, selectable, so an earlier scan
can be reopened in the match panel and corrected, re-counted or removed.

New scans are appended at the end: rows never move under the cursor, and the view follows the newest
scan only while the pointer is not over it."""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QListView, QWidget

from app.match.bundle import ReferenceBundle
from app.session import ScanEntry
from ui.images import pixmap_from_bgr, pixmap_from_file

logger = logging.getLogger(__name__)

AnyIndex = QModelIndex | QPersistentModelIndex
#: Rows kept in the list (the collection keeps every scan; this is what the strip shows).
MAX_ROWS = 50
THUMB = (40, 56)
EntryRole = Qt.ItemDataRole.UserRole + 1

STATUS_LABELS = {"unknown": "Not in the catalogue", "card_back": "Card back", "uncertain": "Unsure"}


def card_label(bundle: ReferenceBundle, card_id: str | None) -> str:
    """``Pikachu (151 25/165)``: name, set name and printed number, as a collector says it."""
    if not card_id:
        return ""
    meta: dict[str, Any] = bundle.metadata.get(card_id, {})
    number = str(meta.get("number", "?"))
    if meta.get("printed_total"):
        number = f"{number}/{meta['printed_total']}"
    set_name = meta.get("set_name") or meta.get("set_id") or ""
    return f"{meta.get('name', card_id)} ({set_name} {number})".replace("( ", "(")


def entry_label(bundle: ReferenceBundle, entry: ScanEntry) -> str:
    if entry.card_id:
        return str(bundle.metadata.get(entry.card_id, {}).get("name") or entry.card_id)
    return STATUS_LABELS.get(entry.event.event, entry.event.event.replace("_", " "))


class RecentScansModel(QAbstractListModel):
    """Oldest first; rows are :class:`ScanEntry` objects kept in step with the session."""

    def __init__(self, bundle: ReferenceBundle, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bundle = bundle
        self.entries: list[ScanEntry] = []

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008, N802 - Qt override
        return 0 if parent.isValid() else len(self.entries)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self.entries):
            return None
        entry = self.entries[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{'✓ ' if entry.added else ''}{entry_label(self.bundle, entry)}"
        if role == Qt.ItemDataRole.ToolTipRole:
            label = card_label(self.bundle, entry.card_id) or entry_label(self.bundle, entry)
            return f"{label}\n{'added to the collection' if entry.added else 'not added'} — click to reopen"
        if role == Qt.ItemDataRole.DecorationRole:
            return self._icon(entry)
        if role == EntryRole:
            return entry
        return None

    def _icon(self, entry: ScanEntry) -> QIcon:
        if entry.card_id:
            pixmap = pixmap_from_file(self.bundle.thumb_path(entry.card_id), *THUMB)
            if not pixmap.isNull():
                return QIcon(pixmap)
        if entry.event.crop is not None:
            return QIcon(pixmap_from_bgr(entry.event.crop, *THUMB))
        # A blank picture keeps the cell's layout the same as its neighbours'.
        blank = QPixmap(*THUMB)
        blank.fill(QColor("#30363d"))
        return QIcon(blank)

    def row_of(self, scan_id: int) -> int:
        return next((i for i, e in enumerate(self.entries) if e.scan_id == scan_id), -1)

    def upsert(self, entry: ScanEntry) -> QModelIndex:
        """Show ``entry``: refreshed in place when listed, else appended at the end."""
        row = self.row_of(entry.scan_id)
        if row >= 0:
            self.entries[row] = entry
            index = self.index(row)
            self.dataChanged.emit(index, index)
            return index
        if len(self.entries) >= MAX_ROWS:
            self.beginRemoveRows(QModelIndex(), 0, 0)
            del self.entries[0]
            self.endRemoveRows()
        self.beginInsertRows(QModelIndex(), len(self.entries), len(self.entries))
        self.entries.append(entry)
        self.endInsertRows()
        return self.index(len(self.entries) - 1)

    def remove(self, scan_id: int) -> None:
        row = self.row_of(scan_id)
        if row < 0:
            return
        self.beginRemoveRows(QModelIndex(), row, row)
        del self.entries[row]
        self.endRemoveRows()

    def keep_only(self, scan_ids: set[int]) -> None:
        """Drop rows the session no longer lists (a presentation named after it was unsure)."""
        for entry in [e for e in self.entries if e.scan_id not in scan_ids]:
            self.remove(entry.scan_id)


class RecentScansView(QListView):
    """A horizontal strip of fixed-size cells (no text runs into its neighbour)."""

    entry_selected = Signal(object)  # ScanEntry

    def __init__(self, model: RecentScansModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("recentScans")
        self.setModel(model)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(False)
        self.setMovement(QListView.Movement.Static)
        self.setWordWrap(True)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        # Selecting a scan must not scroll the strip (Qt would, to show it): _follow_newest decides.
        self.setAutoScroll(False)
        self.set_compact(False)
        self.clicked.connect(self._select)
        self.activated.connect(self._select)
        model.rowsInserted.connect(self._follow_newest)

    def set_compact(self, compact: bool) -> None:
        self.setIconSize(QSize(*THUMB))
        self.setGridSize(QSize(92, 96) if compact else QSize(112, 100))
        self.setFixedHeight(118 if compact else 122)

    def _select(self, index: QModelIndex) -> None:
        entry = index.data(EntryRole)
        if entry is not None:
            self.entry_selected.emit(entry)

    def _follow_newest(self, _parent: QModelIndex, _first: int, last: int) -> None:
        # Not while the pointer is on the strip: what the user is about to click must stay put.
        if not self.underMouse():
            self.scrollTo(self.model().index(last, 0))

    def select_scan(self, scan_id: int) -> None:
        model = self.model()
        assert isinstance(model, RecentScansModel)
        row = model.row_of(scan_id)
        if row >= 0:
            self.setCurrentIndex(model.index(row))
