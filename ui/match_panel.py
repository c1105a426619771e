"""The match panel: who the card is and what it is worth in the chosen finish, add / undo / remove,
the top-5 to correct with one click (or keys 1–5), the sticky add options, a "not in catalogue" search,
and the list of recent scans (select one to reopen it here)."""

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
    QSizePolicy,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.collection.store import CONDITIONS, FINISHES
from app.match.bundle import ReferenceBundle
from app.prices.table import Price
from app.session import AddOptions, ScanEntry
from ui.images import pixmap_from_bgr, pixmap_from_file
from ui.price_service import PriceService, price_line
from ui.recent_scans import RecentScansModel, RecentScansView

logger = logging.getLogger(__name__)

LANGUAGES = ("English", "Japanese", "German", "French", "Italian", "Spanish", "Portuguese", "Korean", "Chinese")
#: The most copies one add puts in (a collection row holds up to the store's MAX_QUANTITY).
MAX_ADD_QUANTITY = 999


def add_choice_widgets() -> tuple[QComboBox, QComboBox, QComboBox, QSpinBox]:
    """Finish, condition, language and quantity, as a card is added with them (the match panel and
    the Catalogue page's add by hand)."""
    finish, condition, language = QComboBox(), QComboBox(), QComboBox()
    finish.addItems(FINISHES)
    condition.addItems(CONDITIONS)
    language.addItems(LANGUAGES)
    quantity = QSpinBox()
    quantity.setRange(1, MAX_ADD_QUANTITY)
    return finish, condition, language, quantity


STATUS_TEXT = {
    "identified": "Identified",
    "uncertain": "Which one is it? Press 1–5",
    "unknown": "Not in the catalogue — search for it below",
    "card_back": "Card back — turn the card over",
}
#: The status once the user picked the card (the decision's own words no longer apply).
CHOSEN_TEXT = "Chosen by you"
#: The price line while the worker looks the price up.
PRICE_PENDING = "Market price: looking it up…"
ALT_ICON = (30, 42)


def alternative_text(index: int, alt: dict[str, Any], metadata: dict[str, dict[str, Any]]) -> str:
    """``1  Pikachu — 151 25/165``: the key, the name and the printing, in full."""
    meta = metadata.get(str(alt["card_id"]), {})
    name = str(alt.get("name") or meta.get("name") or alt["card_id"])
    set_name = meta.get("set_name") or alt.get("set_id") or ""
    number = str(alt.get("number") or meta.get("number") or "")
    if meta.get("printed_total"):
        number = f"{number}/{meta['printed_total']}"
    return f"{index + 1}  {name} — {set_name} {number}".rstrip()


class MatchPanel(QWidget):
    #: The user picked alternative ``card_id`` for the shown scan.
    correction_requested = Signal(str)
    add_requested = Signal()
    undo_requested = Signal()
    remove_requested = Signal()
    #: The shown (added) card's row in the collection should hold this many.
    held_quantity_requested = Signal(int)
    #: A recent scan was selected: reopen it.
    entry_selected = Signal(object)  # ScanEntry
    options_changed = Signal(object)  # AddOptions

    def __init__(
        self, bundle: ReferenceBundle, parent: QWidget | None = None, prices: PriceService | None = None
    ) -> None:
        """``prices``: where the shown card's market price comes from (None: no price line)."""
        super().__init__(parent)
        self.setObjectName("matchPanel")
        self.bundle = bundle
        self.prices = prices
        #: (card, finish) whose price the price line shows or waits for.
        self._priced: tuple[str, str] | None = None
        self.entry: ScanEntry | None = None
        self._thumb = (150, 210)
        self._compact = False

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
        self.price = QLabel("")
        self.price.setObjectName("cardPrice")
        self.price.setWordWrap(True)
        self.price.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.price.setVisible(prices is not None)
        if prices is not None:
            prices.answered.connect(self._on_price)
            prices.failed.connect(self._on_price_failed)

        images = QHBoxLayout()
        images.addWidget(self.reference)
        images.addWidget(self.crop)
        images.addStretch(1)

        self.alternative_buttons: list[QToolButton] = []
        alternatives = QVBoxLayout()
        alternatives.setSpacing(2)
        for i in range(5):
            # One row each, the whole name and printing beside a small picture: nothing is cut.
            button = QToolButton()
            button.setObjectName(f"alternative{i + 1}")
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            button.setIconSize(QSize(*ALT_ICON))
            button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            button.setFixedHeight(48)
            button.clicked.connect(lambda _=False, i=i: self.choose_alternative(i))
            # Always in the layout (disabled when empty): showing the first card must not re-lay out
            # the window, which cost a visible stall.
            button.setEnabled(False)
            button.setText(f"{i + 1}")
            self.alternative_buttons.append(button)
            alternatives.addWidget(button)

        self.finish, self.condition, self.language, self.quantity = add_choice_widgets()
        self.options = QGridLayout()
        self._option_cells = [
            (QLabel(label), widget)
            for label, widget in (
                ("Finish", self.finish),
                ("Condition", self.condition),
                ("Language", self.language),
                ("Qty", self.quantity),
            )
        ]
        self._place_options(per_row=4)
        for combo in (self.finish, self.condition, self.language):
            combo.currentTextChanged.connect(self._emit_options)
        self.finish.currentTextChanged.connect(lambda _: self._ask_price())
        self.quantity.valueChanged.connect(self._emit_options)

        self.add_button = QPushButton("Add  (Space)")
        self.add_button.setObjectName("addButton")
        self.add_button.clicked.connect(self.add_requested)
        self.undo_button = QPushButton("Undo  (Ctrl+Z)")
        self.undo_button.setObjectName("undoButton")
        self.undo_button.clicked.connect(self.undo_requested)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setObjectName("removeButton")
        self.remove_button.setToolTip("Take this scan out of the list (and out of the collection if it was added)")
        self.remove_button.clicked.connect(self.remove_requested)
        # Nothing to add, remove or undo before the first scan.
        self.add_button.setEnabled(False)
        self.remove_button.setEnabled(False)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button, 2)
        buttons.addWidget(self.undo_button, 1)
        buttons.addWidget(self.remove_button, 1)

        # For a card already added: how many its collection row holds, editable in place.
        self.held = QSpinBox()
        self.held.setObjectName("heldQuantity")
        self.held.setRange(1, 999_999)
        self.held.setKeyboardTracking(False)
        self.held.valueChanged.connect(self.held_quantity_requested)
        self.held_row = QWidget()
        held_layout = QHBoxLayout(self.held_row)
        held_layout.setContentsMargins(0, 0, 0, 0)
        held_layout.addWidget(QLabel("In the collection:"))
        held_layout.addWidget(self.held)
        held_layout.addStretch(1)
        self.held_row.hide()

        self.search = QLineEdit()
        self.search.setObjectName("cardSearch")
        self.search.setPlaceholderText("Search the catalogue by name or number…")
        self.search.setClearButtonEnabled(True)
        self.search_results = QListWidget()
        self.search_results.setObjectName("searchResults")
        self.search_results.setMaximumHeight(140)
        self.search_results.itemActivated.connect(self._pick_search_result)
        self.search_results.itemClicked.connect(self._pick_search_result)

        self.recent_model = RecentScansModel(bundle, self)
        self.recent = RecentScansView(self.recent_model)
        self.recent.entry_selected.connect(self.entry_selected)

        separator = QFrame()
        separator.setFrameShape(QFrame.Shape.HLine)
        layout = QVBoxLayout(self)
        layout.addWidget(self.status)
        layout.addLayout(images)
        layout.addWidget(self.name)
        layout.addWidget(self.details)
        layout.addWidget(self.price)
        # The actions come before the corrections: at 1280×800 they must be in view without scrolling.
        layout.addLayout(buttons)
        layout.addWidget(self.held_row)
        layout.addLayout(self.options)
        layout.addWidget(QLabel("Recent scans — click one to reopen it"))
        layout.addWidget(self.recent)
        layout.addWidget(separator)
        layout.addWidget(QLabel("Not right? Pick the card:"))
        layout.addLayout(alternatives)
        layout.addWidget(self.search)
        layout.addWidget(self.search_results)
        layout.addStretch(1)
        # Load Qt's JPEG plugin now, not in the middle of showing the first identified card (~25 ms).
        first = next(iter(bundle.metadata), None)
        if first is not None:
            pixmap_from_file(bundle.thumb_path(first), 8, 8)

    def _place_options(self, per_row: int) -> None:
        for i, (label, widget) in enumerate(self._option_cells):
            row, column = 2 * (i // per_row), i % per_row
            self.options.addWidget(label, row, column)
            self.options.addWidget(widget, row + 1, column)

    def set_compact(self, compact: bool) -> None:
        """Smaller images, two options a row and shorter button words for the 7" 800×480 Pi display:
        the panel fits its width without a sideways scroll bar."""
        width, height = (96, 134) if compact else (150, 210)
        for label in (self.reference, self.crop):
            label.setFixedSize(width, height)
        self.recent.set_compact(compact)
        self._place_options(per_row=2 if compact else 4)
        self._compact = compact
        self.undo_button.setText("Undo" if compact else "Undo  (Ctrl+Z)")
        self.undo_button.setToolTip("Undo (Ctrl+Z)")
        self._thumb = (width, height)
        if self.entry is not None:
            self.show_entry(self.entry)

    # ------------------------------------------------------------------ showing
    def show_entry(self, entry: ScanEntry) -> None:
        self.entry = entry
        event = entry.event
        chosen = entry.card_id is not None and entry.card_id != event.card_id
        state = "identified" if chosen else event.event
        self.status.setText(CHOSEN_TEXT if chosen else STATUS_TEXT.get(event.event, event.event))
        self.status.setProperty("state", state)
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
                text = alternative_text(i, alt, self.bundle.metadata)
                button.setText(text)
                button.setToolTip(f"{text[3:]}  (key {i + 1})")
                button.setIcon(QIcon(pixmap_from_file(self.bundle.thumb_path(alt["card_id"]), *ALT_ICON)))
                button.setProperty("cardId", alt["card_id"])
                button.setProperty("chosen", alt["card_id"] == entry.card_id)
                button.setEnabled(True)
            else:
                button.setEnabled(False)
                button.setText(f"{i + 1}")
                button.setToolTip("")
                button.setIcon(QIcon())
        self.add_button.setEnabled(entry.card_id is not None and not entry.added)
        self.add_button.setText("Added ✓" if entry.added else self._add_text())
        self.remove_button.setEnabled(True)
        if event.event == "unknown" and not chosen:
            self.search.setFocus()
        self.refresh_recent_item(entry)

    def show_held(self, quantity: int | None) -> None:
        """The shown card's count in its collection row (None: not added, or no single row)."""
        self.held_row.setVisible(quantity is not None)
        if quantity is not None:
            self.held.blockSignals(True)  # showing is not asking for a change
            self.held.setValue(quantity)
            self.held.blockSignals(False)

    def _add_text(self) -> str:
        return "Add" if self._compact else "Add  (Space)"

    def clear_entry(self) -> None:
        """The shown scan was removed: back to the empty panel."""
        self.entry = None
        self.status.setText("Hold a card flat and still in front of the camera")
        self.status.setProperty("state", "")
        self.status.style().unpolish(self.status)
        self.status.style().polish(self.status)
        self.reference.clear()
        self.crop.clear()
        self.name.setText("—")
        self.details.setText("")
        self._ask_price()
        for i, button in enumerate(self.alternative_buttons):
            button.setEnabled(False)
            button.setText(f"{i + 1}")
            button.setIcon(QIcon())
        self.add_button.setEnabled(False)
        self.add_button.setText(self._add_text())
        self.remove_button.setEnabled(False)
        self.show_held(None)

    def _show_card(self, card_id: str | None, confidence: float | None, best_guess: bool = False) -> None:
        if card_id is None:
            self.reference.clear()
            self.reference.setText("?")
            unknown = self.entry is not None and self.entry.event.event == "unknown"
            self.name.setText("Not in the catalogue" if unknown else "—")
            self.details.setText("")
            self._ask_price()
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
        self._ask_price()

    # ------------------------------------------------------------------ price
    def shown_card(self) -> str | None:
        """The card the panel describes: the chosen one, or the best guess of an uncertain scan."""
        if self.entry is None:
            return None
        event = self.entry.event
        if self.entry.card_id is None and event.event == "uncertain":
            return event.card_id or None
        return self.entry.card_id

    def _ask_price(self) -> None:
        """The price line follows the shown card and the finish chosen; the lookup runs on the price
        service's thread and a late answer for another card or finish is ignored."""
        if self.prices is None:
            return
        card_id = self.shown_card()
        if card_id is None:
            self._priced = None
            self.price.setText("")
            return
        wanted = (card_id, self.finish.currentText())
        if wanted == self._priced:
            return
        self._priced = wanted
        self.price.setText(PRICE_PENDING)
        self.prices.request_price(wanted, *wanted)

    def _on_price(self, token: object, price: object) -> None:
        if self._priced is None or token != self._priced or self.prices is None:
            return
        found = price if isinstance(price, Price) else None
        self.price.setText(price_line(found, self.prices.currency, self._priced[1]))

    def _on_price_failed(self, token: object, message: str) -> None:
        if self._priced is not None and token == self._priced:
            self.price.setText(f"No price: {message}")

    def refresh_recent_item(self, entry: ScanEntry) -> None:
        self.recent_model.upsert(entry)
        self.recent.select_scan(entry.scan_id)

    def remove_recent_item(self, entry: ScanEntry) -> None:
        self.recent_model.remove(entry.scan_id)
        if self.entry is not None and self.entry.scan_id == entry.scan_id:
            self.clear_entry()

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
