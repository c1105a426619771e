"""What a collection holds and the rules every backend applies alike: the inventory key, a scan's
record, the bounds on quantities, prices and undo, and the one user-facing error type."""

from __future__ import annotations

import json
import math
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FINISHES = ("normal", "holo", "reverse holo", "1st edition", "1st edition holo", "shadowless", "stamped")
CONDITIONS = ("NM", "LP", "MP", "HP", "DMG")
#: The most cards one inventory row (card, finish, condition, language, location) may hold; far above
#: any real collection, and far below where SQLite integers overflow into floats.
MAX_QUANTITY = 1_000_000
#: The most actions one undo may take back (each is listed before it is undone).
MAX_UNDO = 100
#: The largest crop a scan keeps (a small JPEG of the card).
MAX_CROP_BYTES = 200_000


class CollectionError(ValueError):
    """A clear, user-facing problem with the collection or a request to it."""


@dataclass(frozen=True)
class InventoryKey:
    card_id: str
    finish: str = "normal"
    condition: str = "NM"
    language: str = "English"
    location: str = ""

    def validate(self) -> None:
        if self.finish not in FINISHES:
            raise CollectionError(f"unknown finish {self.finish!r} (one of: {', '.join(FINISHES)})")
        if self.condition not in CONDITIONS:
            raise CollectionError(f"unknown condition {self.condition!r} (one of: {', '.join(CONDITIONS)})")


@dataclass
class ScanRecord:
    """What the scanner saw and proposed; ``card_id`` is its choice (None when unknown)."""

    status: str
    card_id: str | None
    confidence: float = 0.0
    margin: float = 0.0
    alternatives: list[dict[str, Any]] = field(default_factory=list)
    ocr_text: str | None = None
    source: str = ""
    session_id: int | None = None
    crop_jpeg: bytes | None = None


def now() -> str:
    """The collection's timestamp: UTC with milliseconds (text, so it sorts and compares as written)."""
    # One reading of the clock: a second read for the milliseconds could fall in the next second.
    millis = int(time.time() * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(millis // 1000)) + f".{millis % 1000:03d}Z"


def not_text(error: UnicodeEncodeError) -> CollectionError:
    """The refusal of a value that is not text (a file name's undecodable bytes passed on as a note)."""
    around = error.object[max(0, error.start - 20) : error.end + 20]
    return CollectionError(f"change refused, nothing was written: {around!r} is not valid text")


def save_crop(folder: Path, jpeg: bytes) -> str:
    """Keep a scan's crop as a file of its own in ``folder``; returns the name its scan row holds."""
    if len(jpeg) > MAX_CROP_BYTES:
        raise CollectionError("crop image too large (over 200 KB); store a small JPEG")
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{uuid.uuid4().hex}.jpg"
    (folder / name).write_bytes(jpeg)
    return name


def check_quantity(quantity: int, smallest: int = 1) -> None:
    """Refuse a quantity outside ``smallest``..:data:`MAX_QUANTITY` (before it reaches SQLite, which
    would overflow on huge numbers)."""
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise CollectionError(f"quantity must be a whole number, not {quantity!r}")
    if quantity < smallest:
        raise CollectionError(
            "quantity cannot be negative" if smallest == 0 else f"quantity must be at least {smallest}"
        )
    if quantity > MAX_QUANTITY:
        raise CollectionError(f"quantity {quantity} is over the limit of {MAX_QUANTITY:,} cards per inventory row")


def check_price(price: float | None) -> None:
    if price is not None and (not math.isfinite(price) or price < 0):
        raise CollectionError(f"price paid must be a number of 0 or more, not {price!r}")


def check_undo_count(count: int) -> None:
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_UNDO:
        raise CollectionError(f"undo takes back 1 to {MAX_UNDO} actions at a time, not {count}")


def describe_action(action: dict[str, Any]) -> str:
    """One line naming an action for the user: what, when, and which card(s)."""
    payload = json.loads(action.get("payload") or "{}")
    key = payload.get("key") or {}
    detail = ""
    if action["kind"] == "import":
        detail = f" of {payload.get('rows', '?')} row(s)"
    elif key.get("card_id"):
        detail = f" {payload.get('quantity', 1)} × {key['card_id']}"
    elif payload.get("inventory_id"):
        detail = f" of inventory row {payload['inventory_id']}"
    scan = f" (scan {action['scan_id']})" if action.get("scan_id") else ""
    return f"{action['kind']} #{action['id']}{detail}{scan} at {action['time']}"


def key_rest(key: InventoryKey | None) -> tuple[str, str, str, str]:
    """A key's finish, condition, language and location (the defaults when None)."""
    k = key or InventoryKey("")
    return k.finish, k.condition, k.language, k.location
