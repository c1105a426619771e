"""``cardsight catalog sets | search | update``: the card catalogue from the command line.

Every problem is one line on stderr and a non-zero exit status; nothing but ``update`` touches the
network, and ``update`` writes only the user's copy of the catalogue.
"""

from __future__ import annotations

import argparse
import json
import logging
import sqlite3
import sys
from pathlib import Path
from typing import Any

from app.catalog.database import (
    SHIPPED_CATALOG,
    CardInfo,
    CatalogDatabaseError,
    SetInfo,
    open_catalog,
    user_catalog_path,
)
from app.catalog.update import ApiClient, update_catalog

logger = logging.getLogger(__name__)

MAX_TIMEOUT_S = 600.0


def installed_sets(bundle: Path) -> set[str] | None:
    """Set ids in the reference bundle's manifest (whose vectors are installed); None when unreadable."""
    try:
        manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
        return {str(s["id"]) for s in manifest["sets"]}
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as error:
        logger.debug("No installed sets from %s: %s", bundle, error)
        return None


def _installed_or_warn(bundle: Path) -> set[str] | None:
    installed = installed_sets(bundle)
    if installed is None:
        print(f"cardsight: no readable reference bundle manifest at {bundle}: installed sets unknown", file=sys.stderr)
    return installed


def _fail(message: str) -> int:
    print(f"cardsight: {message}", file=sys.stderr)
    return 1


def _set_json(info: SetInfo, cards: int, installed: set[str] | None) -> dict[str, Any]:
    return {**info.as_json(), "cards": cards, "installed": None if installed is None else info.set_id in installed}


def _mark(flag: bool | None) -> str:
    return "?" if flag is None else "yes" if flag else "-"


def run_sets(args: argparse.Namespace, bundle: Path) -> int:
    """Every set: id, name, series, release date, cards, and whether its vectors are installed."""
    try:
        db = open_catalog(args.db)
        sets, counts = db.sets(), db.card_counts()
    except CatalogDatabaseError as error:
        return _fail(str(error))
    installed = _installed_or_warn(bundle)
    rows = [_set_json(s, counts.get(s.set_id, 0), installed) for s in sets]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
        return 0
    print(f"{'set':12} {'name':40} {'series':22} {'released':10} {'cards':>5}  installed")
    for row in rows:
        print(
            f"{row['id']:12} {row['name'][:40]:40} {(row['series'] or '-')[:22]:22} "
            f"{(row['release_date'] or '-'):10} {row['cards']:5}  {_mark(row['installed'])}"
        )
    print(f"{len(rows)} sets, {sum(r['cards'] for r in rows)} cards ({db.path})")
    return 0


def _card_json(card: CardInfo, installed: set[str] | None) -> dict[str, Any]:
    return {**card.as_json(), "installed": None if installed is None else card.set_id in installed}


def run_search(args: argparse.Namespace, bundle: Path) -> int:
    """Cards by name, number (``4/102``, ``TG05``) or set code; exit 1 when nothing matches."""
    if not args.text.strip():
        return _fail("catalog search: give a name, a number (4/102, TG05) or a set code")
    try:
        db = open_catalog(args.db)
        cards = db.search(args.text, set_id=args.set, limit=args.limit)
    except CatalogDatabaseError as error:
        return _fail(str(error))
    installed = installed_sets(bundle)
    if args.json:
        print(json.dumps([_card_json(c, installed) for c in cards], ensure_ascii=False))
    else:
        _print_cards(cards, installed)
    if not cards:
        print(f"cardsight: no card matches {args.text!r}", file=sys.stderr)
    return 0 if cards else 1


def _print_cards(cards: list[CardInfo], installed: set[str] | None) -> None:
    if not cards:
        return
    print(f"{'card':18} {'name':30} {'set':28} {'no.':10} {'rarity':22} installed")
    for card in cards:
        number = f"{card.number}/{card.printed_total}" if card.printed_total and card.number.isdigit() else card.number
        in_bundle = None if installed is None else card.set_id in installed
        print(
            f"{card.card_id:18} {card.name[:30]:30} {card.set_name[:28]:28} {number:10} "
            f"{(card.rarity or '-')[:22]:22} {_mark(in_bundle)}"
        )


def run_update(args: argparse.Namespace) -> int:
    """Merge the API's new sets into the user copy; exit 1 when anything could not be fetched."""
    target = Path(args.db) if args.db else user_catalog_path()
    if target.resolve() == SHIPPED_CATALOG.resolve():
        return _fail(f"catalog update never writes the shipped catalogue {SHIPPED_CATALOG}; pick another --db")
    if not 0 < args.timeout <= MAX_TIMEOUT_S:  # NaN fails this too
        return _fail(f"catalog update: --timeout must be more than 0 and at most {MAX_TIMEOUT_S:g} seconds")
    client = ApiClient(base=args.api_base, api_key=args.api_key or None, timeout_s=args.timeout)
    try:
        report = update_catalog(client, target, progress=lambda message: print(message, flush=True))
    except KeyboardInterrupt:
        print("cardsight: update interrupted; the sets already fetched are kept", file=sys.stderr)
        return 130
    except CatalogDatabaseError as error:
        return _fail(f"{error} (delete {target} to start again from the shipped catalogue)")
    except (OSError, sqlite3.Error) as error:
        return _fail(f"cannot write the catalogue {target}: {error}")
    print(report.summary(target))
    return 1 if report.failed else 0
