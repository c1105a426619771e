"""The ``cardsight collection`` subcommands on an open collection (``app.cli`` opens it and turns
errors into one line on stderr and a non-zero exit)."""

from __future__ import annotations

import argparse
import json
import logging
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from app.collection.csvio import apply_import, export_csv, plan_import
from app.collection.store import (
    RECOVERY,
    Collection,
    CollectionError,
    InventoryKey,
    check_undo_count,
    describe_action,
)

logger = logging.getLogger(__name__)

#: Subcommands that only read: they open the file read-only (and never create it).
READ_ONLY_COMMANDS = frozenset({"list", "export", "backup", "sessions", "value"})

EnsureCard = Callable[[Collection, str], None]


def opens_read_only(args: argparse.Namespace) -> bool:
    return args.collection_command in READ_ONLY_COMMANDS or (args.collection_command == "import" and bool(args.dry_run))


def database_error_message(db: str | Path, error: sqlite3.DatabaseError) -> str:
    return f"the collection {db} cannot be used ({error}). If it is damaged: {RECOVERY}"


def run_command(collection: Collection, args: argparse.Namespace, ensure_card: EnsureCard) -> int:
    """Run one subcommand; returns the exit status (errors are raised as :class:`CollectionError`)."""
    commands: dict[str, Callable[[Collection, argparse.Namespace, EnsureCard], int]] = {
        "add": _add,
        "list": _list,
        "correct": _correct,
        "undo": _undo,
        "export": _export,
        "import": _import,
        "backup": _backup,
        "sessions": _sessions,
        "value": _value,
    }
    return commands[args.collection_command](collection, args, ensure_card)


def _add(collection: Collection, args: argparse.Namespace, ensure_card: EnsureCard) -> int:
    ensure_card(collection, args.card_id)
    key = InventoryKey(args.card_id, args.finish, args.condition, args.language, args.location)
    row = collection.add(key, args.qty, notes=args.notes, price_paid=args.price)
    print(f"Added {args.qty} × {args.card_id} (inventory row {row})")
    return 0


def _list(collection: Collection, args: argparse.Namespace, ensure_card: EnsureCard) -> int:
    rows = collection.inventory(args.search or "", set_id=args.set, rarity=args.rarity)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
        return 0
    if collection.stand_in:
        print(f"No collection at {collection.path} yet.")
    for r in rows:
        print(
            f"{r['quantity']:4} × {r['card_id']:12} {r['name'][:28]:28} {r['finish']:12} "
            f"{r['condition']:3} {r['language']:8} {r['location']}"
        )
    print(f"{sum(r['quantity'] for r in rows)} card(s) in {len(rows)} row(s)")
    return 0


def _correct(collection: Collection, args: argparse.Namespace, ensure_card: EnsureCard) -> int:
    ensure_card(collection, args.card_id)
    collection.correct_scan(args.scan_id, args.card_id)
    print(f"Scan {args.scan_id} is now {args.card_id}")
    return 0


def _undo(collection: Collection, args: argparse.Namespace, ensure_card: EnsureCard) -> int:
    """Undo one action at once; more than one only after listing them and a yes (``--yes`` or the
    terminal): with neither, refuse rather than guess."""
    check_undo_count(args.n)
    pending = collection.undoable(args.n)
    if not pending:
        print("Nothing to undo")
        return 0
    if len(pending) > 1:
        print(f"This undoes {len(pending)} actions, newest first:")
        for action in pending:
            print(f"  {describe_action(action)}")
        if not args.yes and not _confirmed(f"Undo these {len(pending)} actions? [y/N] ", sys.stdin):
            print("Nothing was undone.")
            return 1
    undone = collection.undo(len(pending), expected=[a["id"] for a in pending])
    for a in undone:
        print(f"Undid {a['kind']} #{a['id']}" + (f" (scan {a['scan_id']})" if a["scan_id"] else ""))
    return 0


def _confirmed(prompt: str, stdin: TextIO) -> bool:
    """A yes typed at a terminal; without a terminal to ask, a :class:`CollectionError`."""
    try:
        interactive = stdin.isatty()
    except (AttributeError, ValueError, OSError):
        interactive = False
    if not interactive:
        raise CollectionError("undoing more than one action needs a yes: run it in a terminal, or add --yes")
    try:
        answer = input(prompt)
    except (EOFError, KeyboardInterrupt):
        print()
        return False
    return answer.strip().lower() in ("y", "yes")


def _export(collection: Collection, args: argparse.Namespace, ensure_card: EnsureCard) -> int:
    # The session is found before the file is opened: a wrong one writes nothing.
    session_id = None if args.session is None else collection.resolve_session(args.session)
    n = export_csv(collection, args.out, args.format, session_id, sep_line=args.sep_line)
    print(f"Wrote {n} row(s) to {args.out} ({args.format})" + _session_note(collection, session_id, n))
    return 0


def _session_note(collection: Collection, session_id: int | None, rows: int) -> str:
    if session_id is None:
        return ""
    summary = collection.session_summary(session_id)
    note = f" from session {session_id} {summary['label']!r}"
    if rows == 0:
        note += f": it holds no cards now ({summary['scans']} scan(s), {summary['cards_added']} card(s) added)"
    return note


def _sessions(collection: Collection, args: argparse.Namespace, ensure_card: EnsureCard) -> int:
    sessions = collection.sessions()
    if args.json:
        print(json.dumps(sessions, ensure_ascii=False))
        return 0
    if collection.stand_in:
        print(f"No collection at {collection.path} yet.")
    elif not sessions:
        print("No sessions yet (the kiosk starts one each time it runs).")
    else:
        print(f"{'ID':>4}  {'STARTED (UTC)':19}  {'LABEL':24}  {'KIOSK / SOURCE':20}  {'SCANS':>5}  {'CARDS':>5}")
    for s in sessions:
        where = ", ".join(filter(None, [s["kiosk_id"], *s["sources"]])) or "-"
        started = str(s["started_at"])[:19].replace("T", " ")
        print(
            f"{s['id']:>4}  {started:19}  {str(s['label'])[:24]:24}  {where[:20]:20}"
            f"  {s['scans']:>5}  {s['cards_added']:>5}"
        )
    print(f"{len(sessions)} session(s)")
    return 0


def _import(collection: Collection, args: argparse.Namespace, ensure_card: EnsureCard) -> int:
    plan = plan_import(collection, args.csv)
    print(plan.report(), file=sys.stderr if plan.errors else sys.stdout)
    if plan.errors:
        return 1
    if not args.dry_run:
        added = apply_import(collection, plan)
        print(f"Imported {added} card(s) (undo with: cardsight collection undo)")
    return 0


def _backup(collection: Collection, args: argparse.Namespace, ensure_card: EnsureCard) -> int:
    out = collection.backup(args.out)
    print(f"Backed up {collection.path} to {out} (copy verified with an integrity check)")
    return 0


def _value(collection: Collection, args: argparse.Namespace, ensure_card: EnsureCard) -> int:
    """What the collection (or a session's cards) is worth; ``--since`` adds the change from that day."""
    from app.prices.value import describe, parse_day, parse_factors, value_collection

    on = parse_day(args.on) if args.on else None
    since = parse_day(args.since) if args.since else None
    factors = parse_factors(args.conditions or "")
    session_id = None if args.session is None else collection.resolve_session(args.session)
    options = {"currency": args.currency, "session_id": session_id, "source": args.source, "factors": factors}
    valuation = value_collection(collection, on=on, **options)
    then = value_collection(collection, on=since, **options) if since else None
    if args.json:
        result = valuation.as_dict()
        if then is not None:
            result["change"] = {
                "since": args.since,
                "total_then": then.total_cents / 100,
                "difference": (valuation.total_cents - then.total_cents) / 100,
            }
        print(json.dumps(result, ensure_ascii=False))
        return 0
    print(describe(valuation, "Collection" if session_id is None else f"Session {session_id}"))
    if then is not None:
        difference = (valuation.total_cents - then.total_cents) / 100
        print(
            f"  change since {args.since}: {difference:+,.2f} {valuation.currency} (then {then.total_cents / 100:,.2f})"
        )
    return 0
