"""``cardsight collection migrate`` and ``cardsight collection sync``: the shop-server commands.

Any problem is one line on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from app.collection.store import CollectionError

logger = logging.getLogger(__name__)


def add_shop_parsers(csub: Any) -> None:
    """The two subcommands, each with its own entry point (they open no collection first)."""
    migrate = csub.add_parser("migrate", help="copy the collection between a file and a shop server, verified")
    migrate.add_argument("--from", dest="source", required=True, help="sqlite:PATH (or a path) or postgresql://…")
    migrate.add_argument("--to", dest="target", required=True, help="postgresql://… (an empty database) or sqlite:PATH")
    migrate.set_defaults(func=cmd_migrate)
    sync = csub.add_parser("sync", help="send this kiosk's scans that waited while the shop server was away")
    sync.add_argument("--status", action="store_true", help="only say whether the server answers and what waits")
    sync.set_defaults(func=cmd_sync)


def _fail(message: str) -> int:
    print(f"cardsight: {message}", file=sys.stderr)
    return 1


def cmd_migrate(args: argparse.Namespace, settings: Any) -> int:
    from app.collection.open import is_server_url, sqlite_path

    source, target = str(args.source), str(args.target)
    if is_server_url(source) == is_server_url(target):
        return _fail("migrate copies between a file (sqlite:PATH) and a shop server (postgresql://…): give one of each")
    try:
        return _migrate(source, target) if is_server_url(target) else _migrate_back(source, sqlite_path(target))
    except CollectionError as error:
        return _fail(str(error))


def _migrate(source: str, url: str) -> int:
    from app.collection.migrate import copy_sqlite_to_postgres
    from app.collection.open import sqlite_path
    from app.collection.postgres import PostgresCollection

    with PostgresCollection(url, kiosk="migrate") as server:
        report = copy_sqlite_to_postgres(sqlite_path(source), server)
    print(report.summary())
    return 0


def _migrate_back(url: str, out: Path) -> int:
    from app.collection.migrate import copy_postgres_to_sqlite_report
    from app.collection.postgres import PostgresCollection

    with PostgresCollection(url, kiosk="migrate", readonly=True) as server:
        report = copy_postgres_to_sqlite_report(server, out)
    print(report.summary())
    return 0


def cmd_sync(args: argparse.Namespace, settings: Any) -> int:
    """Show (``--status``) or force the replay of this kiosk's outbox."""
    from app.collection.open import is_server_url, outbox_path_for
    from app.collection.outbox import OutboxCollection
    from app.collection.postgres import PostgresCollection, ServerAway, default_kiosk

    url = args.db if args.db and is_server_url(args.db) else settings.collection.url
    if not url:
        return _fail(
            'no shop server is configured: set [collection] url = "postgresql://…" or give --db postgresql://…'
        )
    kiosk = default_kiosk()
    outbox = outbox_path_for(settings.collection.db, kiosk)
    try:
        with OutboxCollection(PostgresCollection(url, kiosk=kiosk), outbox, background=False) as collection:
            if args.status:
                print(f"Kiosk {kiosk}: {_probe(collection)} (outbox {outbox})")
                return 0
            try:
                sent = collection.sync()
            except ServerAway as error:
                print(f"Kiosk {kiosk}: {collection.status_text()}")
                return _fail(str(error))
            print(f"Sent {sent} waiting operation(s) to the shop server; kiosk {kiosk}: {collection.status_text()}")
    except CollectionError as error:
        return _fail(str(error))
    return 0


def _probe(collection: Any) -> str:
    """ "online" or "offline — N scan(s) waiting (why)", after asking the server once."""
    from app.collection.outbox import SyncStatus
    from app.collection.postgres import ServerAway

    waiting = collection.outbox.count("scan")
    try:
        collection.server.ensure_schema()
    except ServerAway as error:
        return SyncStatus(False, waiting, str(error)).text()
    return SyncStatus(True, waiting).text()
