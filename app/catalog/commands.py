"""``cardsight catalog sets | search | update | download | remove``: the card catalogue from the
command line.

Every problem is one line on stderr and a non-zero exit status; nothing but ``update`` and
``download`` touches the network, ``update`` writes only the user's copy of the catalogue, and
``download`` only the image cache and the installed sets (both in the user's data folder).
"""

from __future__ import annotations

import argparse
import json
import logging
import sqlite3
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from app.catalog.database import (
    SHIPPED_CATALOG,
    CardInfo,
    CatalogDatabaseError,
    SetInfo,
    open_catalog,
    user_catalog_path,
)
from app.catalog.download import (
    MAX_JOBS,
    DownloadProgress,
    SetReport,
    UnknownSetError,
    download_and_install,
    image_cache_dir,
    rebase,
    remove_sets,
    resolve_set_ids,
    split_not_tried,
)
from app.catalog.install import present_sets
from app.catalog.update import ApiClient, update_catalog
from app.embed.base import EmbedderBackend

logger = logging.getLogger(__name__)

MAX_TIMEOUT_S = 600.0
#: Exit status when nothing was attempted (an unknown set, a bad option); 1 means something failed.
EXIT_BAD_REQUEST = 2
EXIT_INTERRUPTED = 130
#: How long Ctrl-C waits for the download to notice its cancel before the command exits anyway.
INTERRUPT_WAIT_S = 10.0
#: Failed cards listed per set in the summary; the rest are counted.
LISTED_FAILURES = 20


def installed_sets(bundle: Path) -> set[str] | None:
    """Set ids whose vectors are installed: the reference bundle's and every set downloaded into the
    installed-sets folder; None when the bundle's manifest is unreadable."""
    present = present_sets(bundle)
    return None if present.shipped is None else set(present.installed)


def _installed_or_warn(bundle: Path) -> set[str] | None:
    present = present_sets(bundle)
    if present.shipped is None:
        print(f"cardsight: installed sets unknown: {present.problem}", file=sys.stderr)
        return None
    return set(present.installed)


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


class ProgressLine:
    """Download and embedding progress on ``stream``: a bar redrawn in place on a terminal, plain
    lines (at each tenth and at each stage's end) when the output is a file or a pipe."""

    WIDTH = 30

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self._last: tuple[str, str, int] | None = None
        self._drawn = False

    def __call__(self, update: DownloadProgress) -> None:
        text = self.describe(update)
        if self.tty:
            self.stream.write(f"\r\x1b[K{text}")
            self._drawn = True
            if update.done >= update.total:
                self.stream.write("\n")
                self._drawn = False
        else:
            tenth = update.done * 10 // max(update.total, 1)
            key = (update.set_id, update.stage, tenth)
            if key == self._last:
                return
            self._last = key
            self.stream.write(text + "\n")
        self.stream.flush()

    def end(self) -> None:
        """Leave the line a half-drawn bar is on (before a summary or a message)."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False

    @classmethod
    def describe(cls, update: DownloadProgress) -> str:
        total = max(update.total, 1)
        filled = cls.WIDTH * update.done // total
        bar = "#" * filled + "." * (cls.WIDTH - filled)
        verb = "downloading" if update.stage == "download" else "embedding"
        failed = f", {update.failed} failed" if update.failed else ""
        eta = f", ETA {_duration(update.eta_s)}" if update.eta_s is not None and update.done < update.total else ""
        return f"{update.set_id} {verb} [{bar}] {update.done}/{update.total}{failed}{eta}"


def _duration(seconds: float) -> str:
    hours, rest = divmod(round(seconds), 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def download_summary(reports: list[SetReport]) -> list[str]:
    """One line per set, then each failed card with its reason (the first :data:`LISTED_FAILURES`)."""
    lines = []
    for report in reports:
        lines.append(
            f"{report.set_id}: {report.downloaded} downloaded, {report.already_had} already here, "
            f"{len(report.failed)} failed, {report.embedded} embedded"
        )
        tried, not_tried, why_not = split_not_tried(report.failed)
        for card_id, reason in tried[:LISTED_FAILURES]:
            lines.append(f"  {card_id}: {reason}")
        if len(tried) > LISTED_FAILURES:
            lines.append(f"  … and {len(tried) - LISTED_FAILURES} more")
        if not_tried:
            lines.append(f"  {not_tried} more not tried: {why_not} — is this computer online? (--image-base: a mirror)")
    return lines


def run_download(args: argparse.Namespace, bundle: Path, make_embedder: Callable[[], EmbedderBackend]) -> int:
    """Fetch, verify, embed and install sets; exit 0 when every card is installed, 1 when some card
    or set failed, 2 when nothing was attempted (bad request), 130 when interrupted. Sets the
    reference bundle ships are skipped (the app would not use a downloaded copy of them)."""
    if not 1 <= args.jobs <= MAX_JOBS:
        return _bad_request(f"catalog download: --jobs must be between 1 and {MAX_JOBS}")
    if args.sets and args.all:
        return _bad_request("catalog download: name sets or give --all, not both")
    if not args.sets and not args.all:
        return _bad_request("catalog download: name the sets (ids or codes like EVO), or give --all")
    try:
        rebase("https://images.pokemontcg.io/", args.image_base)
        catalog = open_catalog(args.db)
        set_ids = [s.set_id for s in catalog.sets()] if args.all else resolve_set_ids(catalog, args.sets)
    except (UnknownSetError, ValueError) as error:  # CatalogDatabaseError is a ValueError too
        return _bad_request(f"catalog download: {error}")
    shipped = present_sets(bundle).shipped or frozenset()
    skipped = [set_id for set_id in set_ids if set_id in shipped]
    if skipped:
        print(f"Skipping {', '.join(skipped)}: already in the reference bundle {bundle}", file=sys.stderr)
        set_ids = [set_id for set_id in set_ids if set_id not in shipped]
    if not set_ids:
        return 0
    embedder = make_embedder()
    line = ProgressLine(sys.stderr)
    cancel = threading.Event()
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["reports"] = download_and_install(
                set_ids,
                embedder,
                catalog=catalog,
                image_base=args.image_base,
                jobs=args.jobs,
                progress=line,
                cancel=cancel,
                shipped=bundle,
            )
        except BaseException as error:  # handed to the main thread, which reports it
            outcome["problem"] = error

    worker = threading.Thread(target=work, name="catalog-download")
    try:
        # Started inside the try: a Ctrl-C may come while start() still waits for the thread.
        worker.start()
        while worker.is_alive():
            worker.join(0.2)
    except KeyboardInterrupt:
        cancel.set()
        # The worker sees the cancel between requests, batches and graph rows; one stuck in a single
        # step (a slow disk) is not waited for: what it has not written whole is never used.
        if worker.ident is not None:
            worker.join(INTERRUPT_WAIT_S)
        if worker.is_alive():
            logger.warning("The download did not stop within %.0f s; leaving it", INTERRUPT_WAIT_S)
        line.end()
        print(
            "cardsight: download interrupted; verified images are kept and the next run fetches only the rest",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    line.end()
    problem = outcome.get("problem")
    if isinstance(problem, (OSError, ValueError)):
        return _fail(f"catalog download: {problem}")
    if problem is not None:
        raise problem
    reports: list[SetReport] = outcome["reports"]
    for text in download_summary(reports):
        print(text)
    failed = any(r.failed or not r.embedded for r in reports)
    if failed:
        print(
            f"Run the same command again to retry what failed; verified images are kept in {image_cache_dir()}.",
            file=sys.stderr,
        )
    return 1 if failed else 0


def run_remove(args: argparse.Namespace, bundle: Path) -> int:
    """Remove installed sets; exit 0 when each named set was installed and is gone, 1 otherwise."""
    try:
        set_ids = resolve_set_ids(open_catalog(args.db), args.sets)
    except (UnknownSetError, CatalogDatabaseError) as error:
        return _bad_request(f"catalog remove: {error}")
    removed = remove_sets(set_ids, shipped=bundle)
    shipped = present_sets(bundle).shipped or frozenset()
    for set_id in set_ids:
        if set_id in removed:
            print(f"Removed {set_id}; its downloaded images stay in {image_cache_dir() / set_id}")
        elif set_id in shipped:
            print(f"cardsight: {set_id} ships with cardsight (in {bundle}); it cannot be removed", file=sys.stderr)
        else:
            print(f"cardsight: {set_id} is not installed; nothing to remove", file=sys.stderr)
    return 0 if len(removed) == len(set_ids) else 1


def _bad_request(message: str) -> int:
    print(f"cardsight: {message}", file=sys.stderr)
    return EXIT_BAD_REQUEST
