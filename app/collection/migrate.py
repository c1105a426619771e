"""Move a collection between an SQLite file and a shop server (PostgreSQL), verified.

Every row of every table is copied with its id in one transaction on the target; the copy is then
read back and compared with the source table by table — row counts and a SHA-256 over the rows in a
canonical form — before it is kept. A target that already holds a collection is refused (a
migration never merges into, or overwrites, other data); a file copy that fails its check is deleted.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.collection.postgres import COLUMNS, TABLE_ORDER, PostgresCollection
from app.collection.store import Collection, CollectionError, integrity_problems

logger = logging.getLogger(__name__)


@dataclass
class MigrationReport:
    source: str
    target: str
    counts: dict[str, int] = field(default_factory=dict)
    checksums: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        rows = ", ".join(f"{n} {table}" for table, n in self.counts.items() if n)
        return f"Copied {self.source} to {self.target}: {rows or 'an empty collection'} (counts and checksums match)"


def canonical(value: Any) -> str:
    if value is None:
        return "\x00"
    if isinstance(value, float):
        return repr(value)
    return f"{type(value).__name__[0]}{value}"


def table_digest(rows: list[tuple[Any, ...]]) -> str:
    """SHA-256 of the rows, ordered by their first column, each value in a canonical text."""
    digest = hashlib.sha256()
    for row in sorted(rows, key=lambda r: (str(type(r[0])), r[0])):
        digest.update("\x1f".join(canonical(v) for v in row).encode() + b"\x1e")
    return digest.hexdigest()


def sqlite_rows(collection: Collection, table: str) -> list[tuple[Any, ...]]:
    columns = ", ".join(COLUMNS[table])
    return [tuple(r) for r in collection.db.execute(f"SELECT {columns} FROM {table}").fetchall()]


def _compare(source: dict[str, list[tuple[Any, ...]]], target: dict[str, list[tuple[Any, ...]]]) -> dict[str, str]:
    """The per-table checksums; a :class:`CollectionError` naming the first table that differs."""
    sums = {}
    for table in TABLE_ORDER:
        if len(source[table]) != len(target[table]):
            raise CollectionError(
                f"verification failed: {table} has {len(source[table])} rows, the copy {len(target[table])}"
            )
        sums[table] = table_digest(source[table])
        if sums[table] != table_digest(target[table]):
            raise CollectionError(f"verification failed: the rows of {table} differ in the copy")
    return sums


def _report(source: str, target: str, rows: dict[str, list[tuple[Any, ...]]], sums: dict[str, str]) -> MigrationReport:
    return MigrationReport(source, target, {t: len(rows[t]) for t in TABLE_ORDER}, sums)


# ---------------------------------------------------------------------------- SQLite → server


def copy_sqlite_to_postgres(source: Path, server: PostgresCollection) -> MigrationReport:
    if not source.exists():
        raise CollectionError(f"there is no collection at {source}")
    with Collection(source, readonly=True) as local:
        rows = {table: sqlite_rows(local, table) for table in TABLE_ORDER}
    server.ensure_schema()

    def load(conn: Any) -> None:
        held = conn.execute("SELECT (SELECT COUNT(*) FROM cards) + (SELECT COUNT(*) FROM scans) AS n").fetchone()
        if held and held["n"]:
            raise CollectionError(
                f"the shop database {server.path} already holds a collection; migrate into a new, empty database"
            )
        with conn.cursor() as cursor:
            for table in TABLE_ORDER:
                columns = COLUMNS[table]
                if rows[table]:
                    cursor.executemany(
                        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})",
                        rows[table],
                    )
                if "id" in columns:
                    # New rows on the server continue after the copied ids.
                    conn.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                        f" COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
                    )

    server._run(load)
    copied = {table: server.table_rows(table) for table in TABLE_ORDER}
    sums = _compare(rows, copied)
    return _report(str(source), server.path, rows, sums)


# ---------------------------------------------------------------------------- server → SQLite


def copy_postgres_to_sqlite(server: PostgresCollection, out: Path) -> Path:
    """Everything on the server into a new SQLite collection ``out``, verified, else no file."""
    copy_postgres_to_sqlite_report(server, out)
    return out


def copy_postgres_to_sqlite_report(server: PostgresCollection, out: Path) -> MigrationReport:
    if out.exists() or out.is_symlink():
        raise CollectionError(f"{out} exists; choose a new file name")
    if not out.parent.is_dir():
        raise CollectionError(f"cannot write {out}: the folder {out.parent} does not exist")
    server.ensure_schema()
    rows = {table: server.table_rows(table) for table in TABLE_ORDER}
    partial = out.with_name(f".{out.name}.{os.getpid()}.partial")
    try:
        with Collection(partial) as local:
            with local.write() as conn:
                for table in TABLE_ORDER:
                    columns = COLUMNS[table]
                    conn.executemany(
                        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                        rows[table],
                    )
            copied = {table: sqlite_rows(local, table) for table in TABLE_ORDER}
            local.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            local.conn.execute("PRAGMA journal_mode = DELETE")
        sums = _compare(rows, copied)
        problems = integrity_problems(partial)
        if problems:
            raise CollectionError(f"the copy failed its integrity check ({problems}); {out} was not written")
        partial.rename(out)
    except sqlite3.DatabaseError as error:
        raise CollectionError(f"writing {out} failed ({error}); {out} was not written") from error
    except OSError as error:
        raise CollectionError(f"cannot write {out}: {error.strerror or error}") from error
    finally:
        for suffix in ("", "-journal", "-wal", "-shm"):
            partial.with_name(partial.name + suffix).unlink(missing_ok=True)
    return _report(server.path, str(out), rows, sums)
