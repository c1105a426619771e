"""Read a catalogue in pokemontcg.io's layout: ``sets.json``, ``cards/<set>.json``, ``images/<set>/<card_id>.*``."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


class CatalogError(ValueError):
    """The catalogue folder is missing files or holds malformed JSON."""


@dataclass(frozen=True)
class CatalogCard:
    card_id: str
    name: str
    set_id: str
    set_name: str
    number: str
    printed_total: int | None
    rarity: str | None
    supertype: str | None
    subtypes: tuple[str, ...] = ()
    series: str | None = None
    ptcgo_code: str | None = None
    image_path: Path | None = None

    def metadata(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("image_path")
        data["subtypes"] = list(self.subtypes)
        return data


@dataclass
class Catalog:
    root: Path
    sets: dict[str, dict[str, Any]]
    cards: list[CatalogCard]
    #: Cards without a readable image file, by card id (reported, never silently dropped).
    missing_images: list[str] = field(default_factory=list)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise CatalogError(f"missing {path}") from error
    except json.JSONDecodeError as error:
        raise CatalogError(f"{path} is not valid JSON: {error}") from error


def find_image(root: Path, set_id: str, card_id: str) -> Path | None:
    folder = root / "images" / set_id
    for suffix in IMAGE_SUFFIXES:
        candidate = folder / f"{card_id}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def read_catalog(root: str | Path, set_ids: list[str] | None = None) -> Catalog:
    """All cards of the chosen sets (default: every set in ``sets.json`` that has a cards file)."""
    root = Path(root)
    if not root.is_dir():
        raise CatalogError(f"catalogue folder not found: {root}")
    sets_list = _read_json(root / "sets.json")
    if not isinstance(sets_list, list):
        raise CatalogError(f"{root / 'sets.json'} should hold a list of sets")
    sets = {s["id"]: s for s in sets_list if isinstance(s, dict) and "id" in s}
    wanted = set_ids or [sid for sid in sets if (root / "cards" / f"{sid}.json").is_file()]
    unknown = [sid for sid in wanted if sid not in sets]
    if unknown:
        raise CatalogError(
            f"set(s) {', '.join(unknown)} not in {root / 'sets.json'} (known: {', '.join(sorted(sets))})"
        )
    cards: list[CatalogCard] = []
    missing: list[str] = []
    for set_id in wanted:
        info = sets[set_id]
        entries = _read_json(root / "cards" / f"{set_id}.json")
        if not isinstance(entries, list):
            raise CatalogError(f"{root / 'cards' / f'{set_id}.json'} should hold a list of cards")
        for entry in entries:
            try:
                card_id = str(entry["id"])
                card = CatalogCard(
                    card_id=card_id,
                    name=str(entry["name"]),
                    set_id=set_id,
                    set_name=str(info.get("name", set_id)),
                    number=str(entry.get("number", "")),
                    printed_total=info.get("printedTotal"),
                    rarity=entry.get("rarity"),
                    supertype=entry.get("supertype"),
                    subtypes=tuple(entry.get("subtypes") or ()),
                    series=info.get("series"),
                    ptcgo_code=info.get("ptcgoCode"),
                    image_path=find_image(root, set_id, card_id),
                )
            except (KeyError, TypeError) as error:
                raise CatalogError(f"malformed card in {set_id}.json: {entry!r:.120} ({error})") from error
            if card.image_path is None:
                missing.append(card_id)
            cards.append(card)
    cards.sort(key=card_sort_key)
    logger.info("Catalogue %s: %d cards in %d set(s), %d without image", root, len(cards), len(wanted), len(missing))
    return Catalog(root=root, sets={k: sets[k] for k in wanted}, cards=cards, missing_images=missing)


def card_sort_key(card: CatalogCard) -> tuple[str, int, str]:
    """Set, then collector number numerically (``TG05`` and ``SWSH123`` sort after plain numbers)."""
    digits = "".join(ch for ch in card.number if ch.isdigit())
    numeric = int(digits) if digits and card.number.isdigit() else 10**6 + (int(digits) if digits else 0)
    return card.set_id, numeric, card.card_id
