"""The one place that turns a collection address into an open collection.

- ``sqlite:PATH``, or a plain path: the local SQLite :class:`~app.collection.store.Collection`;
- ``postgresql://user@host:port/database``: the shop's server, wrapped in the kiosk's outbox
  (:class:`~app.collection.outbox.OutboxCollection`) so scanning goes on while the server is away.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from app.collection.store import Collection

logger = logging.getLogger(__name__)

POSTGRES_PREFIXES = ("postgresql://", "postgres://")


def is_server_url(address: str | Path) -> bool:
    return isinstance(address, str) and address.startswith(POSTGRES_PREFIXES)


def sqlite_path(address: str | Path) -> Path:
    """The file a ``sqlite:PATH`` address (or a bare path) names."""
    text = str(address)
    return Path(text[len("sqlite:") :] if text.startswith("sqlite:") else text)


def outbox_path_for(local_db: str | Path, kiosk: str) -> Path:
    """Where a kiosk keeps its outbox: beside the configured local collection file."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in kiosk) or "kiosk"
    return Path(local_db).with_name(f"outbox-{safe}.db")


def open_collection(
    address: str | Path,
    *,
    readonly: bool = False,
    synchronous: str = "FULL",
    busy_timeout_ms: int = 10_000,
    kiosk: str = "",
    outbox: str | Path | None = None,
    background_sync: bool = True,
) -> Any:
    """The collection at ``address`` (see the module doc). ``outbox`` (server only): the kiosk's
    outbox file; without one the server is used directly (commands: an away server is an error)."""
    if not is_server_url(address):
        return Collection(
            sqlite_path(address), busy_timeout_ms=busy_timeout_ms, synchronous=synchronous, readonly=readonly
        )
    from app.collection.outbox import OutboxCollection
    from app.collection.postgres import PostgresCollection

    server = PostgresCollection(
        str(address), kiosk=kiosk, readonly=readonly, crops_dir=Path(outbox).with_name("crops") if outbox else None
    )
    if outbox is None or readonly:
        return server
    return OutboxCollection(server, outbox, background=background_sync)
