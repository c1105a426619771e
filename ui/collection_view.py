"""The collection browser: a paged Qt table over the inventory (100,000 rows load page by page), search
and filters, totals, inline quantity/condition edits, delete with undo, a detail pane, CSV export.

Totals, the filter lists and the detail pane follow every reload of the table: an edit, a delete, an
undo, and whatever another program (``cardsight collection``) changed, seen when the page is shown."""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QResizeEvent, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.collection.csvio import FORMATS, export_csv
from app.collection.store import CONDITIONS, Collection, CollectionError
from app.match.bundle import ReferenceBundle
from ui.images import pixmap_from_file
from ui.memory import UiMemory

logger = logging.getLogger(__name__)

AnyIndex = QModelIndex | QPersistentModelIndex
COLUMNS = (
    ("name", "Name"),
    ("set_name", "Set"),
    ("number", "No."),
    ("rarity", "Rarity"),
    ("finish", "Finish"),
    ("condition", "Condition"),
    ("language", "Language"),
    ("quantity", "Qty"),
)
EDITABLE = {"quantity", "condition"}
PAGE = 500
#: Export formats as their programs are called (the ids are what ``--format`` takes).
FORMAT_NAMES = {
    "generic": "cardsight (every column, with prices)",
    "tcgplayer": "TCGplayer",
    "dragonshield": "Dragon Shield",
    "collectr": "Collectr",
}
#: Below this width the detail pane and the less used columns give way to the table's Qty.
COMPACT_WIDTH = 1000
COMPACT_HIDDEN = ("rarity", "language")
NO_DETAIL = "Select a card to see it here."


def printed_number(row: dict[str, Any]) -> str:
    """``25/165`` as printed on the card (``25`` where the set has no printed total)."""
    return f"{row.get('number')}/{row['printed_total']}" if row.get("printed_total") else str(row.get("number"))


class InventoryModel(QAbstractTableModel):
    """Rows come from ``Collection.inventory`` one page at a time (``canFetchMore``/``fetchMore``)."""

    def __init__(self, collection: Collection, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.collection = collection
        self.filters: dict[str, Any] = {}
        self.rows: list[dict[str, Any]] = []
        self.total_rows = 0
        self.total_cards = 0
        self.reload()

    def reload(self, **filters: Any) -> None:
        if filters:
            self.filters = {k: v for k, v in filters.items() if v}
        self.beginResetModel()
        self.total_rows, self.total_cards = self.collection.inventory_totals(**self.filters)
        self.rows = self.collection.inventory(**self.filters, limit=PAGE, offset=0)
        self.endResetModel()

    # ------------------------------------------------------------------ Qt model
    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008, N802 - Qt override
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(COLUMNS)

    def canFetchMore(self, parent: AnyIndex = QModelIndex()) -> bool:  # noqa: B008, N802
        return not parent.isValid() and len(self.rows) < self.total_rows

    def fetchMore(self, parent: AnyIndex = QModelIndex()) -> None:  # noqa: B008, N802
        more = self.collection.inventory(**self.filters, limit=PAGE, offset=len(self.rows))
        if not more:
            return
        self.beginInsertRows(QModelIndex(), len(self.rows), len(self.rows) + len(more) - 1)
        self.rows.extend(more)
        self.endInsertRows()

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        key = COLUMNS[index.column()][0]
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole):
            return printed_number(row) if key == "number" else row.get(key)
        if role == Qt.ItemDataRole.TextAlignmentRole and key == "quantity":
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section][1]
        return None

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        base = super().flags(index)
        if index.isValid() and COLUMNS[index.column()][0] in EDITABLE:
            return base | Qt.ItemFlag.ItemIsEditable
        return base

    def setData(self, index: AnyIndex, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:  # noqa: N802
        if not index.isValid() or role != Qt.ItemDataRole.EditRole:
            return False
        row = self.rows[index.row()]
        key = COLUMNS[index.column()][0]
        try:
            if key == "quantity":
                self.collection.set_quantity(int(row["id"]), int(value))
            elif key == "condition":
                self.collection.move(int(row["id"]), condition=str(value))
            else:
                return False
        except (CollectionError, ValueError) as error:
            logger.warning("Edit refused: %s", error)
            return False
        self.reload()
        return True

    def row_at(self, row: int) -> dict[str, Any]:
        return self.rows[row]


class ConditionDelegate(QStyledItemDelegate):
    """Condition is edited with a list of the valid grades, never free text."""

    def createEditor(self, parent: QWidget, option: QStyleOptionViewItem, index: AnyIndex) -> QWidget:  # noqa: N802
        combo = QComboBox(parent)
        combo.addItems(CONDITIONS)
        return combo

    def setEditorData(self, editor: QWidget, index: AnyIndex) -> None:  # noqa: N802
        assert isinstance(editor, QComboBox)
        editor.setCurrentText(str(index.data(Qt.ItemDataRole.EditRole)))

    def setModelData(self, editor: QWidget, model: Any, index: AnyIndex) -> None:  # noqa: N802
        assert isinstance(editor, QComboBox)
        model.setData(index, editor.currentText(), Qt.ItemDataRole.EditRole)


class ExportDialog(QDialog):
    """Pick a format and a file; writes it through the engine's CSV exporter. The file and the format
    are remembered for next time; what was written is announced through ``exported`` (the dialog
    closes, the window shows it)."""

    exported = Signal(str)

    def __init__(
        self,
        collection: Collection,
        parent: QWidget | None = None,
        session_id: int | None = None,
        memory: UiMemory | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export CSV")
        self.collection = collection
        self.session_id = session_id
        self.memory = memory or UiMemory()
        self.format = QComboBox()
        self.format.setObjectName("exportFormat")
        for fmt in FORMATS:
            self.format.addItem(FORMAT_NAMES.get(fmt, fmt), fmt)
        self.format.setCurrentIndex(max(0, self.format.findData(self.memory.get("export_format", FORMATS[0]))))
        default_path = str(Path.home() / "cardsight-collection.csv")
        self.path = QLineEdit(str(self.memory.get("export_path", default_path)))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        path_row = QHBoxLayout()
        path_row.addWidget(self.path)
        path_row.addWidget(browse)
        form = QFormLayout(self)
        form.addRow("Format", self.format)
        form.addRow("File", path_row)
        self.result_label = QLabel("")
        form.addRow(self.result_label)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.export)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.rows_written = 0

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export CSV", self.path.text(), "CSV files (*.csv)")
        if path:
            self.path.setText(path)

    def export(self) -> None:
        fmt = str(self.format.currentData())
        try:
            self.rows_written = export_csv(self.collection, self.path.text(), fmt, self.session_id)
        except (CollectionError, OSError) as error:
            QMessageBox.warning(self, "Export failed", str(error))
            return
        self.memory.set("export_path", self.path.text())
        self.memory.set("export_format", fmt)
        text = f"Wrote {self.rows_written} rows ({self.format.currentText()}) to {self.path.text()}"
        self.result_label.setText(text)
        self.exported.emit(text)
        self.accept()


class CollectionBrowser(QWidget):
    status_message = Signal(str)

    def __init__(
        self,
        collection: Collection,
        bundle: ReferenceBundle | None,
        parent: QWidget | None = None,
        memory: UiMemory | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("collectionBrowser")
        self.collection = collection
        self.bundle = bundle
        self.memory = memory
        self.model = InventoryModel(collection, self)
        #: The collection actions the last Delete made (one per row): Undo takes them back together.
        self._deleted_actions: list[int] = []
        self._detail_id: int | None = None

        self.search = QLineEdit()
        self.search.setObjectName("collectionSearch")
        self.search.setPlaceholderText("Search name, number, set…")
        self.search.setClearButtonEnabled(True)
        self.filters: dict[str, QComboBox] = {}
        bar = QHBoxLayout()
        bar.addWidget(self.search, 2)
        for key, label in (
            ("set_id", "All sets"),
            ("rarity", "All rarities"),
            ("finish", "All finishes"),
            ("condition", "All conditions"),
        ):
            combo = QComboBox()
            combo.setObjectName(f"filter_{key}")
            combo.setToolTip(label)
            combo.currentIndexChanged.connect(self.apply_filters)
            self.filters[key] = combo
            bar.addWidget(combo, 1)
        self.search.textChanged.connect(self.apply_filters)

        self.table = QTableView()
        self.table.setObjectName("collectionTable")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(40)
        self.table.setItemDelegateForColumn([k for k, _ in COLUMNS].index("condition"), ConditionDelegate(self.table))
        self.table.selectionModel().currentRowChanged.connect(self._show_detail)

        self.totals = QLabel()
        self.totals.setObjectName("collectionTotals")
        delete = QPushButton("Delete")
        delete.setObjectName("deleteButton")
        delete.clicked.connect(self.delete_selected)
        undo = QPushButton("Undo")
        undo.clicked.connect(self.undo)
        export = QPushButton("Export CSV…")
        export.setObjectName("exportButton")
        export.clicked.connect(self.open_export)
        actions = QHBoxLayout()
        actions.addWidget(self.totals, 1)
        actions.addWidget(delete)
        actions.addWidget(undo)
        actions.addWidget(export)

        self.detail_image = QLabel()
        self.detail_image.setFixedSize(180, 252)
        self.detail_image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.detail_text = QLabel()
        self.detail_text.setObjectName("collectionDetail")
        self.detail_text.setText(NO_DETAIL)
        self.detail_text.setWordWrap(True)
        self.detail_text.setFixedWidth(200)
        self.detail = QWidget()
        # The picture must not set the page's smallest height (the 800×480 window hides the pane).
        self.detail.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Ignored)
        detail = QVBoxLayout(self.detail)
        detail.setContentsMargins(0, 0, 0, 0)
        detail.addWidget(self.detail_image)
        detail.addWidget(self.detail_text)
        detail.addStretch(1)
        self.model.modelReset.connect(self._after_reload)

        body = QHBoxLayout()
        body.addWidget(self.table, 1)
        body.addWidget(self.detail)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addLayout(body, 1)
        layout.addLayout(actions)
        self._after_reload()

    def refresh(self) -> None:
        self.model.reload()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        # Cards may have come in from the scanner or the command line while the page was hidden.
        self.refresh()
        super().showEvent(event)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        compact = event.size().width() < COMPACT_WIDTH
        self.detail.setVisible(not compact)
        keys = [k for k, _ in COLUMNS]
        for key in COMPACT_HIDDEN:
            self.table.setColumnHidden(keys.index(key), compact)
        super().resizeEvent(event)

    def _after_reload(self) -> None:
        """Every reload (edit, delete, undo, filter, import): totals, filter lists and detail follow."""
        self.refresh_filters()
        self._update_totals()
        self._follow_detail()

    def _filter_values(self, key: str) -> list[tuple[str, str]]:
        """(shown text, filter value): sets by name, as the table shows them."""
        values = self.collection.inventory_values(key)
        if key != "set_id":
            return [(v, v) for v in values]
        try:
            names = dict(
                self.collection.conn.execute(
                    "SELECT DISTINCT set_id, COALESCE(set_name, set_id) FROM cards WHERE set_id IS NOT NULL"
                ).fetchall()
            )
        except sqlite3.DatabaseError as error:  # names are a nicety: the ids still filter
            logger.warning("Cannot read the set names: %s", error)
            names = {}
        return sorted(((str(names.get(v) or v), v) for v in values), key=lambda pair: pair[0].lower())

    def refresh_filters(self) -> None:
        for key, combo in self.filters.items():
            current = combo.currentData()
            combo.blockSignals(True)
            combo.clear()
            combo.addItem(combo.toolTip(), None)
            for text, value in self._filter_values(key):
                combo.addItem(text, value)
            index = combo.findData(current)
            combo.setCurrentIndex(max(index, 0))
            combo.blockSignals(False)

    def apply_filters(self, *_: object) -> None:
        self.model.reload(
            query=self.search.text().strip(), **{key: combo.currentData() for key, combo in self.filters.items()}
        )
        if not self.search.text().strip() and not any(c.currentData() for c in self.filters.values()):
            self.model.filters = {}
            self.model.reload()
        self._update_totals()

    def _update_totals(self) -> None:
        self.totals.setText(f"{self.model.total_rows:,} rows · {self.model.total_cards:,} cards")

    def delete_selected(self) -> None:
        rows = [self.model.row_at(r) for r in sorted({i.row() for i in self.table.selectionModel().selectedRows()})]
        actions: list[int] = []
        try:
            for row in rows:
                self.collection.set_quantity(int(row["id"]), 0)
                actions += [int(a["id"]) for a in self.collection.undoable(1)]
        except CollectionError as error:
            self.status_message.emit(f"Delete stopped: {error}")
        if actions:
            self._deleted_actions = actions
            names = ", ".join(str(r["name"]) for r in rows[:3]) + (" …" if len(rows) > 3 else "")
            self.status_message.emit(f"Deleted {len(rows)} row(s): {names} — Undo brings them back")
        self.refresh()

    def undo(self) -> None:
        """Undo the last change; after a Delete, every row it deleted comes back together."""
        try:
            latest = self.collection.undoable(max(1, len(self._deleted_actions)))
            ids = [int(a["id"]) for a in latest]
            if self._deleted_actions and sorted(ids) == sorted(self._deleted_actions):
                self.collection.undo(len(ids), expected=ids)
                message = f"Undid the delete of {len(ids)} row(s)"
            else:
                undone = self.collection.undo(1)
                message = f"Undid {self._describe(undone[0])}" if undone else "Nothing to undo"
        except CollectionError as error:
            message = f"Nothing undone: {error}"
        self._deleted_actions = []
        self.status_message.emit(message)
        self.refresh()

    def _describe(self, action: dict[str, Any]) -> str:
        """What an undone action was, in the browser's words (``quantity change of Pikachu``)."""
        payload = json.loads(action.get("payload") or "{}")
        inventory_id = payload.get("inventory_id")
        name = None
        if inventory_id is not None:
            try:
                row = self.collection.conn.execute(
                    "SELECT c.name FROM inventory i JOIN cards c ON c.card_id = i.card_id WHERE i.id = ?",
                    (inventory_id,),
                ).fetchone()
            except sqlite3.DatabaseError:
                row = None  # the message names the action without its card
            name = row[0] if row else None
        kind = {"edit": "the change", "add": "the add", "accept": "the add", "import": "the import"}.get(
            str(action["kind"]), f"the {action['kind']}"
        )
        return f"{kind} of {name}" if name else kind

    def open_export(self) -> ExportDialog:
        dialog = ExportDialog(self.collection, self, memory=self.memory)
        dialog.exported.connect(self.status_message)
        dialog.open()
        return dialog

    def _follow_detail(self) -> None:
        """After a reload the rows are new: show the same inventory row again (selected), or nothing
        when it is gone (deleted, filtered out)."""
        if self._detail_id is None:
            return
        row = next((i for i, r in enumerate(self.model.rows) if int(r["id"]) == self._detail_id), -1)
        if row < 0:
            self._clear_detail()
            return
        self.table.selectionModel().blockSignals(True)
        self.table.selectRow(row)
        self.table.selectionModel().blockSignals(False)
        self._show_row(self.model.rows[row])

    def _clear_detail(self) -> None:
        self._detail_id = None
        self.detail_image.clear()
        self.detail_text.setText(NO_DETAIL)

    def _show_detail(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if not current.isValid():
            return
        self._show_row(self.model.row_at(current.row()))

    def _show_row(self, row: dict[str, Any]) -> None:
        self._detail_id = int(row["id"])
        thumb = self.bundle.thumb_path(row["card_id"]) if self.bundle else None
        self.detail_image.setPixmap(pixmap_from_file(thumb, 180, 252))
        self.detail_text.setText(
            f"<b>{row['name']}</b><br>{row.get('set_name') or row.get('set_id')} · {printed_number(row)}"
            f"<br>{row.get('rarity') or ''}<br>{row['finish']} · {row['condition']} · {row['language']}"
            f"<br>Quantity {row['quantity']}"
        )
