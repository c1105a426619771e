"""Picking a card by hand: the session's search over the whole catalogue, not only the bundle."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from app.catalog import database

logger = logging.getLogger(__name__)

BACK_PREFIX = "back:"


def search_cards(text: str, bundle_metadata: Mapping[str, Mapping[str, Any]], limit: int = 20) -> list[dict[str, Any]]:
    """Cards of the catalogue by name, number (``25``, ``025/165``, ``TG05``), set code or id, as metadata
    dicts (the bundle's shape, what the collection stores). Within equally good matches the bundle's
    sets come first. Without a readable catalogue, the bundle's own cards are searched."""
    text = text.strip()
    if not text:
        return []
    try:
        catalog = database.default_catalog()
        installed = frozenset(str(m.get("set_id")) for m in bundle_metadata.values() if m.get("set_id"))
        cards = catalog.search(text, limit=limit, prefer=installed)
    except database.CatalogDatabaseError as error:
        logger.warning("Searching the reference bundle only: %s", error)
        return search_bundle(text, bundle_metadata, limit)
    return [dict(bundle_metadata.get(c.card_id) or c.metadata()) for c in cards]


def search_bundle(text: str, bundle_metadata: Mapping[str, Mapping[str, Any]], limit: int = 20) -> list[dict[str, Any]]:
    """The bundle's cards by name, number (``25`` or ``025/165``) or id."""
    text = text.strip().lower()
    if not text:
        return []
    number = text.split("/")[0].lstrip("0") or "0"
    hits = []
    for card_id, meta in bundle_metadata.items():
        if card_id.startswith(BACK_PREFIX):
            continue
        name = str(meta.get("name", "")).lower()
        if text in name or card_id.lower() == text or str(meta.get("number", "")).lower().lstrip("0") == number:
            hits.append(dict(meta))
    hits.sort(key=lambda m: (not str(m.get("name", "")).lower().startswith(text), str(m.get("card_id"))))
    return hits[:limit]
