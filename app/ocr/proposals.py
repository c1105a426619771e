"""The catalogue cards a collector number read names, for a picture that matches no installed card.

Only a number that says which set it belongs to proposes anything: a printed total (``4/102``), a
subset or promo prefix (``TG05/TG30``, ``SWSH061``) or a set code read beside it (``MEW``). A bare
``4`` names a card in almost every set. Cards of installed sets are never proposed: the picture would
have found them.
"""

from __future__ import annotations

import logging
from collections.abc import Collection

from app.catalog.database import CatalogDatabase, CatalogDatabaseError
from app.match.decision import Decision, Metadata, NumberRead
from app.ocr.number import CollectorNumber
from app.ocr.reader import StripReading
from app.ocr.rerank import number_text, rerank_by_number

logger = logging.getLogger(__name__)

#: More cards than this carrying one number and total: the read names no card in particular.
MAX_PROPOSALS = 5


def names_a_set(number: CollectorNumber, set_code: str | None) -> bool:
    """The number (or the set code beside it) narrows it to a few sets."""
    return bool(number.printed_total or set_code or not number.number.isdigit())


def proposals_for_number(
    number: CollectorNumber | None,
    set_code: str | None,
    installed: Collection[str],
    catalog: CatalogDatabase,
) -> tuple[str, ...]:
    """Card ids of sets not ``installed`` that carry ``number`` (with its printed total, and in the
    sets of ``set_code`` when one was read and names any), newest set first; () when the read names
    none, or more than :data:`MAX_PROPOSALS`."""
    if number is None or not names_a_set(number, set_code):
        return ()
    text = f"{number.number}/{number.printed_total}" if number.printed_total else number.number
    try:
        sets = catalog.sets_for_code(set_code) if set_code else []
        cards = [c for s in sets for c in catalog.by_number(text, s)] if sets else catalog.by_number(text)
    except CatalogDatabaseError as error:
        logger.warning("No proposal from the number read: %s", error)
        return ()
    ids = [c.card_id for c in cards if c.set_id not in installed]
    if len(ids) > MAX_PROPOSALS:
        logger.info("Number %s names %d cards: none proposed", text, len(ids))
        return ()
    return tuple(dict.fromkeys(ids))


def number_read(
    decision: Decision,
    reading: StripReading,
    metadata: Metadata,
    installed: Collection[str],
    catalog: CatalogDatabase | None,
) -> NumberRead:
    """What ``reading`` says for ``decision`` (a photo's card or a live presentation's): its verdict on
    the close candidates, the text read, and — for a picture that matches nothing — the catalogue cards
    of sets not ``installed`` that it names (none without a ``catalog``)."""
    reranked = rerank_by_number(decision.alternatives, reading, metadata)
    proposals: tuple[str, ...] = ()
    if catalog is not None and decision.status == "unknown":
        proposals = proposals_for_number(reading.number, reading.set_code, installed, catalog)
    return NumberRead(reranked.verdict, reranked.card_id, number_text(reading), proposals)
