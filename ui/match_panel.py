"""The match panel: who the card is, the top-5 to correct with one click (or keys 1–5), add / undo,
the sticky add options, a "not in catalogue" search, and a strip of recent scans."""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.collection.store import CONDITIONS, FINISHES
from app.match.bundle import ReferenceBundle
from app.session import AddOptions, ScanEntry
from ui.images import pixmap_from_bgr, pixmap_from_file

logger = logging.getLogger(__name__)

LANGUAGES = ("English", "Japanese", "German", "French", "Italian", "Spanish", "Portuguese", "Korean", "Chinese")
STATUS_TEXT = {
    "identified": "Identified",
    "uncertain": "Which one is it? Press 1–5",
    "unknown": "Not in the catalogue — search for it below",
    "card_back": "Card back — turn the card over",
}


class MatchPanel(QWidget):
    #: The user picked alternative ``card_id`` for the shown scan.
    correction_requested = Signal(str)
    add_requested = Signal()
    undo_requested = Signal()
    options_changed = Signal(object)  # AddOptions

    def __init__(self, bundle: ReferenceBundle, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("matchPanel")
        self.bundle = bundle
        self.entry: ScanEntry | None = None
        self._thumb = (150, 210)

        self.status = QLabel("Hold a card flat and still in front of the camera")
        self.status.setObjectName("matchStatus")
        self.status.setWordWrap(True)
        self.reference = QLabel()
        self.reference.setObjectName("referenceThumb")
        self.reference.setFixedSize(150, 210)
        self.reference.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.crop = QLabel()
        self.crop.setObjectName("liveCrop")
        self.crop.setFixedSize(150, 210)
        self.crop.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.name = QLabel("—")
        self.name.setObjectName("cardName")
        self.name.setWordWrap(True)
        self.details = QLabel("")
        self.details.setObjectName("cardDetails")
        self.details.setWordWrap(True)

        images = QHBoxLayout()
        images.addWidget(self.reference)
        images.addWidget(self.crop)
        images.addStretch(1)

        self.alternative_buttons: list[QToolButton] = []
        alternatives = QHBoxLayout()
        for i in range(5):
            button = QToolButton()
            button.setObjectName(f"alternative{i + 1}")
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
            button.setIconSize(QSize(54, 76))
            button.setFixedSize(96, 118)
            button.clicked.connect(lambda _=False, i=i: self.choose_alternative(i))
            # Always in the layout (disabled when empty): showing the first card must not re-lay out
            # the window, which cost a visible stall.
            button.setEnabled(False)
            button.setText(f"{i + 1}\n")
            self.alternative_buttons.append(button)
            alternatives.addWidget(button)
        alternatives.addStretch(1)

        self.finish = QComboBox()
        self.finish.addItems(FINISHES)
        self.condition = QComboBox()
        self.condition.addItems(CONDITIONS)
        self.language = QComboBox()
        self.language.addItems(LANGUAGES)
        self.quantity = QSpinBox()
        self.quantity.setRange(1, 999)
        options = QGridLayout()
        for column, (label, widget) in enumerate(
            (
                ("Finish", self.finish),
                ("Condition", self.condition),
                ("Language", self.language),
                ("Qty", self.quantity),
            )
        ):
            options.addWidget(QLabel(label), 0, column)
            options.addWidget(widget, 1, column)
        for combo in (self.finish, self.condition, self.language):
            combo.currentTextChanged.connect(self._emit_options)
        self.quantity.valueChanged.connect(self._emit_options)

        self.add_button = QPushButton("Add  (Space)")
        self.add_button.setObjectName("addButton")
        self.add_button.clicked.connect(self.add_requested)
        self.undo_button = QPushButton("Undo  (Ctrl+Z)")
        self.undo_button.setObjectName("undoButton")
        self.undo_button.clicked.connect(self.undo_requested)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.undo_button)

        self.search = QLineEdit()
        self.search.setObjectName("cardSearch")
        self.search.setPlaceholderText("Search the catalogue by name or number…")
        self.search.setClearButtonEnabled(True)
        self.search_results = QListWidget()
        self.search_results.setObjectName("searchResults")
        self.search_results.setMaximumHeight(140)
        self.search_results.itemActivated.connect(self._pick_search_result)
        self.search_results.itemClicked.connect(self._pick_search_result)

        self.recent = QListWidget()
        self.recent.setObjectName("recentScans")
        self.recent.setViewMode(QListWidget.ViewMode.IconMode)
        self.recent.setFlow(QListWidget.Flow.LeftToRight)
        self.recent.setWrapping(False)
        self.recent.setIconSize(QSize(40, 56))
        self.recent.setFixedHeight(96)

        separator = QFrame()
        separator.setFrameShape(QFrame.Shape.HLine)
        layout = QVBoxLayout(self)
        layout.addWidget(self.status)
        layout.addLayout(images)
        layout.addWidget(self.name)
        layout.addWidget(self.details)
        layout.addWidget(QLabel("Not right? Pick the card:"))
        layout.addLayout(alternatives)
        layout.addLayout(options)
        layout.addLayout(buttons)
        layout.addWidget(self.search)
        layout.addWidget(self.search_results)
        layout.addWidget(separator)
        layout.addWidget(QLabel("Recent scans"))
        layout.addWidget(self.recent)
        layout.addStretch(1)
        # Load Qt's JPEG plugin now, not in the middle of showing the first identified card (~25 ms).
        first = next(iter(bundle.metadata), None)
        if first is not None:
            pixmap_from_file(bundle.thumb_path(first), 8, 8)

    def set_compact(self, compact: bool) -> None:
        """Smaller images and fewer words for the 7" 800×480 Pi display."""
        width, height = (96, 134) if compact else (150, 210)
        for label in (self.reference, self.crop):
            label.setFixedSize(width, height)
        self.recent.setFixedHeight(72 if compact else 96)
        for button in self.alternative_buttons:
            button.setFixedSize(*((80, 106) if compact else (96, 118)))
            button.setIconSize(QSize(40, 56) if compact else QSize(54, 76))
        self._thumb = (width, height)
        if self.entry is not None:
            self.show_entry(self.entry)

    # ------------------------------------------------------------------ showing
    def show_entry(self, entry: ScanEntry) -> None:
        self.entry = entry
        event = entry.event
        self.status.setText(STATUS_TEXT.get(event.event, event.event))
        self.status.setProperty("state", event.event)
        self.status.style().unpolish(self.status)
        self.status.style().polish(self.status)
        if event.crop is not None:
            self.crop.setPixmap(pixmap_from_bgr(event.crop, *self._thumb))
        if entry.card_id is None and event.event == "uncertain" and event.card_id:
            self._show_card(event.card_id, None, best_guess=True)
        else:
            self._show_card(entry.card_id, event.confidence if entry.card_id == event.card_id else None)
        for i, button in enumerate(self.alternative_buttons):
            if i < len(entry.alternatives):
                alt = entry.alternatives[i]
                name = str(alt.get("name") or alt["card_id"])
                button.setText(f"{i + 1} {name[:11]}\n{alt.get('set_id')} {alt.get('number')}")
                button.setToolTip(f"{name} — {alt.get('set_id')} {alt.get('number')}  (key {i + 1})")
                button.setIcon(QIcon(pixmap_from_file(self.bundle.thumb_path(alt["card_id"]), 54, 76)))
                button.setProperty("cardId", alt["card_id"])
                button.setEnabled(True)
            else:
                button.setEnabled(False)
                button.setText(f"{i + 1}\n")
                button.setIcon(QIcon())
        self.add_button.setEnabled(entry.card_id is not None and not entry.added)
        self.add_button.setText("Added ✓" if entry.added else "Add  (Space)")
        if event.event == "unknown":
            self.search.setFocus()
        self.refresh_recent_item(entry)

    def _show_card(self, card_id: str | None, confidence: float | None, best_guess: bool = False) -> None:
        if card_id is None:
            self.reference.clear()
            self.reference.setText("?")
            self.name.setText("Not in the catalogue" if self.entry and self.entry.event.event == "unknown" else "—")
            self.details.setText("")
            return
        meta: dict[str, Any] = self.bundle.metadata.get(card_id, {})
        self.reference.setPixmap(pixmap_from_file(self.bundle.thumb_path(card_id), *self._thumb))
        self.name.setText(str(meta.get("name", card_id)))
        number = (
            f"{meta.get('number', '?')}/{meta.get('printed_total')}"
            if meta.get("printed_total")
            else meta.get("number")
        )
        lines = [
            f"{meta.get('set_name', meta.get('set_id', ''))}  ·  No. {number}",
            str(meta.get("rarity") or ""),
            "Best guess — press 1–5 or click the right card"
            if best_guess
            else (f"Confidence {confidence:.0%}" if confidence is not None else "Chosen by you"),
        ]
        if self.entry is not None and self.entry.event.ocr:
            lines.append(f"Number read: {self.entry.event.ocr}")
        self.details.setText("\n".join(line for line in lines if line))

    def refresh_recent_item(self, entry: ScanEntry) -> None:
        label = self.bundle.metadata.get(entry.card_id or "", {}).get("name") or entry.event.event.replace("_", " ")
        text = f"{'✓ ' if entry.added else ''}{label}"
        for row in range(self.recent.count()):
            item = self.recent.item(row)
            if item.data(Qt.ItemDataRole.UserRole) == entry.scan_id:
                item.setText(text)
                item.setIcon(QIcon(pixmap_from_file(self.bundle.thumb_path(entry.card_id or ""), 40, 56)))
                return
        item = QListWidgetItem(QIcon(pixmap_from_file(self.bundle.thumb_path(entry.card_id or ""), 40, 56)), text)
        item.setData(Qt.ItemDataRole.UserRole, entry.scan_id)
        self.recent.insertItem(0, item)
        while self.recent.count() > 20:
            self.recent.takeItem(self.recent.count() - 1)

    # ------------------------------------------------------------------ user intents
    def choose_alternative(self, index: int) -> None:
        if self.entry is None or index >= len(self.entry.alternatives):
            return
        self.correction_requested.emit(self.entry.alternatives[index]["card_id"])

    def show_search_results(self, results: list[dict[str, Any]]) -> None:
        self.search_results.clear()
        for meta in results:
            item = QListWidgetItem(
                f"{meta.get('name')} — {meta.get('set_name', meta.get('set_id'))} {meta.get('number')}"
            )
            item.setData(Qt.ItemDataRole.UserRole, meta["card_id"])
            self.search_results.addItem(item)

    def _pick_search_result(self, item: QListWidgetItem) -> None:
        self.correction_requested.emit(str(item.data(Qt.ItemDataRole.UserRole)))

    def add_options(self) -> AddOptions:
        return AddOptions(
            self.finish.currentText(), self.condition.currentText(), self.language.currentText(), self.quantity.value()
        )

    def _emit_options(self, *_: object) -> None:
        self.options_changed.emit(self.add_options())
