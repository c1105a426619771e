"""The collection browser: a paged Qt table over the inventory (100,000 rows load page by page), search
and filters, totals, inline quantity/condition edits, delete with undo, a detail pane, CSV export."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
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
            value = row.get(key)
            if key == "number" and row.get("printed_total"):
                return f"{value}/{row['printed_total']}"
            return value
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
    """Pick a format and a file; writes it through the engine's CSV exporter."""

    def __init__(self, collection: Collection, parent: QWidget | None = None, session_id: int | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export CSV")
        self.collection = collection
        self.session_id = session_id
        self.format = QComboBox()
        self.format.addItems(FORMATS)
        self.path = QLineEdit(str(Path.home() / "cardsight-collection.csv"))
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
        try:
            self.rows_written = export_csv(
                self.collection, self.path.text(), self.format.currentText(), self.session_id
            )
        except (CollectionError, OSError) as error:
            QMessageBox.warning(self, "Export failed", str(error))
            return
        self.result_label.setText(f"Wrote {self.rows_written} rows to {self.path.text()}")
        self.accept()


class CollectionBrowser(QWidget):
    status_message = Signal(str)

    def __init__(self, collection: Collection, bundle: ReferenceBundle | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("collectionBrowser")
        self.collection = collection
        self.bundle = bundle
        self.model = InventoryModel(collection, self)

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
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
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
        self.detail_text.setWordWrap(True)
        detail = QVBoxLayout()
        detail.addWidget(self.detail_image)
        detail.addWidget(self.detail_text)
        detail.addStretch(1)

        body = QHBoxLayout()
        body.addWidget(self.table, 1)
        body.addLayout(detail)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addLayout(body, 1)
        layout.addLayout(actions)
        self.refresh_filters()
        self._update_totals()

    def refresh(self) -> None:
        self.model.reload()
        self.refresh_filters()
        self._update_totals()

    def refresh_filters(self) -> None:
        for key, combo in self.filters.items():
            current = combo.currentData()
            combo.blockSignals(True)
            combo.clear()
            combo.addItem(combo.toolTip(), None)
            for value in self.collection.inventory_values(key):
                combo.addItem(value, value)
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
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        for row in rows:
            self.collection.set_quantity(int(self.model.row_at(row)["id"]), 0)
        if rows:
            self.status_message.emit(f"Deleted {len(rows)} row(s) — Undo brings them back")
            self.refresh()

    def undo(self) -> None:
        undone = self.collection.undo(1)
        self.status_message.emit(f"Undid: {undone[0]['kind']}" if undone else "Nothing to undo")
        self.refresh()

    def open_export(self) -> ExportDialog:
        dialog = ExportDialog(self.collection, self)
        dialog.open()
        return dialog

    def _show_detail(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if not current.isValid():
            return
        row = self.model.row_at(current.row())
        thumb = self.bundle.thumb_path(row["card_id"]) if self.bundle else None
        self.detail_image.setPixmap(pixmap_from_file(thumb, 180, 252))
        self.detail_text.setText(
            f"<b>{row['name']}</b><br>{row.get('set_name') or row.get('set_id')} · {row.get('number')}"
            f"<br>{row.get('rarity') or ''}<br>{row['finish']} · {row['condition']} · {row['language']}"
            f"<br>Quantity {row['quantity']}"
        )
