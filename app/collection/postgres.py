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

import json
import logging
import re
import socket
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row, tuple_row
from psycopg_pool import ConnectionPool, PoolTimeout

from app.collection.store import (
    MAX_QUANTITY,
    CollectionError,
    InventoryKey,
    ScanRecord,
    check_price,
    check_quantity,
    check_undo_count,
)

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

#: The columns the SQLite collection has, per table (what migration copies and checks).
COLUMNS: dict[str, tuple[str, ...]] = {
    "cards": ("card_id", "name", "set_id", "set_name", "number", "printed_total", "rarity", "supertype", "set_code"),
    "sessions": ("id", "label", "operator", "location", "kiosk_id", "started_at", "ended_at"),
    "actions": ("id", "time", "kind", "scan_id", "payload", "undone", "undone_at"),
    "scans": (
        "id", "time", "source", "session_id", "status", "card_id", "seen_card_id", "confidence", "margin",
        "alternatives", "ocr_text", "crop_path", "action", "corrected_from", "action_id",
    ),
    "inventory": (
        "id", "card_id", "finish", "condition", "language", "location", "quantity", "price_paid", "notes",
        "date_added",
    ),
    "inventory_changes": ("id", "action_id", "inventory_id", "delta", "scan_id"),
    "prices": (
        "id", "card_id", "finish", "source", "currency", "date", "price", "low", "mid", "high", "market",
        "figures", "fetched_at",
    ),
}  # fmt: skip
#: Parents before children: the order rows are copied in.
TABLE_ORDER = ("cards", "sessions", "actions", "scans", "inventory", "inventory_changes", "prices")


class ServerAway(CollectionError):
    """The shop server cannot be reached (down, wrong address, wrong password): nothing was written."""


def now() -> str:
    """The collection's timestamp format (UTC, milliseconds), as the SQLite store writes it."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1000) % 1000:03d}Z"


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


def _key_rest(key: InventoryKey | None) -> tuple[str, str, str, str]:
    k = key or InventoryKey("")
    return k.finish, k.condition, k.language, k.location


def _qmarks(sql: str) -> str:
    """SQLite-style ``?`` placeholders as psycopg's ``%s`` (literal ``%`` doubled first)."""
    return sql.replace("%", "%%").replace("?", "%s")


class Rows:
    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self._rows = rows

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self._rows

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._rows[0] if self._rows else None

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self._rows)


class ReadConnection:
    """``collection.conn.execute(sql, params)`` for callers still written against SQLite (reads only,
    ``?`` placeholders): a bridge until they use the contract's methods."""

    def __init__(self, store: PostgresCollection) -> None:
        self._store = store

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        if not sql.lstrip().upper().startswith(("SELECT", "WITH")):
            raise CollectionError("the shop collection takes changes through its methods, not raw SQL")
        return Rows(
            self._store._read(lambda c: c.cursor(row_factory=tuple_row).execute(_qmarks(sql), params).fetchall())
        )


class PostgresCollection:
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

    @property
    def conn(self) -> ReadConnection:
        return ReadConnection(self)

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

    def write(self) -> Iterator[Any]:
        raise CollectionError(
            "this command works on a local collection file only; use `cardsight collection migrate` to move"
            " the shop's collection to a file and back"
        )

    # ------------------------------------------------------------------ cards
    def upsert_cards(self, cards: Sequence[dict[str, Any]]) -> None:
        self._run(lambda conn: self._store_cards(conn, cards))

    def store_cards(self, cards: Sequence[dict[str, Any]]) -> None:
        self.upsert_cards(cards)

    @staticmethod
    def _store_cards(conn: psycopg.Connection[Any], cards: Sequence[dict[str, Any]]) -> None:
        columns = COLUMNS["cards"]
        rows = [
            (*tuple(c.get(k) for k in columns[:-1]), c.get("set_code") or c.get("ptcgo_code"))
            for c in sorted(cards, key=lambda c: str(c.get("card_id")))
        ]
        if not rows:
            return
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns[1:])
        with conn.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO cards ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"
                f" ON CONFLICT (card_id) DO UPDATE SET {updates}",
                rows,
            )

    def has_card(self, card_id: str) -> bool:
        if card_id in self._known_cards:
            return True
        found = self._read(lambda c: c.execute("SELECT 1 AS x FROM cards WHERE card_id = %s", (card_id,)).fetchone())
        if found:
            self._known_cards.add(card_id)
        return found is not None

    def card_ids(self) -> set[str]:
        return {r["card_id"] for r in self._read(lambda c: c.execute("SELECT card_id FROM cards").fetchall())}

    # ------------------------------------------------------------------ sessions
    def start_session(
        self, label: str, operator: str = "", location: str = "", kiosk_id: str = "", uid: str | None = None,
        started_at: str | None = None,
    ) -> int:  # fmt: skip
        """A new session; with ``uid``, the one already started under it (a replay starts it once)."""

        key = uid or str(uuid.uuid4())

        def start(conn: psycopg.Connection[dict[str, Any]]) -> int:
            conn.execute(
                "INSERT INTO sessions (label, operator, location, kiosk_id, started_at, uid)"
                " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (uid) DO NOTHING",
                (label, operator, location, kiosk_id or self.kiosk, started_at or now(), key),
            )
            row = conn.execute("SELECT id FROM sessions WHERE uid = %s", (key,)).fetchone()
            return int(row["id"]) if row else 0

        return self._run(start)

    def end_session(self, session_id: int, ended_at: str | None = None) -> None:
        self._run(
            lambda c: c.execute("UPDATE sessions SET ended_at = %s WHERE id = %s", (ended_at or now(), session_id))
        )

    def session_summary(self, session_id: int) -> dict[str, Any]:
        def summary(conn: psycopg.Connection[dict[str, Any]]) -> dict[str, Any]:
            session = conn.execute(
                f"SELECT {', '.join(COLUMNS['sessions'])} FROM sessions WHERE id = %s", (session_id,)
            ).fetchone()
            if session is None:
                raise CollectionError(f"no session {session_id}")
            statuses = {
                r["status"]: int(r["n"])
                for r in conn.execute(
                    "SELECT status, COUNT(*) AS n FROM scans WHERE session_id = %s GROUP BY status", (session_id,)
                )
            }
            return {**session, "scans": sum(statuses.values()), "scans_by_status": statuses}

        result = self._read(summary)
        result["cards_added"] = sum(self.session_quantities(session_id).values())
        return result

    def sessions(self) -> list[dict[str, Any]]:
        columns = ", ".join(f"s.{c}" for c in COLUMNS["sessions"])
        rows = self._read(
            lambda c: c.execute(
                f"SELECT {columns},"
                " (SELECT COUNT(*) FROM scans WHERE session_id = s.id) AS scans,"
                " (SELECT array_agg(DISTINCT source ORDER BY source) FROM scans WHERE session_id = s.id"
                " AND source != '') AS sources,"
                " (SELECT COALESCE(SUM(c.delta), 0) FROM inventory_changes c JOIN actions a ON a.id = c.action_id"
                " JOIN scans sc ON sc.id = c.scan_id WHERE a.undone = 0 AND sc.session_id = s.id) AS cards_added"
                " FROM sessions s ORDER BY s.id"
            ).fetchall()
        )
        return [
            {**r, "scans": int(r["scans"]), "cards_added": int(r["cards_added"]), "sources": r["sources"] or []}
            for r in rows
        ]

    def find_sessions(self, ref: str) -> list[dict[str, Any]]:
        ref = ref.strip()
        columns = ", ".join(COLUMNS["sessions"])

        def find(conn: psycopg.Connection[dict[str, Any]]) -> list[dict[str, Any]]:
            if ref.isascii() and ref.isdigit() and len(ref) <= 18:
                by_id = conn.execute(f"SELECT {columns} FROM sessions WHERE id = %s", (int(ref),)).fetchall()
                if by_id:
                    return by_id
            exact = conn.execute(f"SELECT {columns} FROM sessions WHERE label = %s ORDER BY id", (ref,)).fetchall()
            if exact:
                return exact
            folded = ref.casefold()
            every = conn.execute(f"SELECT {columns} FROM sessions ORDER BY id").fetchall()
            return [r for r in every if str(r["label"]).strip().casefold() == folded]

        return self._read(find)

    def resolve_session(self, ref: str) -> int:
        if not ref.strip():
            raise CollectionError("a session is named by its id or its label, not an empty text")
        found = self.find_sessions(ref)
        if not found:
            raise CollectionError(
                f"no session with the id or label {ref.strip()!r}; `cardsight collection sessions` lists them"
            )
        if len(found) > 1:
            ids = ", ".join(str(s["id"]) for s in found)
            raise CollectionError(
                f"the label {ref.strip()!r} names {len(found)} sessions (ids {ids}); choose one by its id"
            )
        return int(found[0]["id"])

    # ------------------------------------------------------------------ scans
    def write_crop(self, jpeg: bytes) -> str:
        """The crop as a file of this kiosk (its name goes into the scan row)."""
        if len(jpeg) > 200_000:
            raise CollectionError("crop image too large (over 200 KB); store a small JPEG")
        self.crops_dir.mkdir(parents=True, exist_ok=True)
        name = f"{uuid.uuid4().hex}.jpg"
        (self.crops_dir / name).write_bytes(jpeg)
        return name

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
        uid = uid or str(uuid.uuid4())
        row = {
            "time": time_ or now(),
            "source": scan.source,
            "session_id": scan.session_id,
            "status": scan.status,
            "card_id": None,
            "seen_card_id": scan.card_id,
            "confidence": scan.confidence,
            "margin": scan.margin,
            "alternatives": json.dumps(scan.alternatives[:5]),
            "ocr_text": scan.ocr_text,
            "crop_path": crop_path,
            "action": "pending",
            "uid": uid,
            "kiosk": self.kiosk,
        }

        def record(conn: psycopg.Connection[dict[str, Any]]) -> int:
            known = (
                scan.card_id and conn.execute("SELECT 1 AS x FROM cards WHERE card_id = %s", (scan.card_id,)).fetchone()
            )
            row["card_id"] = scan.card_id if known else None
            inserted = conn.execute(
                f"INSERT INTO scans ({', '.join(row)}) VALUES ({', '.join(['%s'] * len(row))})"
                " ON CONFLICT (uid) DO NOTHING RETURNING id",
                tuple(row.values()),
            ).fetchone()
            if inserted is None:
                existing = conn.execute("SELECT id FROM scans WHERE uid = %s", (uid,)).fetchone()
                return int(existing["id"]) if existing else 0
            scan_id = int(inserted["id"])
            if auto_add is not None and scan.status == "identified" and row["card_id"]:
                before = {**{k: v for k, v in row.items() if k not in ("uid", "kiosk")}, "id": scan_id,
                          "corrected_from": None, "action_id": None}  # fmt: skip
                self._accept(conn, scan_id, InventoryKey(str(row["card_id"]), *_key_rest(auto_add)), 1, before)
            return scan_id

        return self._run(record)

    def scan_id_of(self, uid: str) -> int | None:
        """The server id of the scan recorded under ``uid`` (None when it has not arrived)."""
        row = self._read(lambda c: c.execute("SELECT id FROM scans WHERE uid = %s", (uid,)).fetchone())
        return int(row["id"]) if row else None

    def accept_scan(self, scan_id: int, key: InventoryKey | None = None, quantity: int = 1) -> None:
        check_quantity(quantity)

        def accept(conn: psycopg.Connection[dict[str, Any]]) -> None:
            row = self._scan(conn, scan_id, lock=True)
            if row["action"] in ("accepted", "corrected"):
                raise CollectionError(f"scan {scan_id} was already added")
            card_id = key.card_id if key else row["card_id"]
            if not card_id:
                raise CollectionError(f"scan {scan_id} has no card: choose one")
            self._accept(
                conn, scan_id, InventoryKey(card_id, *_key_rest(key)) if key else InventoryKey(card_id), quantity
            )

        self._run(accept)

    def reject_scan(self, scan_id: int) -> int:
        """As the SQLite store's: only this scan's own net changes come out, as deltas in one action."""

        def reject(conn: psycopg.Connection[dict[str, Any]]) -> int:
            row = self._scan(conn, scan_id, lock=True)
            action_id = self._action(conn, "reject", scan_id, {"scan_before": row})
            taken = 0
            for change in conn.execute(
                "SELECT c.inventory_id, SUM(c.delta) AS delta FROM inventory_changes c"
                " JOIN actions a ON a.id = c.action_id WHERE c.scan_id = %s AND a.undone = 0"
                " GROUP BY c.inventory_id HAVING SUM(c.delta) > 0 ORDER BY c.inventory_id",
                (scan_id,),
            ).fetchall():
                self._change(conn, action_id, int(change["inventory_id"]), -int(change["delta"]), scan_id)
                taken += int(change["delta"])
            conn.execute("UPDATE scans SET action = 'rejected', action_id = %s WHERE id = %s", (action_id, scan_id))
            return taken

        return self._run(reject)

    def correct_scan(self, scan_id: int, card_id: str) -> None:
        """The scan was another card: only this scan's own deltas move (another kiosk's work stays)."""

        def correct(conn: psycopg.Connection[dict[str, Any]]) -> None:
            row = self._scan(conn, scan_id, lock=True)
            self._require_card(conn, card_id)
            if row["card_id"] == card_id:
                return
            action_id = self._action(conn, "correct", scan_id, {"scan_before": row})
            if row["action"] in ("accepted", "corrected"):
                for change in conn.execute(
                    "SELECT c.inventory_id, SUM(c.delta) AS delta FROM inventory_changes c"
                    " JOIN actions a ON a.id = c.action_id WHERE c.scan_id = %s AND a.undone = 0"
                    " GROUP BY c.inventory_id HAVING SUM(c.delta) != 0 ORDER BY c.inventory_id",
                    (scan_id,),
                ).fetchall():
                    inventory_id, delta = int(change["inventory_id"]), int(change["delta"])
                    self._change(conn, action_id, inventory_id, -delta, scan_id)
                    old = self._inventory(conn, inventory_id)
                    key = InventoryKey(card_id, old["finish"], old["condition"], old["language"], old["location"])
                    self._change(conn, action_id, self._inventory_row(conn, key), delta, scan_id)
            conn.execute(
                "UPDATE scans SET card_id = %s, corrected_from = %s,"
                " action = CASE WHEN action IN ('accepted','corrected') THEN 'corrected' ELSE action END,"
                " action_id = %s WHERE id = %s",
                (card_id, row["card_id"], action_id, scan_id),
            )

        self._run(correct)

    # ------------------------------------------------------------------ inventory edits
    def add(
        self, key: InventoryKey, quantity: int = 1, notes: str | None = None, price_paid: float | None = None
    ) -> int:
        check_quantity(quantity)
        check_price(price_paid)
        key.validate()

        def add(conn: psycopg.Connection[dict[str, Any]]) -> int:
            self._require_card(conn, key.card_id)
            action_id = self._action(conn, "add", None, {"key": key.__dict__, "quantity": quantity})
            inventory_id = self._inventory_row(conn, key)
            self._change(conn, action_id, inventory_id, quantity, None)
            if notes is not None or price_paid is not None:
                conn.execute(
                    "UPDATE inventory SET notes = COALESCE(%s, notes), price_paid = COALESCE(%s, price_paid)"
                    " WHERE id = %s",
                    (notes, price_paid, inventory_id),
                )
            return inventory_id

        return self._run(add)

    def set_quantity(self, inventory_id: int, quantity: int) -> None:
        """An explicit count (a stock take): the row is locked while it is read and changed."""
        check_quantity(quantity, smallest=0)

        def set_(conn: psycopg.Connection[dict[str, Any]]) -> None:
            current = int(self._inventory(conn, inventory_id, lock=True)["quantity"])
            if quantity != current:
                action_id = self._action(conn, "edit", None, {"inventory_id": inventory_id})
                self._change(conn, action_id, inventory_id, quantity - current, None)

        self._run(set_)

    def move(
        self,
        inventory_id: int,
        finish: str | None = None,
        condition: str | None = None,
        language: str | None = None,
        location: str | None = None,
    ) -> int:
        def move(conn: psycopg.Connection[dict[str, Any]]) -> int:
            row = self._inventory(conn, inventory_id, lock=True)
            key = InventoryKey(
                row["card_id"],
                finish or row["finish"],
                condition or row["condition"],
                language or row["language"],
                row["location"] if location is None else location,
            )
            key.validate()
            target = self._inventory_row(conn, key)
            if target != inventory_id and row["quantity"]:
                action_id = self._action(conn, "edit", None, {"inventory_id": inventory_id, "to": target})
                self._change(conn, action_id, inventory_id, -int(row["quantity"]), None)
                self._change(conn, action_id, target, int(row["quantity"]), None)
            return target

        return self._run(move)

    def merge(self, keep_id: int, other_id: int) -> None:
        def merge(conn: psycopg.Connection[dict[str, Any]]) -> None:
            keep = self._inventory(conn, keep_id, lock=True)
            other = self._inventory(conn, other_id, lock=True)
            if keep["card_id"] != other["card_id"]:
                raise CollectionError("only rows of the same card can be merged")
            action_id = self._action(conn, "merge", None, {"keep": keep_id, "other": other_id})
            if other["quantity"]:
                self._change(conn, action_id, other_id, -int(other["quantity"]), None)
                self._change(conn, action_id, keep_id, int(other["quantity"]), None)

        self._run(merge)

    # ------------------------------------------------------------------ undo (this kiosk's actions only)
    def undoable(self, count: int = 1) -> list[dict[str, Any]]:
        check_undo_count(count)
        return self._read(lambda c: self._undoable(c, count, lock=False))

    def undo(self, count: int = 1, expected: Sequence[int] | None = None) -> list[dict[str, Any]]:
        check_undo_count(count)

        def undo(conn: psycopg.Connection[dict[str, Any]]) -> list[dict[str, Any]]:
            actions = self._undoable(conn, count, lock=True)
            if expected is not None and [a["id"] for a in actions] != list(expected):
                raise CollectionError("the collection changed since the list was shown; nothing was undone, try again")
            for action in actions:
                for change in conn.execute(
                    "SELECT inventory_id, delta FROM inventory_changes WHERE action_id = %s ORDER BY id DESC",
                    (action["id"],),
                ).fetchall():
                    self._apply_delta(conn, int(change["inventory_id"]), -int(change["delta"]))
                before = json.loads(action["payload"] or "{}").get("scan_before")
                if before:
                    conn.execute(
                        "UPDATE scans SET card_id = %s, action = %s, corrected_from = %s, action_id = %s WHERE id = %s",
                        (
                            before["card_id"],
                            before["action"],
                            before["corrected_from"],
                            before["action_id"],
                            before["id"],
                        ),
                    )
                conn.execute("UPDATE actions SET undone = 1, undone_at = %s WHERE id = %s", (now(), action["id"]))
            return actions

        return self._run(undo)

    def _undoable(self, conn: psycopg.Connection[dict[str, Any]], count: int, lock: bool) -> list[dict[str, Any]]:
        return conn.execute(
            "SELECT * FROM actions WHERE undone = 0 AND kiosk = %s ORDER BY id DESC LIMIT %s"
            + (" FOR UPDATE" if lock else ""),
            (self.kiosk, count),
        ).fetchall()

    # ------------------------------------------------------------------ reading
    def inventory(
        self,
        query: str = "",
        set_id: str | None = None,
        rarity: str | None = None,
        finish: str | None = None,
        condition: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        where, args = self._inventory_where(query, set_id, rarity, finish, condition)
        sql = [
            "SELECT i.*, c.name, c.set_id, c.set_name, c.number, c.printed_total, c.rarity, c.supertype, c.set_code",
            "FROM inventory i JOIN cards c ON c.card_id = i.card_id",
            where,
            # SQLite's order: text byte by byte, a number's leading digits as a whole number (else 0).
            "ORDER BY c.set_id COLLATE \"C\", COALESCE(substring(c.number from '^[0-9]{1,18}')::bigint, 0),"
            ' c.number COLLATE "C", i.finish COLLATE "C", i.condition COLLATE "C", i.language COLLATE "C",'
            ' i.location COLLATE "C"',
        ]
        if limit:
            sql.append(f"LIMIT {int(limit)} OFFSET {int(offset)}")
        rows = self._read(lambda c: c.execute(" ".join(sql), args).fetchall())
        return [{**r, "quantity": int(r["quantity"])} for r in rows]

    def inventory_totals(
        self,
        query: str = "",
        set_id: str | None = None,
        rarity: str | None = None,
        finish: str | None = None,
        condition: str | None = None,
    ) -> tuple[int, int]:
        where, args = self._inventory_where(query, set_id, rarity, finish, condition)
        row = self._read(
            lambda c: c.execute(
                "SELECT COUNT(*) AS n, COALESCE(SUM(i.quantity), 0) AS cards"
                f" FROM inventory i JOIN cards c ON c.card_id = i.card_id {where}",
                args,
            ).fetchone()
        )
        return (int(row["n"]), int(row["cards"])) if row else (0, 0)

    def inventory_values(self, column: str) -> list[str]:
        source = {"set_id": "c.set_id", "rarity": "c.rarity", "finish": "i.finish", "condition": "i.condition"}[column]
        rows = self._read(
            lambda c: c.execute(
                f'SELECT DISTINCT {source} COLLATE "C" AS v FROM inventory i JOIN cards c ON c.card_id = i.card_id'
                f" WHERE i.quantity > 0 AND {source} IS NOT NULL ORDER BY 1"
            ).fetchall()
        )
        return [str(r["v"]) for r in rows]

    @staticmethod
    def _inventory_where(
        query: str, set_id: str | None, rarity: str | None, finish: str | None, condition: str | None
    ) -> tuple[str, list[Any]]:
        sql = ["WHERE i.quantity > 0"]
        args: list[Any] = []
        if query:
            sql.append("AND (c.name ILIKE %s OR c.number = %s OR c.card_id = %s OR c.set_name ILIKE %s)")
            like = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            args += [like, query, query, like]
        for column, value in (
            ("c.set_id", set_id),
            ("c.rarity", rarity),
            ("i.finish", finish),
            ("i.condition", condition),
        ):
            if value:
                sql.append(f"AND {column} = %s")
                args.append(value)
        return " ".join(sql), args

    def session_quantities(self, session_id: int) -> dict[int, int]:
        rows = self._read(
            lambda c: c.execute(
                "SELECT c.inventory_id, SUM(c.delta) AS delta FROM inventory_changes c"
                " JOIN actions a ON a.id = c.action_id JOIN scans s ON s.id = c.scan_id"
                " WHERE a.undone = 0 AND s.session_id = %s GROUP BY c.inventory_id",
                (session_id,),
            ).fetchall()
        )
        return {int(r["inventory_id"]): int(r["delta"]) for r in rows if r["delta"]}

    def scan_row(self, scan_id: int) -> dict[str, Any]:
        return self._read(lambda c: self._scan(c, scan_id, lock=False))

    def scans(self, session_id: int | None = None) -> list[dict[str, Any]]:
        if session_id is None:
            return self._read(lambda c: c.execute("SELECT * FROM scans ORDER BY id").fetchall())
        return self._read(
            lambda c: c.execute("SELECT * FROM scans WHERE session_id = %s ORDER BY id", (session_id,)).fetchall()
        )

    def replayed_quantities(self) -> dict[int, int]:
        rows = self._read(
            lambda c: c.execute(
                "SELECT c.inventory_id, SUM(c.delta) AS delta FROM inventory_changes c"
                " JOIN actions a ON a.id = c.action_id WHERE a.undone = 0 GROUP BY c.inventory_id"
            ).fetchall()
        )
        return {int(r["inventory_id"]): int(r["delta"]) for r in rows}

    def stored_quantities(self) -> dict[int, int]:
        rows = self._read(lambda c: c.execute("SELECT id, quantity FROM inventory").fetchall())
        return {int(r["id"]): int(r["quantity"]) for r in rows}

    def set_names(self) -> dict[str, str]:
        rows = self._read(
            lambda c: c.execute(
                "SELECT DISTINCT set_id, COALESCE(set_name, set_id) AS name FROM cards WHERE set_id IS NOT NULL"
            ).fetchall()
        )
        return {str(r["set_id"]): str(r["name"]) for r in rows}

    def inventory_card_name(self, inventory_id: int) -> str | None:
        row = self._read(
            lambda c: c.execute(
                "SELECT c.name FROM inventory i JOIN cards c ON c.card_id = i.card_id WHERE i.id = %s",
                (inventory_id,),
            ).fetchone()
        )
        return str(row["name"]) if row else None

    def inventory_quantity(self, inventory_id: int) -> int | None:
        row = self._read(
            lambda c: c.execute("SELECT quantity FROM inventory WHERE id = %s", (inventory_id,)).fetchone()
        )
        return int(row["quantity"]) if row else None

    def scan_holdings(self, scan_id: int) -> list[tuple[int, int]]:
        rows = self._read(
            lambda c: c.execute(
                "SELECT c.inventory_id, SUM(c.delta) AS delta FROM inventory_changes c"
                " JOIN actions a ON a.id = c.action_id WHERE c.scan_id = %s AND a.undone = 0"
                " GROUP BY c.inventory_id HAVING SUM(c.delta) > 0 ORDER BY c.inventory_id",
                (scan_id,),
            ).fetchall()
        )
        return [(int(r["inventory_id"]), int(r["delta"])) for r in rows]

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

    # ------------------------------------------------------------------ internals
    def _require_card(self, conn: psycopg.Connection[dict[str, Any]], card_id: str) -> None:
        if not conn.execute("SELECT 1 AS x FROM cards WHERE card_id = %s", (card_id,)).fetchone():
            raise CollectionError(
                f"unknown card {card_id!r} (not in the collection's card list or the reference bundle)"
            )

    def _scan(self, conn: psycopg.Connection[dict[str, Any]], scan_id: int, lock: bool) -> dict[str, Any]:
        columns = ", ".join(COLUMNS["scans"])
        row = conn.execute(
            f"SELECT {columns}, uid, kiosk FROM scans WHERE id = %s" + (" FOR UPDATE" if lock else ""), (scan_id,)
        ).fetchone()
        if row is None:
            raise CollectionError(f"no scan {scan_id}")
        return row

    def _inventory(
        self, conn: psycopg.Connection[dict[str, Any]], inventory_id: int, lock: bool = False
    ) -> dict[str, Any]:
        row = conn.execute(
            "SELECT * FROM inventory WHERE id = %s" + (" FOR UPDATE" if lock else ""), (inventory_id,)
        ).fetchone()
        if row is None:
            raise CollectionError(f"no inventory row {inventory_id}")
        return row

    def _accept(
        self,
        conn: psycopg.Connection[dict[str, Any]],
        scan_id: int,
        key: InventoryKey,
        quantity: int,
        before: dict[str, Any] | None = None,
    ) -> None:
        key.validate()
        self._require_card(conn, key.card_id)
        if before is None:
            before = {k: v for k, v in self._scan(conn, scan_id, lock=False).items() if k not in ("uid", "kiosk")}
        action_id = self._action(conn, "add", scan_id, {"scan_before": before, "key": key.__dict__})
        self._change(conn, action_id, self._inventory_row(conn, key), quantity, scan_id)
        conn.execute(
            "UPDATE scans SET action = 'accepted', card_id = %s, action_id = %s WHERE id = %s",
            (key.card_id, action_id, scan_id),
        )

    def _action(
        self, conn: psycopg.Connection[dict[str, Any]], kind: str, scan_id: int | None, payload: dict[str, Any]
    ) -> int:
        payload = {**payload, "scan_before": _plain(payload["scan_before"])} if "scan_before" in payload else payload
        row = conn.execute(
            "INSERT INTO actions (time, kind, scan_id, payload, undone, kiosk)"
            " VALUES (%s, %s, %s, %s, 0, %s) RETURNING id",
            (now(), kind, scan_id, json.dumps(payload, default=str), self.kiosk),
        ).fetchone()
        return int(row["id"]) if row else 0

    @staticmethod
    def _inventory_row(conn: psycopg.Connection[dict[str, Any]], key: InventoryKey) -> int:
        # One statement that returns the row whether it is new or not (two kiosks may add it at once).
        row = conn.execute(
            "INSERT INTO inventory (card_id, finish, condition, language, location, quantity)"
            " VALUES (%s, %s, %s, %s, %s, 0) ON CONFLICT (card_id, finish, condition, language, location)"
            " DO UPDATE SET card_id = EXCLUDED.card_id RETURNING id",
            (key.card_id, key.finish, key.condition, key.language, key.location),
        ).fetchone()
        return int(row["id"]) if row else 0

    def _change(
        self,
        conn: psycopg.Connection[dict[str, Any]],
        action_id: int,
        inventory_id: int,
        delta: int,
        scan_id: int | None,
    ) -> None:
        if delta == 0:
            return
        self._apply_delta(conn, inventory_id, delta)
        conn.execute(
            "INSERT INTO inventory_changes (action_id, inventory_id, delta, scan_id) VALUES (%s, %s, %s, %s)",
            (action_id, inventory_id, delta, scan_id),
        )

    @staticmethod
    def _apply_delta(conn: psycopg.Connection[dict[str, Any]], inventory_id: int, delta: int) -> None:
        if abs(delta) > MAX_QUANTITY:
            raise CollectionError(f"a change of {delta} cards is over the limit of {MAX_QUANTITY:,} per inventory row")
        row = conn.execute(
            "UPDATE inventory SET quantity = quantity + %s WHERE id = %s"
            " RETURNING quantity, card_id, finish, condition, language, location",
            (delta, inventory_id),
        ).fetchone()
        if row is not None and row["quantity"] > MAX_QUANTITY:
            where = ", ".join(str(row[k]) for k in ("finish", "condition", "language", "location") if row[k])
            raise CollectionError(
                f"{row['card_id']} ({where}) would hold {row['quantity']:,} cards; one inventory row holds at most"
                f" {MAX_QUANTITY:,}"
            )


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in ("uid", "kiosk")}
