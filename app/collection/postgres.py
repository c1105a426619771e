"""The shop collection on PostgreSQL: several kiosks scanning into one inventory at once.

The same operations as the SQLite :class:`~app.collection.store.Collection` (see
:mod:`app.collection.contract`), with what many writers need on top:

- every scan carries a globally unique ``uid`` and the ``kiosk`` that made it; recording a scan with a
  ``uid`` the server already holds changes nothing (the outbox replays rely on it);
- an inventory change is a delta applied in the scan's own transaction (``quantity = quantity + d``),
  never a quantity read on one kiosk and written back;
- undo takes back this kiosk's newest actions only; a correction moves only that scan's own deltas.

Connections come from a small :class:`psycopg_pool.ConnectionPool` (checked before use, so a server
restart costs one failed call, not a broken kiosk). A server that cannot be reached raises
:class:`ServerAway`, which :mod:`app.collection.outbox` catches to keep the kiosk scanning.
"""

from __future__ import annotations

import logging
import re
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row, tuple_row
from psycopg_pool import ConnectionPool, PoolTimeout

from app.collection.records import CollectionError, InventoryKey, ScanRecord, not_text, now, save_crop
from app.collection.sql import COLUMNS, TABLE_ORDER, SqlCollection, Tx, insert_scan, scan_values
from app.collection.sql import auto_add as add_automatically

__all__ = ["COLUMNS", "TABLE_ORDER", "PostgresCollection", "ServerAway", "now"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: The schema this cardsight writes; a server holding a newer one is refused.
SCHEMA_VERSION = 1
#: One lock key for schema creation: kiosks starting together must not create tables twice.
_SCHEMA_LOCK = 0x43645374
#: Seconds a connection attempt may take before the server counts as away.
CONNECT_TIMEOUT_S = 3
#: How often a transaction that lost a deadlock or serialisation race is tried again.
RETRIES = 5

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cardsight_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cards (
    card_id TEXT PRIMARY KEY, name TEXT NOT NULL, set_id TEXT, set_name TEXT, number TEXT,
    printed_total BIGINT, rarity TEXT, supertype TEXT, set_code TEXT
);
CREATE TABLE IF NOT EXISTS sessions (
    id BIGSERIAL PRIMARY KEY, label TEXT NOT NULL, operator TEXT, location TEXT, kiosk_id TEXT,
    started_at TEXT NOT NULL, ended_at TEXT, uid TEXT UNIQUE
);
CREATE TABLE IF NOT EXISTS actions (
    id BIGSERIAL PRIMARY KEY, time TEXT NOT NULL, kind TEXT NOT NULL, scan_id BIGINT,
    payload TEXT, undone INTEGER NOT NULL DEFAULT 0, undone_at TEXT, kiosk TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS scans (
    id BIGSERIAL PRIMARY KEY, time TEXT NOT NULL, source TEXT, session_id BIGINT REFERENCES sessions(id),
    status TEXT NOT NULL, card_id TEXT REFERENCES cards(card_id), seen_card_id TEXT,
    confidence DOUBLE PRECISION, margin DOUBLE PRECISION, alternatives TEXT, ocr_text TEXT, crop_path TEXT,
    action TEXT NOT NULL DEFAULT 'pending', corrected_from TEXT, action_id BIGINT REFERENCES actions(id),
    uid TEXT UNIQUE, kiosk TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS inventory (
    id BIGSERIAL PRIMARY KEY, card_id TEXT NOT NULL REFERENCES cards(card_id),
    finish TEXT NOT NULL, condition TEXT NOT NULL, language TEXT NOT NULL, location TEXT NOT NULL,
    quantity BIGINT NOT NULL DEFAULT 0 CHECK (quantity >= 0), price_paid DOUBLE PRECISION, notes TEXT,
    date_added TEXT DEFAULT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD'),
    UNIQUE (card_id, finish, condition, language, location)
);
CREATE TABLE IF NOT EXISTS inventory_changes (
    id BIGSERIAL PRIMARY KEY, action_id BIGINT NOT NULL REFERENCES actions(id),
    inventory_id BIGINT NOT NULL REFERENCES inventory(id), delta BIGINT NOT NULL,
    scan_id BIGINT REFERENCES scans(id)
);
CREATE TABLE IF NOT EXISTS prices (
    id BIGSERIAL PRIMARY KEY, card_id TEXT NOT NULL, finish TEXT NOT NULL, source TEXT NOT NULL,
    currency TEXT NOT NULL, date TEXT NOT NULL, price DOUBLE PRECISION NOT NULL CHECK (price >= 0),
    low DOUBLE PRECISION, mid DOUBLE PRECISION, high DOUBLE PRECISION, market DOUBLE PRECISION,
    figures TEXT, fetched_at TEXT NOT NULL, UNIQUE (card_id, finish, source, currency, date)
);
CREATE INDEX IF NOT EXISTS scans_session ON scans(session_id);
CREATE INDEX IF NOT EXISTS changes_action ON inventory_changes(action_id);
CREATE INDEX IF NOT EXISTS changes_scan ON inventory_changes(scan_id);
CREATE INDEX IF NOT EXISTS actions_kiosk ON actions(kiosk, undone, id);
CREATE INDEX IF NOT EXISTS prices_currency_date ON prices(currency, date);
"""


class ServerAway(CollectionError):
    """The shop server cannot be reached (down, wrong address, wrong password): nothing was written."""


def default_kiosk() -> str:
    return socket.gethostname() or "kiosk"


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    return re.sub(r"(//[^:/@]*:)[^@]*@", r"\1***@", url)


def check_url(url: str) -> dict[str, Any]:
    """The URL's parts; a :class:`CollectionError` naming the problem when it is not a PostgreSQL URL."""
    if not url.startswith(("postgresql://", "postgres://")):
        raise CollectionError(f"{redact(url)!r} is not a PostgreSQL URL (postgresql://user@host:port/database)")
    try:
        return conninfo_to_dict(url)
    except psycopg.ProgrammingError as error:
        raise CollectionError(f"the shop server URL {redact(url)!r} is malformed ({error})") from error


def is_away(error: BaseException) -> bool:
    """A connection problem (server down, unreachable, refused login), as opposed to a refused change."""
    if isinstance(error, (PoolTimeout, psycopg.InterfaceError)):
        return True
    if isinstance(error, (pg_errors.DeadlockDetected, pg_errors.SerializationFailure)):
        return False
    return isinstance(error, psycopg.OperationalError)


def _qmarks(sql: str) -> str:
    """SQLite-style ``?`` placeholders as psycopg's ``%s`` (literal ``%`` doubled first)."""
    return sql.replace("%", "%%").replace("?", "%s")


class PostgresTx(Tx):
    """Statements on a pooled server connection inside :meth:`PostgresCollection._run`'s transaction."""

    dialect = "postgresql"
    shop = True
    lock = " FOR UPDATE"
    like = "ILIKE"
    # SQLite's order: text byte by byte, a number's leading digits as a whole number (else 0).
    inventory_order = (
        "c.set_id COLLATE \"C\", COALESCE(substring(c.number from '^[0-9]{1,18}')::bigint, 0),"
        ' c.number COLLATE "C", i.finish COLLATE "C", i.condition COLLATE "C", i.language COLLATE "C",'
        ' i.location COLLATE "C"'
    )

    def __init__(self, conn: psycopg.Connection[dict[str, Any]], kiosk: str) -> None:
        super().__init__(kiosk)
        self.conn = conn

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return self.conn.execute(_qmarks(sql), tuple(params)).fetchall()

    def tuples(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.conn.cursor(row_factory=tuple_row).execute(_qmarks(sql), tuple(params)).fetchall()

    def run(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.conn.execute(_qmarks(sql), tuple(params))

    def run_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self.conn.cursor() as cursor:
            cursor.executemany(_qmarks(sql), [tuple(r) for r in rows])


class PostgresCollection(SqlCollection):
    """One kiosk's (or a command's) handle on the shop's collection on a PostgreSQL server."""

    def __init__(
        self,
        url: str,
        kiosk: str = "",
        readonly: bool = False,
        crops_dir: str | Path | None = None,
        pool_size: int = 2,
    ) -> None:
        check_url(url)
        self.url = url
        self.path = redact(url)
        self.kiosk = kiosk or default_kiosk()
        self.readonly = readonly
        self.stand_in = False
        self.crops_dir = Path(crops_dir) if crops_dir else Path.home() / ".local" / "share" / "cardsight" / "crops"
        self._known_cards: set[str] = set()
        self._pool: ConnectionPool[psycopg.Connection[dict[str, Any]]] = ConnectionPool(
            url,
            min_size=0,
            max_size=pool_size,
            open=False,
            kwargs={"autocommit": True, "row_factory": dict_row, "connect_timeout": CONNECT_TIMEOUT_S},
            check=ConnectionPool.check_connection,
            reconnect_timeout=CONNECT_TIMEOUT_S,
            name=f"cardsight-{self.kiosk}",
        )
        self._pool.open(wait=False)
        self._schema_ready = False

    # ------------------------------------------------------------------ connections
    def close(self) -> None:
        self._pool.close()

    def __enter__(self) -> PostgresCollection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ensure_schema(self) -> None:
        """Create the tables on a new database (one kiosk at a time); refuse a newer schema."""
        if self._schema_ready:
            return

        def create(conn: psycopg.Connection[dict[str, Any]]) -> None:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            found = conn.execute(
                "SELECT 1 AS x FROM information_schema.tables WHERE table_name = 'cardsight_meta'"
                " AND table_schema = current_schema()"
            ).fetchone()
            if found:
                row = conn.execute("SELECT value FROM cardsight_meta WHERE key = 'schema_version'").fetchone()
                version = int(row["value"]) if row else 0
                if version > SCHEMA_VERSION:
                    raise CollectionError(
                        f"the shop database {self.path} has schema v{version}, newer than this cardsight"
                        f" (v{SCHEMA_VERSION}); update cardsight"
                    )
                if version == SCHEMA_VERSION:
                    return
            elif self.readonly:
                raise CollectionError(f"the shop database {self.path} holds no collection yet")
            conn.execute(_SCHEMA)
            conn.execute(
                "INSERT INTO cardsight_meta (key, value) VALUES ('schema_version', %s)"
                " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                (str(SCHEMA_VERSION),),
            )

        self._run(create, schema=False, write=False)
        self._schema_ready = True

    def _connection_failed(self, error: BaseException) -> ServerAway:
        if isinstance(error, PoolTimeout):
            error = self._why_no_connection()
        reason = " ".join(str(error).split()) or type(error).__name__
        return ServerAway(f"the shop server {self.path} cannot be reached ({reason[:200]})")

    def _why_no_connection(self) -> BaseException:
        """The server's own answer (refused, wrong password, no such database): the pool only says
        it timed out."""
        try:
            psycopg.connect(self.url, connect_timeout=CONNECT_TIMEOUT_S).close()
        except psycopg.Error as error:
            return error
        return PoolTimeout(f"no connection within {CONNECT_TIMEOUT_S} s")

    def _run(
        self, work: Callable[[psycopg.Connection[dict[str, Any]]], T], schema: bool = True, write: bool = True
    ) -> T:
        """``work`` in one transaction, tried again when it lost a deadlock; database errors become
        :class:`CollectionError` (:class:`ServerAway` when the server is the problem)."""
        if write and self.readonly:
            raise CollectionError(f"the collection {self.path} was opened read-only")
        if schema:
            self.ensure_schema()
        for attempt in range(RETRIES):
            try:
                with self._pool.connection(timeout=CONNECT_TIMEOUT_S) as conn, conn.transaction():
                    return work(conn)
            except (pg_errors.DeadlockDetected, pg_errors.SerializationFailure) as error:
                if attempt == RETRIES - 1:
                    raise CollectionError(
                        f"the shop server is too busy ({error}); nothing was written, try again"
                    ) from error
                time.sleep(0.01 * (attempt + 1))
            except UnicodeEncodeError as error:
                raise not_text(error) from error
            except psycopg.IntegrityError as error:
                raise CollectionError(
                    f"change refused, nothing was written ({' '.join(str(error).split())})"
                ) from error
            except (PoolTimeout, psycopg.Error) as error:
                if is_away(error):
                    raise self._connection_failed(error) from error
                raise CollectionError(
                    f"the shop server refused the request ({' '.join(str(error).split())})"
                ) from error
        raise AssertionError("unreachable")

    def _read(self, work: Callable[[psycopg.Connection[dict[str, Any]]], T]) -> T:
        return self._run(work, write=False)

    def read_with(self, work: Callable[[Tx], T]) -> T:
        return self._read(lambda conn: work(PostgresTx(conn, self.kiosk)))

    def write_with(self, work: Callable[[Tx], T]) -> T:
        return self._run(lambda conn: work(PostgresTx(conn, self.kiosk)))

    # ------------------------------------------------------------------ what is only the server's
    def start_session(
        self, label: str, operator: str = "", location: str = "", kiosk_id: str = "", uid: str | None = None,
        started_at: str | None = None,
    ) -> int:  # fmt: skip
        """A new session; with ``uid``, the one already started under it (a replay starts it once)."""

        key = uid or str(uuid.uuid4())

        def start(tx: Tx) -> int:
            tx.run(
                "INSERT INTO sessions (label, operator, location, kiosk_id, started_at, uid)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (uid) DO NOTHING",
                (label, operator, location, kiosk_id or self.kiosk, started_at or now(), key),
            )
            row = tx.one("SELECT id FROM sessions WHERE uid = ?", (key,))
            return int(row["id"]) if row else 0

        return self.write_with(start)

    def write_crop(self, jpeg: bytes) -> str:
        """The crop as a file of this kiosk (its name goes into the scan row)."""
        return save_crop(self.crops_dir, jpeg)

    def record_scan(
        self,
        scan: ScanRecord,
        auto_add: InventoryKey | None = None,
        uid: str | None = None,
        time_: str | None = None,
        crop_path: str | None = None,
    ) -> int:
        """Log a scan (and auto-add its card) in one transaction; returns its id. A ``uid`` the server
        already holds returns that scan's id and changes nothing."""
        if crop_path is None and scan.crop_jpeg:
            crop_path = self.write_crop(scan.crop_jpeg)
        key = uid or str(uuid.uuid4())

        def record(tx: Tx) -> int:
            row = {**scan_values(tx, scan, crop_path, time_), "uid": key, "kiosk": self.kiosk}
            scan_id = insert_scan(tx, row, conflict=" ON CONFLICT (uid) DO NOTHING")
            if scan_id is None:
                existing = tx.one("SELECT id FROM scans WHERE uid = ?", (key,))
                return int(existing["id"]) if existing else 0
            add_automatically(tx, scan_id, row, scan.status, auto_add)
            return scan_id

        return self.write_with(record)

    def scan_id_of(self, uid: str) -> int | None:
        """The server id of the scan recorded under ``uid`` (None when it has not arrived)."""
        row = self._read(lambda c: c.execute("SELECT id FROM scans WHERE uid = %s", (uid,)).fetchone())
        return int(row["id"]) if row else None

    def backup(self, out: str | Path) -> Path:
        """A verified SQLite collection file holding everything on the server (a snapshot)."""
        from app.collection.migrate import copy_postgres_to_sqlite

        return copy_postgres_to_sqlite(self, Path(out))

    def table_rows(self, table: str) -> list[tuple[Any, ...]]:
        """Every row of ``table`` in the SQLite collection's columns, by key (migration and its check)."""
        columns = COLUMNS[table]
        order = 'card_id COLLATE "C"' if table == "cards" else "id"
        return self._read(
            lambda c: (
                c.cursor(row_factory=tuple_row)
                .execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY {order}")
                .fetchall()
            )
        )
