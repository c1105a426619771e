"""A scanning session: scan events → the collection, and the user's intents (add, correct, undo).

This is what the GUI and the kiosk drive (and what tests drive without Qt). Every decision event is
logged as a scan the moment it arrives — so no scan is lost even if nobody confirms it — and, in
auto-add mode, identified cards are added in the same transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import cv2

from app.catalog.database import catalog_metadata
from app.collection.store import Collection, CollectionError, InventoryKey, ScanRecord
from app.match.bundle import BACK_PREFIX, ReferenceBundle
from app.pipeline import ScanEvent

logger = logging.getLogger(__name__)


@dataclass
class AddOptions:
    """Set before adding; sticky for the session."""

    finish: str = "normal"
    condition: str = "NM"
    language: str = "English"
    quantity: int = 1

    def key(self, card_id: str) -> InventoryKey:
        key = InventoryKey(card_id, self.finish, self.condition, self.language)
        key.validate()
        return key


@dataclass
class ScanEntry:
    """One presentation as the user sees it."""

    scan_id: int
    event: ScanEvent
    card_id: str | None
    added: bool = False
    alternatives: list[dict[str, Any]] = field(default_factory=list)


class ScanSession:
    def __init__(
        self,
        collection: Collection,
        bundle: ReferenceBundle,
        auto_add: bool = False,
        source: str = "",
        label: str | None = None,
    ) -> None:
        self.collection = collection
        self.bundle = bundle
        self.auto_add = auto_add
        self.source = source
        self.options = AddOptions()
        self.session_id = collection.start_session(label) if label else None
        self.recent: list[ScanEntry] = []
        self.added_count = 0
        # Catalogue metadata in the collection up front: recording a scan is then one small insert
        # (the GUI records on its own thread, where every millisecond shows).
        known = collection.card_ids()
        missing = [m for c, m in bundle.metadata.items() if c not in known and not c.startswith(BACK_PREFIX)]
        if missing:
            collection.upsert_cards(missing)

    # ------------------------------------------------------------------ events
    def record(self, event: ScanEvent) -> ScanEntry | None:
        """Log a decision event as a scan (auto-adding it when configured). Other events: None."""
        if event.event not in ("identified", "uncertain", "unknown", "card_back"):
            return None
        self._ensure_cards([event.card_id, *(a["card_id"] for a in event.alternatives)])
        crop_jpeg = None
        if event.crop is not None:
            ok, buffer = cv2.imencode(".jpg", event.crop, [cv2.IMWRITE_JPEG_QUALITY, 80])
            crop_jpeg = buffer.tobytes() if ok else None
        record = ScanRecord(
            status=event.event,
            card_id=event.card_id if event.event == "identified" else None,
            confidence=event.confidence,
            alternatives=event.alternatives,
            ocr_text=event.ocr,
            source=self.source,
            session_id=self.session_id,
            crop_jpeg=crop_jpeg,
        )
        auto = (
            self.options.key(event.card_id) if self.auto_add and event.event == "identified" and event.card_id else None
        )
        scan_id = self.collection.record_scan(record, auto_add=auto)
        entry = ScanEntry(scan_id, event, record.card_id, added=auto is not None, alternatives=event.alternatives)
        if entry.added:
            self.added_count += 1
        self._drop_superseded(event)
        self.recent.insert(0, entry)
        del self.recent[50:]
        return entry

    def _drop_superseded(self, event: ScanEvent) -> None:
        """An ``identified`` event for a presentation that was ``uncertain``/``unknown`` (it stayed and
        its later frames named it): the user sees the presentation once, named. The earlier scan stays
        in the collection's log; an entry the user already acted on stays in the list too. Other cards
        may have been decided in between, so the presentation's own latest entry is looked for."""
        if event.event != "identified":
            return
        earlier = next((e for e in self.recent if e.event.track == event.track and e.event.t <= event.t), None)
        if (
            earlier is not None
            and earlier.event.event in ("uncertain", "unknown")
            and not earlier.added
            and earlier.card_id is None
        ):
            self.recent.remove(earlier)

    # ------------------------------------------------------------------ intents
    def add(self, entry: ScanEntry) -> None:
        """Confirm mode: add the entry's card with the current options."""
        if entry.added:
            raise CollectionError("this card is already added (undo first to add it again)")
        if entry.card_id is None:
            raise CollectionError("no card chosen yet: pick one of the suggestions or search for it")
        self.collection.accept_scan(entry.scan_id, self.options.key(entry.card_id), self.options.quantity)
        entry.added = True
        self.added_count += self.options.quantity

    def correct(self, entry: ScanEntry, card_id: str) -> None:
        """The scan was ``card_id``: fix it (the inventory follows when it was already added)."""
        self._ensure_cards([card_id])
        self.collection.correct_scan(entry.scan_id, card_id)
        entry.card_id = card_id

    def undo(self) -> list[dict[str, Any]]:
        """Undo the last collection action; the session's entries follow."""
        undone = self.collection.undo(1)
        for action in undone:
            entry = next((e for e in self.recent if e.scan_id == action.get("scan_id")), None)
            if entry is None:
                continue
            row = self.collection.scan_row(entry.scan_id)
            was_added = entry.added
            entry.card_id = row["card_id"]
            entry.added = row["action"] in ("accepted", "corrected")
            if was_added and not entry.added:
                self.added_count = max(0, self.added_count - 1)
        return undone

    def search(self, text: str, limit: int = 20) -> list[dict[str, Any]]:
        """Any card of the catalogue (every known set, not only the bundle's) by name, number (``25``,
        ``025/165``, ``TG05``), set code or id — to pick a card by hand. The bundle's sets come first
        among equally good matches."""
        from app.catalog.lookup import search_cards

        return search_cards(text, self.bundle.metadata, limit)

    def _ensure_cards(self, card_ids: list[str | None]) -> None:
        """The cards' metadata in the collection, from the bundle or else the whole catalogue (a card
        picked by hand may be from a set whose reference pictures are not installed)."""
        missing = []
        for card_id in dict.fromkeys(card_ids):
            if not card_id or card_id.startswith(BACK_PREFIX) or self.collection.has_card(card_id):
                continue
            metadata = self.bundle.metadata.get(card_id) or catalog_metadata(card_id)
            if metadata is not None:
                missing.append(metadata)
        if missing:
            self.collection.upsert_cards(missing)
