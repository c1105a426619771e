"""The decision's :class:`~app.match.decision.Rules` with the whole catalogue behind the bundle.

The bundle holds the pictures of the installed sets; the catalogue database knows every English
card. The decision needs two things from it: the same-art printings of a bundle card in sets that are
not installed (``app.match.reprints``: the picture cannot tell them apart, the number can), and the
metadata of every card it may name beyond the bundle — those printings, and the cards a number read
proposes — so that their numbers can be checked and events, ``identify`` and the collection can name
them. Without a readable catalogue the rules are the bundle's alone (logged once).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

from app.catalog.database import CatalogDatabase, CatalogDatabaseError, default_catalog
from app.match.bundle import BACK_PREFIX
from app.match.decision import MatchThresholds, Rules
from app.match.reprints import printings_outside

logger = logging.getLogger(__name__)


class CatalogueMetadata(Mapping[str, Mapping[str, Any]]):
    """The bundle's metadata, and on demand (then kept) any other catalogue card's, in the same shape.
    Iterating and ``len`` cover the bundle only: the catalogue's other cards are looked up, not listed."""

    def __init__(self, bundle: Mapping[str, Mapping[str, Any]], catalog: CatalogDatabase | None) -> None:
        self._bundle = bundle
        self._catalog = catalog
        self._looked_up: dict[str, Mapping[str, Any] | None] = {}

    def __getitem__(self, card_id: str) -> Mapping[str, Any]:
        found = self._bundle.get(card_id)
        if found is not None:
            return found
        if card_id not in self._looked_up:
            self._looked_up[card_id] = self._from_catalogue(card_id)
        looked_up = self._looked_up[card_id]
        if looked_up is None:
            raise KeyError(card_id)
        return looked_up

    def _from_catalogue(self, card_id: str) -> Mapping[str, Any] | None:
        if self._catalog is None or card_id.startswith(BACK_PREFIX):
            return None
        try:
            card = self._catalog.card(card_id)
        except CatalogDatabaseError as error:
            logger.warning("%s", error)
            return None
        return card.metadata() if card is not None else None

    def __iter__(self) -> Iterator[str]:
        return iter(self._bundle)

    def __len__(self) -> int:
        return len(self._bundle)


def usable_catalog(catalog: CatalogDatabase | None) -> CatalogDatabase | None:
    """``catalog``, or the app's default one; None (logged) when none can be read."""
    if catalog is not None:
        return catalog
    try:
        return default_catalog()
    except CatalogDatabaseError as error:
        logger.warning("No catalogue database (%s): reprints are not checked, numbers propose nothing", error)
        return None


def installed_sets(bundle_metadata: Mapping[str, Mapping[str, Any]]) -> frozenset[str]:
    """The sets the bundle holds pictures of."""
    return frozenset(
        str(m["set_id"]) for c, m in bundle_metadata.items() if m.get("set_id") and not c.startswith(BACK_PREFIX)
    )


def printings_by_card(
    bundle_metadata: Mapping[str, Mapping[str, Any]], catalog: CatalogDatabase
) -> dict[str, tuple[str, ...]]:
    """Each bundle card's same-art printings in sets the bundle lacks (only cards that have some),
    computed once: the worker thread then never queries the database for them."""
    installed = installed_sets(bundle_metadata)
    out: dict[str, tuple[str, ...]] = {}
    for card_id in bundle_metadata:
        if card_id.startswith(BACK_PREFIX):
            continue
        try:
            printings = printings_outside(card_id, installed, catalog)
        except CatalogDatabaseError as error:
            logger.warning("Reprints not checked: %s", error)
            return {}
        if printings:
            out[card_id] = tuple(p.card_id for p in printings)
    return out


def catalogue_rules(
    thresholds: MatchThresholds,
    bundle_metadata: Mapping[str, Mapping[str, Any]],
    lookalike_within: float,
    catalog: CatalogDatabase | None = None,
) -> Rules:
    """The rules every judgement of this bundle uses: reprints checked and numbers proposing cards
    when the catalogue (``catalog``, else the default one) can be read."""
    db = usable_catalog(catalog)
    if db is None:
        return Rules(thresholds, bundle_metadata, lookalike_within)
    printings = printings_by_card(bundle_metadata, db)
    metadata = CatalogueMetadata(bundle_metadata, db)
    for card_ids in printings.values():
        for card_id in card_ids:
            metadata.get(card_id)  # looked up now, on this thread
    return Rules(
        thresholds,
        metadata,
        lookalike_within,
        printings_elsewhere=lambda card_id: printings.get(card_id, ()),
        proposes_by_number=True,
    )
