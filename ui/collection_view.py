"""The collection browser: a paged Qt table over the inventory (100,000 rows load page by page), search
and filters, totals, inline quantity/condition edits, delete with undo, a detail pane, CSV export;
with a price service, each row's unit price and value (condition factor applied), sorting by them, and
the value of the collection, of the filtered rows and of the session, with currency, source and date.

Totals, the filter lists and the detail pane follow every reload of the table: an edit, a delete, an
undo, and whatever another program (``cardsight collection``) changed, seen when the page is shown.
Values are worked out on the price service's thread and fill in when they arrive."""

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
from app.prices.value import RowValue, money
from ui.images import pixmap_from_file
from ui.inventory_sort import VALUE_COLUMNS, figure_cents, printed_number, shown, sort_rows
from ui.memory import UiMemory
from ui.price_service import BrowserValues, PriceService, ValueTotals

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
    ("unit_price", "Price"),
    ("value", "Value"),
)
EDITABLE = {"quantity", "condition"}
#: What a value cell says before the service answered, and for a row without a price.
VALUE_PENDING = "…"
NO_PRICE = "no price"
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
COMPACT_HIDDEN = ("rarity", "language", "unit_price")
NO_DETAIL = "Select a card to see it here."


def totals_text(totals: ValueTotals, currency: str) -> str:
    """``1,234.56 USD`` and, apart, the cards without a price (never counted as 0)."""
    text = money(totals.value_cents, currency)
    if totals.unpriced_cards:
        text += f" + {totals.unpriced_cards:,} card(s) without a price"
    return text


def value_summary(values: BrowserValues) -> str:
    """The value line: collection, filtered rows, session, then where the prices come from."""
    parts = [f"Collection {totals_text(values.collection, values.currency)}"]
    if values.filtered is not None:
        parts.append(f"filtered {totals_text(values.filtered, values.currency)}")
    if values.session is not None:
        parts.append(f"this session {totals_text(values.session, values.currency)}")
    newest = values.collection.newest_date
    sources = ", ".join(values.collection.sources)
    parts.append(f"prices: {sources} to {newest}" if newest else "no prices yet: run `cardsight prices update`")
    return " · ".join(parts)


class InventoryModel(QAbstractTableModel):
    """Rows come from ``Collection.inventory`` one page at a time (``canFetchMore``/``fetchMore``);
    sorted, every matching row is loaded, on the price service's thread when there is one."""

    def __init__(
        self, collection: Collection, parent: QWidget | None = None, prices: PriceService | None = None
    ) -> None:
        super().__init__(parent)
        self.collection = collection
        self.prices = prices
        self.filters: dict[str, Any] = {}
        self.rows: list[dict[str, Any]] = []
        self.total_rows = 0
        self.total_cards = 0
        #: Each row's price and value (None: not known yet, or no price service).
        self.values: BrowserValues | None = None
        #: (column key, order) the user sorted by; None: the collection's own order, page by page.
        self.sort_key: tuple[str, Qt.SortOrder] | None = None
        #: A sorted load is on its way from the price service (the rows shown are the previous ones).
        self.sorting = False
        self._sort_token = 0
        if prices is not None:
            prices.answered.connect(self._on_sorted)
            prices.failed.connect(self._on_sort_failed)
        self.reload()

    def reload(self, **filters: Any) -> None:
        if filters:
            self.filters = {k: v for k, v in filters.items() if v}
        if self.sort_key is not None and self.prices is not None and self.prices.unavailable is None:
            # A sorted table needs every matching row: loaded and sorted off the GUI thread.
            self.total_rows, self.total_cards = self.collection.inventory_totals(**self.filters)
            self._sort_token += 1
            self.sorting = True
            key, order = self.sort_key
            self.prices.request_sorted_rows(
                ("sort", self._sort_token), self.filters, key, order == Qt.SortOrder.DescendingOrder
            )
            return
        self.beginResetModel()
        self.total_rows, self.total_cards = self.collection.inventory_totals(**self.filters)
        if self.sort_key is None:
            self.rows = self.collection.inventory(**self.filters, limit=PAGE, offset=0)
        else:
            key, order = self.sort_key
            values = self.values.rows if self.values is not None else None
            self.rows = sort_rows(
                self.collection.inventory(**self.filters), key, order == Qt.SortOrder.DescendingOrder, values
            )
        self.endResetModel()

    def _on_sorted(self, token: object, rows: object) -> None:
        if token != ("sort", self._sort_token) or not isinstance(rows, list):
            return
        self.sorting = False
        self.beginResetModel()
        self.rows = rows
        self.total_rows = len(rows)
        self.endResetModel()

    def _on_sort_failed(self, token: object, message: str) -> None:
        if token == ("sort", self._sort_token):
            logger.warning("Cannot sort the collection: %s", message)
            self.sorting = False
            self.sort_key = None
            self.reload()

    def set_values(self, values: BrowserValues | None) -> None:
        """The price service's answer: the value cells follow."""
        self.values = values
        first = [k for k, _ in COLUMNS].index(VALUE_COLUMNS[0])
        self.headerDataChanged.emit(Qt.Orientation.Horizontal, first, len(COLUMNS) - 1)
        if self.rows:
            self.dataChanged.emit(self.index(0, first), self.index(len(self.rows) - 1, len(COLUMNS) - 1))

    def row_value(self, row: dict[str, Any]) -> RowValue | None:
        return None if self.values is None else self.values.rows.get(int(row["id"]))

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """By any column; by price or value numerically (cents), rows without a price always last."""
        sort_key = (COLUMNS[column][0], order) if 0 <= column < len(COLUMNS) else None
        if sort_key == self.sort_key:
            return  # the header and the view both ask: one load is enough
        self.sort_key = sort_key
        self.reload()

    def _cents(self, row: dict[str, Any], key: str) -> int | None:
        return figure_cents(self.row_value(row), key)

    def _value_text(self, row: dict[str, Any], key: str) -> str:
        if self.values is None or int(row["id"]) not in self.values.rows:
            return VALUE_PENDING
        cents = self._cents(row, key)
        return NO_PRICE if cents is None else f"{cents / 100:,.2f}"

    def _value_tip(self, row: dict[str, Any]) -> str | None:
        value = self.row_value(row)
        if value is None or value.price is None or self.values is None:
            return None
        price = value.price
        return (
            f"{price.price:,.2f} {self.values.currency} ({row['finish']}) × {value.factor:g} ({row['condition']})"
            f" × {value.quantity} = {money(value.value_cents or 0, self.values.currency)}"
            f"\n{price.source}, {price.date}"
        )

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
            return self._value_text(row, key) if key in VALUE_COLUMNS else shown(row, key)
        if role == Qt.ItemDataRole.TextAlignmentRole and (key == "quantity" or key in VALUE_COLUMNS):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole and key in VALUE_COLUMNS:
            return self._value_tip(row)
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section][1]
        if role == Qt.ItemDataRole.ToolTipRole and COLUMNS[section][0] in VALUE_COLUMNS and self.values is not None:
            # The currency is on the value line under the table; the narrow heading leaves the name room.
            return f"{COLUMNS[section][1]} in {self.values.currency} (value: price × condition factor × quantity)"
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
        prices: PriceService | None = None,
        session_id: int | None = None,
    ) -> None:
        """``prices``: where the value columns and totals come from (None: no value shown);
        ``session_id``: the scanning session whose value the totals include."""
        super().__init__(parent)
        self.setObjectName("collectionBrowser")
        self.collection = collection
        self.bundle = bundle
        self.memory = memory
        self.prices = prices
        self.session_id = session_id
        self._values_token = 0
        self.model = InventoryModel(collection, self, prices)
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
        # No sort until the user clicks a heading: the collection's own order loads page by page.
        header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.table.setSortingEnabled(True)
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(40)
        self.table.setItemDelegateForColumn([k for k, _ in COLUMNS].index("condition"), ConditionDelegate(self.table))
        self.table.selectionModel().currentRowChanged.connect(self._show_detail)

        self.totals = QLabel()
        self.totals.setObjectName("collectionTotals")
        self.value_totals = QLabel()
        self.value_totals.setObjectName("collectionValue")
        self.value_totals.setWordWrap(True)
        self.value_totals.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.value_totals.setVisible(prices is not None)
        #: Value columns only where there are prices to read (the value line says why not).
        self.shows_values = prices is not None and prices.unavailable is None
        for key in VALUE_COLUMNS:
            self.table.setColumnHidden([k for k, _ in COLUMNS].index(key), not self.shows_values)
        if prices is not None:
            prices.answered.connect(self._on_values)
            prices.failed.connect(self._on_values_failed)
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
        layout.addWidget(self.value_totals)
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
            self.table.setColumnHidden(keys.index(key), compact or (key in VALUE_COLUMNS and not self.shows_values))
        super().resizeEvent(event)

    def _after_reload(self) -> None:
        """Every reload (edit, delete, undo, filter, import): totals, filter lists and detail follow."""
        self.refresh_filters()
        self._update_totals()
        self._follow_detail()
        self.request_values()

    # ------------------------------------------------------------------ values
    def request_values(self) -> None:
        """Ask the price service for the rows' values and the totals under the current filters."""
        if self.prices is None:
            return
        self._values_token += 1
        if self.model.values is None:
            self.value_totals.setText("Value: working it out…")
        self.prices.request_browser_values(("browser", self._values_token), self.model.filters, self.session_id)

    def _on_values(self, token: object, values: object) -> None:
        if token != ("browser", self._values_token) or not isinstance(values, BrowserValues):
            return  # another view's answer, or one older than the last reload
        self.model.set_values(values)
        self.value_totals.setText(value_summary(values))
        self._follow_detail()

    def _on_values_failed(self, token: object, message: str) -> None:
        if token == ("browser", self._values_token):
            self.value_totals.setText(f"Value: {message}")

    def _filter_values(self, key: str) -> list[tuple[str, str]]:
        """(shown text, filter value): sets by name, as the table shows them."""
        values = self.collection.inventory_values(key)
        if key != "set_id":
            return [(v, v) for v in values]
        try:
            names = self.collection.set_names()
        except (CollectionError, sqlite3.DatabaseError) as error:  # names are a nicety: the ids still filter
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

    def set_session(self, session_id: int | None) -> None:
        """The scanning session whose value the totals show (None: no session total)."""
        self.session_id = session_id
        self.request_values()

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
                name = self.collection.inventory_card_name(int(inventory_id))
            except (CollectionError, sqlite3.DatabaseError):
                name = None  # the message names the action without its card
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
            f"<br>Quantity {row['quantity']}{self._detail_value(row)}"
        )

    def _detail_value(self, row: dict[str, Any]) -> str:
        value = self.model.row_value(row)
        if self.prices is None or value is None or self.model.values is None:
            return ""
        currency = self.model.values.currency
        if value.price is None:
            return f"<br>No {currency} price for {row['finish']}"
        return (
            f"<br>Market {value.price.price:,.2f} {currency} · worth {money(value.value_cents or 0, currency)}"
            f"<br>{value.price.source}, {value.price.date}"
        )
