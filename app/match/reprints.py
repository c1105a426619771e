"""Same-art printings: the other cards that carry a card's artwork (reprints), from the catalogue.

Two cards that share their art look alike to the embedding whatever their frame, so the choice
between them is the collector number's (or the set symbol's), never the picture's. The decision
asks :func:`same_art_printings` for the printings that must not be told apart by the picture alone.

Two bases, the first one stronger:

- ``recorded``: sets known to reprint older sets' art (:data:`REPRINT_SOURCES`) — Base Set 2,
  Legendary Collection, Evolutions, Celebrations' Classic Collection — with the same name and artist
  (the Classic Collection also keeps the original collector number);
- ``name and artist``: any other card of the same name drawn by the same artist, in another set.
  This over-reaches (an artist may draw a Pokémon twice), which only costs a number read.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass

from app.catalog.database import CardInfo, CatalogDatabase, default_catalog

logger = logging.getLogger(__name__)

RECORDED = "recorded"
NAME_AND_ARTIST = "name and artist"
#: A reprint set → the sets whose art it reprints; "*" is every older set.
REPRINT_SOURCES: dict[str, tuple[str, ...]] = {
    "base4": ("base1", "base2"),
    "base6": ("base1", "base2", "base3", "base5"),
    "xy12": ("base1",),
    "cel25c": ("*",),
}
#: Sets whose printings keep the original's collector number (the recorded pairing checks it).
SAME_NUMBER_SETS = frozenset({"cel25c"})


@dataclass(frozen=True)
class Printing:
    card_id: str
    set_id: str
    set_name: str
    name: str
    number: str
    basis: str


def _recorded(a: CardInfo, b: CardInfo) -> bool:
    """Is (a, b) a recorded reprint pair, in either direction?"""
    for reprint, original in ((a, b), (b, a)):
        sources = REPRINT_SOURCES.get(reprint.set_id, ())
        if original.set_id not in sources and "*" not in sources:
            continue
        if "*" in sources and (original.release_date or "") >= (reprint.release_date or ""):
            continue
        if reprint.set_id in SAME_NUMBER_SETS and reprint.number != original.number:
            continue
        return True
    return False


def same_art_printings(card_id: str, catalog: CatalogDatabase | None = None) -> list[Printing]:
    """The other printings of ``card_id``'s art: recorded reprints first, then same name and artist;
    oldest set first within each. Empty for a card the catalogue does not know or whose artist is unknown."""
    db = catalog or default_catalog()
    card = db.card(card_id)
    if card is None or not card.artist:
        return []
    others = db.same_name_and_artist(card_id)
    direct = [o for o in others if _recorded(card, o)]
    # Reprints of one original share its art: a reprint's recorded partners are the card's too.
    recorded = {o.card_id for o in direct} | {o.card_id for o in others for r in direct if _recorded(r, o)}
    printings = [
        Printing(
            other.card_id,
            other.set_id,
            other.set_name,
            other.name,
            other.number,
            RECORDED if other.card_id in recorded else NAME_AND_ARTIST,
        )
        for other in others
    ]
    return sorted(printings, key=lambda p: p.basis != RECORDED)


def partner_coverage(set_id: str, partner_set: str, catalog: CatalogDatabase | None = None) -> tuple[int, int]:
    """(cards of ``set_id`` with a same-art printing in ``partner_set``, cards of ``set_id``)."""
    db = catalog or default_catalog()
    cards = db.cards_in_set(set_id)
    paired = sum(1 for c in cards if any(p.set_id == partner_set for p in same_art_printings(c.card_id, db)))
    return paired, len(cards)


def printings_outside(
    card_id: str, installed: Collection[str], catalog: CatalogDatabase | None = None, recorded_only: bool = False
) -> list[Printing]:
    """Same-art printings in sets whose vectors are not installed: the picture alone matched
    ``card_id`` but may be showing one of these (the embedding never saw them)."""
    return [
        p
        for p in same_art_printings(card_id, catalog)
        if p.set_id not in installed and (p.basis == RECORDED or not recorded_only)
    ]


def printing_for_number(card_id: str, number: str, catalog: CatalogDatabase | None = None) -> str | None:
    """Which of ``card_id`` and its same-art printings carries this collector number (``4/102``,
    ``11/108``, ``TG05``): the one card id, or None when none or several do."""
    db = catalog or default_catalog()
    candidates = {card_id, *(p.card_id for p in same_art_printings(card_id, db))}
    matching = [c.card_id for c in db.by_number(number) if c.card_id in candidates]
    return matching[0] if len(matching) == 1 else None
