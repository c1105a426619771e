"""``cardsight prices update`` and ``prices import``: pick the source for the input, run it into the
price table. Only :func:`update_online` touches the network."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from app.collection.contract import CollectionStore
from app.prices.base import PriceError, Progress, Quote, Report, no_progress
from app.prices.pokemontcg import DEFAULT_API_BASE, ApiSource, PagesSource
from app.prices.table import run_source, store_quotes
from app.prices.tcgcsv import Catalogue, CsvSource

logger = logging.getLogger(__name__)


def today_utc() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def update_online(
    collection: CollectionStore,
    api_base: str = DEFAULT_API_BASE,
    sets: Sequence[str] = (),
    api_key: str = "",
    progress: Progress = no_progress,
    timeout_s: float = 30.0,
) -> Report:
    """Every card of ``sets`` (all cards when empty) from the API; ``api_key`` is sent as X-Api-Key."""
    if not api_base.startswith(("http://", "https://")):
        raise PriceError(f"--api-base {api_base!r} is not an http(s) URL")
    if not timeout_s > 0:
        raise PriceError(f"--timeout must be more than 0 seconds, not {timeout_s}")
    source = ApiSource(api_base, sets, api_key, timeout_s, today=today_utc())
    return run_source(collection, source, progress)


def import_files(
    collection: CollectionStore,
    files: Sequence[Path],
    catalogue_cards: Iterable[dict[str, Any]] = (),
    set_id: str | None = None,
    date: dt.date | None = None,
    progress: Progress = no_progress,
) -> Report:
    """Saved pokemontcg.io pages (``.json``) and TCGplayer price CSVs (``.csv``), all stored in one
    transaction; a file of any other kind, or one that cannot be read, stores nothing."""
    for path in files:
        if not path.exists():
            raise PriceError(f"{path}: no such file")
        if not path.is_file():
            raise PriceError(f"{path} is a folder, not a file (name the files in it)")
        if path.suffix.lower() not in (".json", ".csv"):
            raise PriceError(f"{path}: expected saved pokemontcg.io pages (.json) or TCGplayer price CSVs (.csv)")
    pages = [p for p in files if p.suffix.lower() == ".json"]
    csvs = [p for p in files if p.suffix.lower() == ".csv"]
    report = Report("prices import")
    quotes: list[Quote] = []
    if pages:
        quotes += PagesSource(pages, today=today_utc()).quotes(report, progress)
    if csvs:
        catalogue = Catalogue([*_collection_cards(collection), *catalogue_cards])
        priced_on = date or _file_day(csvs)
        quotes += CsvSource(csvs, catalogue, priced_on, set_id, today=today_utc()).quotes(report, progress)
    store_quotes(collection, quotes)
    return report


def _collection_cards(collection: CollectionStore) -> list[dict[str, Any]]:
    return collection.cards()


def _file_day(paths: Sequence[Path]) -> dt.date:
    """Without --date, a CSV is priced on the day it was saved (its modification time, UTC)."""
    newest = max(p.stat().st_mtime for p in paths)
    return dt.datetime.fromtimestamp(newest, dt.UTC).date()


def bundle_cards(bundle: Path) -> list[dict[str, Any]]:
    """The reference bundle's card metadata (the cards a CSV row may be); none when unreadable."""
    try:
        metadata = json.loads((bundle / "metadata.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        logger.info("No bundle card list for price matching (%s)", error)
        return []
    if not isinstance(metadata, dict):
        return []
    return [m for m in metadata.values() if isinstance(m, dict) and not str(m.get("card_id", "")).startswith("back:")]
