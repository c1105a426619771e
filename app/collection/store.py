"""The collection: scans, inventory, corrections and undo in one SQLite file (sqlite-utils).

Durability: WAL journal with ``synchronous=FULL`` — a call that returns has its transaction on disk
(a ``kill -9`` right after loses nothing). Every write is one ``BEGIN IMMEDIATE`` transaction with a
busy timeout, so a GUI and a CLI export can share the file. Every inventory change is a row in
``inventory_changes`` tied to an ``actions`` row (and to the scan that caused it, if any); undo
replays those rows backwards.

Opening never writes to a file it then refuses: the file is inspected through a read-only connection
(header, application id, schema version, a bounded ``PRAGMA quick_check``) before anything — the WAL
switch, a migration — touches it. ``readonly=True`` opens for reading only (list, export, backup).
Quantities are whole numbers from 0 to :data:`MAX_QUANTITY` per inventory row.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import sqlite_utils

from app.collection.records import (
    CONDITIONS,
    FINISHES,
    MAX_QUANTITY,
    MAX_UNDO,
    CollectionError,
    InventoryKey,
    ScanRecord,
    check_price,
    check_quantity,
    check_undo_count,
    describe_action,
    not_text,
    now,
    save_crop,
)
from app.collection.schema import APPLICATION_ID, MIGRATIONS, migrate
from app.collection.sql import SqlCollection, Tx, insert_scan, scan_values
from app.collection.sql import auto_add as add_automatically

__all__ = [
    "CONDITIONS",
    "FINISHES",
    "MAX_QUANTITY",
    "MAX_UNDO",
    "Collection",
    "CollectionError",
    "InventoryKey",
    "ScanRecord",
    "check_price",
    "check_quantity",
    "check_undo_count",
    "describe_action",
]

logger = logging.getLogger(__name__)

SQLITE_HEADER = b"SQLite format 3\x00"
#: How long the integrity check on open may run before it is skipped (with a warning).
QUICK_CHECK_SECONDS = 10.0
RECOVERY = (
    "restore a backup made by `cardsight collection backup`, or move the file away to start a new "
    "collection (experts: sqlite3's `.recover`)"
)

T = TypeVar("T")


class SqliteTx(Tx):
    """Statements on the collection file's one connection (inside :meth:`Collection.write` to change it)."""

    dialect = "sqlite"
    inventory_order = "c.set_id, CAST(c.number AS INTEGER), c.number, i.finish, i.condition, i.language, i.location"

    def __init__(self, conn: sqlite3.Connection) -> None:
        super().__init__()
        self.conn = conn

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return [dict(r) for r in self.conn.execute(sql, params).fetchall()]

    def tuples(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cursor = self.conn.cursor()
        cursor.row_factory = None
        return cursor.execute(sql, params).fetchall()

    def run(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.conn.execute(sql, params)

    def run_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self.conn.executemany(sql, rows)


def _read_only_uri(path: Path, snapshot: bool = False) -> str:
    """A URI that opens ``path`` without write access; ``snapshot`` also skips locking and side files
    (only right while no other connection can be changing the file)."""
    return path.resolve().as_uri() + ("?mode=ro&immutable=1" if snapshot else "?mode=ro")


def _has_side_files(path: Path) -> bool:
    """A -wal or -journal file means another connection is open or a write was interrupted: the file
    alone is not the whole database then."""
    return any(path.with_name(path.name + suffix).exists() for suffix in ("-wal", "-journal"))


def check_database_file(path: Path, busy_timeout_ms: int = 10_000) -> int:
    """Refuse anything but a sound cardsight collection (or a missing/empty file, a new one), and
    return its schema version (0 when new).

    Reads only: a refused file, and the folder it is in, are left exactly as they were.
    """
    if not path.exists():
        return 0
    if path.is_dir():
        raise CollectionError(f"{path} is a folder, not a collection database")
    try:
        with open(path, "rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as error:
        raise CollectionError(f"cannot read {path}: {error.strerror or error}") from error
    if len(header) == 0:
        return 0  # an empty file: a new collection
    if header != SQLITE_HEADER:
        raise CollectionError(f"{path} is not a cardsight collection (not an SQLite database); refusing to touch it")
    # Without side files the file is the whole database, and a snapshot read creates no -wal/-shm.
    snapshot = not _has_side_files(path)
    conn = sqlite3.connect(_read_only_uri(path, snapshot), uri=True, timeout=busy_timeout_ms / 1000)
    try:
        version = _check_identity(conn, path)
        _quick_check(conn, path)
    except sqlite3.DatabaseError as error:
        raise CollectionError(_damaged(path, error)) from error
    finally:
        conn.close()
    return version


def _damaged(path: Path, error: object) -> str:
    return f"{path} is damaged ({error}); it was left untouched. To recover: {RECOVERY}"


def _check_identity(conn: sqlite3.Connection, path: Path) -> int:
    """The schema version of a cardsight collection; refuses other programs' databases."""
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    if app_id != APPLICATION_ID:
        if tables:
            raise CollectionError(
                f"{path} is an SQLite database of another program (tables: {', '.join(tables[:5])}); refusing"
            )
        if version or app_id:
            raise CollectionError(
                f"{path} is an SQLite database of another program (application id {app_id},"
                f" version {version}); refusing"
            )
        return 0
    if version > len(MIGRATIONS):
        raise CollectionError(
            f"{path} is a collection of a newer cardsight (schema v{version}, this one reads up to"
            f" v{len(MIGRATIONS)}); update cardsight. The file was left untouched."
        )
    return int(version)


def _quick_check(conn: sqlite3.Connection, path: Path) -> None:
    """``PRAGMA quick_check`` (every page and record, not index contents), first 3 problems, at most
    :data:`QUICK_CHECK_SECONDS`: a huge file is opened unchecked rather than kept waiting."""
    deadline = time.monotonic() + QUICK_CHECK_SECONDS
    conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
    try:
        problems = [str(r[0]) for r in conn.execute("PRAGMA quick_check(3)").fetchall()]
    except sqlite3.OperationalError as error:
        if "interrupted" not in str(error):
            raise
        logger.warning("Integrity check of %s skipped after %.0f s", path, QUICK_CHECK_SECONDS)
        return
    finally:
        conn.set_progress_handler(None, 0)
    if problems != ["ok"]:
        raise CollectionError(_damaged(path, "; ".join(" ".join(p.split()) for p in problems)[:300]))


class Collection(SqlCollection):
    """One open collection database. Not shared between threads; open one per thread or process."""

    def __init__(
        self,
        path: str | Path,
        busy_timeout_ms: int = 10_000,
        synchronous: str = "FULL",
        readonly: bool = False,
    ) -> None:
        """``synchronous="FULL"`` (default) fsyncs every transaction: an acknowledged scan survives a
        crash of the app *and* a power cut. ``"NORMAL"`` survives the app being killed but may lose
        the last seconds on a power cut; it is ~3× faster (bench/collection.py).

        ``readonly=True`` never writes the file (nor creates it: a missing collection reads as empty)."""
        if synchronous not in ("FULL", "NORMAL"):
            raise CollectionError(f"synchronous must be FULL or NORMAL, not {synchronous!r}")
        self.path = Path(path)
        self.readonly = readonly
        version = check_database_file(self.path, busy_timeout_ms)
        if readonly and 0 < version < len(MIGRATIONS) and os.access(self.path, os.W_OK):
            # A collection of an older cardsight, already checked whole: brought up to date once, as the
            # app would on its next start, so reading it needs no second code path for old schemas.
            logger.info("Upgrading the collection %s from schema v%d to v%d", self.path, version, len(MIGRATIONS))
            Collection(self.path, busy_timeout_ms, synchronous).close()
            version = len(MIGRATIONS)
        #: True when a read-only open of a missing or empty file stands in an empty in-memory collection.
        self.stand_in = readonly and version == 0
        try:
            if readonly:
                conn = self._connect_readonly(version, busy_timeout_ms)
            else:
                conn = self._connect_writable(busy_timeout_ms, synchronous)
        except sqlite3.DatabaseError as error:
            raise CollectionError(f"cannot open the collection {self.path} ({error})") from error
        self.conn = conn
        self.db = sqlite_utils.Database(conn)
        if not readonly or self.stand_in:
            with self.write(migrating=True):
                migrate(self.db)
        if self.stand_in:
            conn.execute("PRAGMA query_only = ON")
        self.crops_dir = self.path.with_name(self.path.name + ".crops")
        self._known_cards: set[str] = set()

    def _connect_writable(self, busy_timeout_ms: int, synchronous: str) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise CollectionError(f"cannot create the folder {self.path.parent}: {error.strerror or error}") from error
        conn = sqlite3.connect(str(self.path), timeout=busy_timeout_ms / 1000, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.row_factory = sqlite3.Row
        return conn

    def _connect_readonly(self, version: int, busy_timeout_ms: int) -> sqlite3.Connection:
        if self.stand_in:
            conn = sqlite3.connect(":memory:", isolation_level=None)
        elif version < len(MIGRATIONS):
            raise CollectionError(
                f"{self.path} has an older schema (v{version}) and cannot be upgraded here (the file is"
                " read-only to you); open it once where it can be written to upgrade it"
            )
        else:
            conn = sqlite3.connect(
                _read_only_uri(self.path), uri=True, timeout=busy_timeout_ms / 1000, isolation_level=None
            )
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            conn.execute("PRAGMA query_only = ON")
        conn.row_factory = sqlite3.Row
        return conn

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Collection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def write(self, migrating: bool = False) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once (IMMEDIATE) so two writers queue instead of deadlocking.

        Any SQLite failure inside rolls the whole transaction back and becomes a :class:`CollectionError`."""
        if self.readonly and not migrating:
            raise CollectionError(f"the collection {self.path} was opened read-only")
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:
            raise CollectionError(f"the collection {self.path} is busy or locked ({error}); try again") from error
        except sqlite3.DatabaseError as error:
            raise CollectionError(_damaged(self.path, error)) from error
        try:
            yield self.conn
        except sqlite3.IntegrityError as error:
            self._rollback()
            raise CollectionError(f"change refused, nothing was written ({error})") from error
        except sqlite3.DatabaseError as error:
            self._rollback()
            raise CollectionError(self._write_failed(error)) from error
        except UnicodeEncodeError as error:
            self._rollback()
            raise not_text(error) from error
        except BaseException:
            self._rollback()
            raise
        try:
            self.conn.execute("COMMIT")
        except sqlite3.DatabaseError as error:
            self._rollback()
            raise CollectionError(self._write_failed(error)) from error

    def _write_failed(self, error: sqlite3.DatabaseError) -> str:
        if isinstance(error, sqlite3.OperationalError) and "locked" in str(error):
            return f"the collection {self.path} is busy or locked ({error}); nothing was written, try again"
        return (
            f"the collection {self.path} could not be changed ({error}); nothing was written."
            f" If it persists: {RECOVERY}"
        )

    def _rollback(self) -> None:
        # SQLite has already rolled back after some errors (a full disk, a damaged page).
        if not self.conn.in_transaction:
            return
        try:
            self.conn.execute("ROLLBACK")
        except sqlite3.DatabaseError as error:
            logger.warning("Rollback of %s failed: %s", self.path, error)

    # ------------------------------------------------------------------ transactions
    def read_with(self, work: Callable[[Tx], T]) -> T:
        return work(SqliteTx(self.conn))

    def write_with(self, work: Callable[[Tx], T]) -> T:
        with self.write() as conn:
            return work(SqliteTx(conn))

    # ------------------------------------------------------------------ what is only the file's
    def start_session(self, label: str, operator: str = "", location: str = "", kiosk_id: str = "") -> int:
        def start(tx: Tx) -> int:
            row = tx.one(
                "INSERT INTO sessions (label, operator, location, kiosk_id, started_at) VALUES (?, ?, ?, ?, ?)"
                " RETURNING id",
                (label, operator, location, kiosk_id, now()),
            )
            return int(row["id"]) if row else 0

        return self.write_with(start)

    def record_scan(self, scan: ScanRecord, auto_add: InventoryKey | None = None) -> int:
        """Log a scan (and, in kiosk auto-add mode, add its card) in one transaction; returns its id.

        When this returns, the scan is on disk.
        """
        # The crop goes to its own file first (a crash before the commit leaves an orphan file, never a
        # row pointing at nothing); the row then names it in the same INSERT.
        crop_path = save_crop(self.crops_dir, scan.crop_jpeg) if scan.crop_jpeg else None

        def record(tx: Tx) -> int:
            row = scan_values(tx, scan, crop_path)
            scan_id = insert_scan(tx, row) or 0
            add_automatically(tx, scan_id, row, scan.status, auto_add)
            return scan_id

        return self.write_with(record)

    def backup(self, out: str | Path) -> Path:
        """A consistent copy while the collection is in use (SQLite online backup API), checked with
        ``PRAGMA integrity_check`` before it takes the name ``out``: a copy that fails is deleted."""
        out = Path(out)
        if self.stand_in:
            raise CollectionError(f"there is no collection at {self.path} to back up")
        if out.exists() or out.is_symlink():
            raise CollectionError(f"{out} exists; choose a new file name")
        if not out.parent.is_dir():
            raise CollectionError(f"cannot back up to {out}: the folder {out.parent} does not exist")
        partial = out.with_name(f".{out.name}.{os.getpid()}.partial")
        try:
            self._copy_to(partial)
            problems = integrity_problems(partial)
            if problems:
                raise CollectionError(
                    f"the backup copy failed its integrity check ({problems}); the bad copy was deleted and"
                    f" {out} was not written. The collection itself may be damaged: {RECOVERY}"
                )
            _fsync(partial)
            partial.rename(out)
        except sqlite3.DatabaseError as error:
            raise CollectionError(f"backup to {out} failed ({error}); {out} was not written") from error
        except OSError as error:
            raise CollectionError(f"cannot back up to {out}: {error.strerror or error}") from error
        finally:
            _remove_with_side_files(partial)
        return out

    def _copy_to(self, target_path: Path) -> None:
        target = sqlite3.connect(str(target_path))
        try:
            self.conn.backup(target)
            # One self-contained file: the copy needs no -wal beside it wherever it is taken.
            target.execute("PRAGMA journal_mode = DELETE")
        finally:
            target.close()


def integrity_problems(path: Path) -> str:
    """'' when ``PRAGMA integrity_check`` passes on the database file at ``path``, else its first problems."""
    conn = sqlite3.connect(_read_only_uri(path, snapshot=True), uri=True)
    try:
        rows = [str(r[0]) for r in conn.execute("PRAGMA integrity_check(3)").fetchall()]
    except sqlite3.DatabaseError as error:
        return str(error)
    finally:
        conn.close()
    return "" if rows == ["ok"] else "; ".join(" ".join(r.split()) for r in rows)[:300]


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_with_side_files(path: Path) -> None:
    for suffix in ("", "-journal", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
