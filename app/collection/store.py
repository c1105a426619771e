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

import json
import logging
import math
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlite_utils

from app.collection.schema import APPLICATION_ID, MIGRATIONS, migrate

logger = logging.getLogger(__name__)

FINISHES = ("normal", "holo", "reverse holo", "1st edition", "1st edition holo", "shadowless", "stamped")
CONDITIONS = ("NM", "LP", "MP", "HP", "DMG")
SQLITE_HEADER = b"SQLite format 3\x00"
#: The most cards one inventory row (card, finish, condition, language, location) may hold; far above
#: any real collection, and far below where SQLite integers overflow into floats.
MAX_QUANTITY = 1_000_000
#: The most actions one undo may take back (each is listed before it is undone).
MAX_UNDO = 100
#: How long the integrity check on open may run before it is skipped (with a warning).
QUICK_CHECK_SECONDS = 10.0
RECOVERY = (
    "restore a backup made by `cardsight collection backup`, or move the file away to start a new "
    "collection (experts: sqlite3's `.recover`)"
)


class CollectionError(ValueError):
    """A clear, user-facing problem with the collection or a request to it."""


@dataclass(frozen=True)
class InventoryKey:
    card_id: str
    finish: str = "normal"
    condition: str = "NM"
    language: str = "English"
    location: str = ""

    def validate(self) -> None:
        if self.finish not in FINISHES:
            raise CollectionError(f"unknown finish {self.finish!r} (one of: {', '.join(FINISHES)})")
        if self.condition not in CONDITIONS:
            raise CollectionError(f"unknown condition {self.condition!r} (one of: {', '.join(CONDITIONS)})")


@dataclass
class ScanRecord:
    """What the scanner saw and proposed; ``card_id`` is its choice (None when unknown)."""

    status: str
    card_id: str | None
    confidence: float = 0.0
    margin: float = 0.0
    alternatives: list[dict[str, Any]] = field(default_factory=list)
    ocr_text: str | None = None
    source: str = ""
    session_id: int | None = None
    crop_jpeg: bytes | None = None


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1000) % 1000:03d}Z"


def check_quantity(quantity: int, smallest: int = 1) -> None:
    """Refuse a quantity outside ``smallest``..:data:`MAX_QUANTITY` (before it reaches SQLite, which
    would overflow on huge numbers)."""
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise CollectionError(f"quantity must be a whole number, not {quantity!r}")
    if quantity < smallest:
        raise CollectionError(
            "quantity cannot be negative" if smallest == 0 else f"quantity must be at least {smallest}"
        )
    if quantity > MAX_QUANTITY:
        raise CollectionError(f"quantity {quantity} is over the limit of {MAX_QUANTITY:,} cards per inventory row")


def check_price(price: float | None) -> None:
    if price is not None and (not math.isfinite(price) or price < 0):
        raise CollectionError(f"price paid must be a number of 0 or more, not {price!r}")


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


class Collection:
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

    # ------------------------------------------------------------------ cards
    def upsert_cards(self, cards: Sequence[dict[str, Any]]) -> None:
        """Catalogue metadata the collection refers to (exports work without the bundle)."""
        with self.write():
            self.store_cards(cards)

    def store_cards(self, cards: Sequence[dict[str, Any]]) -> None:
        """:meth:`upsert_cards` inside the caller's :meth:`write` transaction."""
        columns = ("card_id", "name", "set_id", "set_name", "number", "printed_total", "rarity", "supertype")
        rows = [{**{k: c.get(k) for k in columns}, "set_code": c.get("set_code") or c.get("ptcgo_code")} for c in cards]
        if rows:
            self.db.table("cards").upsert_all(rows, pk="card_id")

    def has_card(self, card_id: str) -> bool:
        # Cards are only ever added, so a positive answer can be remembered.
        if card_id in self._known_cards:
            return True
        found = self.conn.execute("SELECT 1 FROM cards WHERE card_id = ?", (card_id,)).fetchone() is not None
        if found:
            self._known_cards.add(card_id)
        return found

    def card_ids(self) -> set[str]:
        """Every card whose metadata the collection holds."""
        return {str(r[0]) for r in self.conn.execute("SELECT card_id FROM cards")}

    def _require_card(self, card_id: str) -> None:
        if not self.has_card(card_id):
            raise CollectionError(
                f"unknown card {card_id!r} (not in the collection's card list or the reference bundle)"
            )

    # ------------------------------------------------------------------ sessions
    def start_session(self, label: str, operator: str = "", location: str = "", kiosk_id: str = "") -> int:
        with self.write() as conn:
            cursor = conn.execute(
                "INSERT INTO sessions (label, operator, location, kiosk_id, started_at) VALUES (?, ?, ?, ?, ?)",
                (label, operator, location, kiosk_id, _now()),
            )
            return int(cursor.lastrowid or 0)

    def session_summary(self, session_id: int) -> dict[str, Any]:
        """Who/where/when of a kiosk batch and its totals: scans by status and cards added."""
        session = self.conn.execute("SELECT * FROM sessions WHERE id = ?", (session_id,)).fetchone()
        if session is None:
            raise CollectionError(f"no session {session_id}")
        statuses = dict(
            self.conn.execute(
                "SELECT status, COUNT(*) FROM scans WHERE session_id = ? GROUP BY status", (session_id,)
            ).fetchall()
        )
        return {
            **dict(session),
            "scans": sum(statuses.values()),
            "scans_by_status": statuses,
            "cards_added": sum(self.session_quantities(session_id).values()),
        }

    def end_session(self, session_id: int) -> None:
        with self.write() as conn:
            conn.execute("UPDATE sessions SET ended_at = ? WHERE id = ?", (_now(), session_id))

    # ------------------------------------------------------------------ scans
    def record_scan(self, scan: ScanRecord, auto_add: InventoryKey | None = None) -> int:
        """Log a scan (and, in kiosk auto-add mode, add its card) in one transaction; returns its id.

        When this returns, the scan is on disk.
        """
        # The crop goes to its own file first (a crash before the commit leaves an orphan file, never a
        # row pointing at nothing); the row then names it in the same INSERT.
        crop_path = self._write_crop(scan.crop_jpeg) if scan.crop_jpeg else None
        card_id = scan.card_id if scan.card_id and self.has_card(scan.card_id) else None
        with self.write() as conn:
            row = {
                "time": _now(),
                "source": scan.source,
                "session_id": scan.session_id,
                "status": scan.status,
                "card_id": card_id,
                "seen_card_id": scan.card_id,
                "confidence": scan.confidence,
                "margin": scan.margin,
                "alternatives": json.dumps(scan.alternatives[:5]),
                "ocr_text": scan.ocr_text,
                "crop_path": crop_path,
                "action": "pending",
            }
            cursor = conn.execute(
                f"INSERT INTO scans ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", tuple(row.values())
            )
            scan_id = int(cursor.lastrowid or 0)
            if auto_add is not None and scan.status == "identified" and card_id:
                before = {**row, "id": scan_id, "corrected_from": None, "action_id": None}
                self._accept(conn, scan_id, InventoryKey(card_id, *_key_rest(auto_add)), 1, before)
        return scan_id

    def accept_scan(self, scan_id: int, key: InventoryKey | None = None, quantity: int = 1) -> None:
        """Confirm mode: the user accepts a scan (optionally choosing the card) and it is added."""
        check_quantity(quantity)
        with self.write() as conn:
            row = self._scan(conn, scan_id)
            if row["action"] in ("accepted", "corrected"):
                raise CollectionError(f"scan {scan_id} was already added")
            card_id = key.card_id if key else row["card_id"]
            if not card_id:
                raise CollectionError(f"scan {scan_id} has no card: choose one")
            self._accept(
                conn, scan_id, InventoryKey(card_id, *_key_rest(key)) if key else InventoryKey(card_id), quantity
            )

    def reject_scan(self, scan_id: int) -> int:
        """The scan was not a card to keep: it is marked rejected and the cards it put in the inventory
        (its own net changes: another scan's or a hand edit's stay) come out again, as one undoable
        action. Returns how many cards came out."""
        with self.write() as conn:
            row = self._scan(conn, scan_id)
            action_id = self._action(conn, "reject", scan_id, {"scan_before": dict(row)})
            taken = 0
            for inventory_id, delta in conn.execute(
                "SELECT c.inventory_id, SUM(c.delta) FROM inventory_changes c JOIN actions a ON a.id = c.action_id"
                " WHERE c.scan_id = ? AND a.undone = 0 GROUP BY c.inventory_id HAVING SUM(c.delta) > 0",
                (scan_id,),
            ).fetchall():
                self._change(conn, action_id, inventory_id, -int(delta), scan_id)
                taken += int(delta)
            conn.execute("UPDATE scans SET action = 'rejected', action_id = ? WHERE id = ?", (action_id, scan_id))
            return taken

    def correct_scan(self, scan_id: int, card_id: str) -> None:
        """Say a scan was another card. If it was added, the inventory follows (−1 old, +1 new)."""
        with self.write() as conn:
            row = self._scan(conn, scan_id)
            self._require_card(card_id)
            if row["card_id"] == card_id:
                return
            action_id = self._action(conn, "correct", scan_id, {"scan_before": dict(row)})
            if row["action"] in ("accepted", "corrected"):
                # The scan's net effect per row (an earlier correction already moved some of it).
                for change in conn.execute(
                    "SELECT c.inventory_id, SUM(c.delta) FROM inventory_changes c JOIN actions a ON a.id = c.action_id"
                    " WHERE c.scan_id = ? AND a.undone = 0 GROUP BY c.inventory_id HAVING SUM(c.delta) != 0",
                    (scan_id,),
                ).fetchall():
                    inventory_id, delta = change
                    self._change(conn, action_id, inventory_id, -delta, scan_id)
                    old = conn.execute("SELECT * FROM inventory WHERE id = ?", (inventory_id,)).fetchone()
                    key = InventoryKey(card_id, old["finish"], old["condition"], old["language"], old["location"])
                    self._change(conn, action_id, self._inventory_row(conn, key), delta, scan_id)
            conn.execute(
                "UPDATE scans SET card_id = ?, corrected_from = ?,"
                " action = CASE WHEN action IN ('accepted','corrected')"
                " THEN 'corrected' ELSE action END, action_id = ? WHERE id = ?",
                (card_id, row["card_id"], action_id, scan_id),
            )

    # ------------------------------------------------------------------ inventory edits
    def add(
        self, key: InventoryKey, quantity: int = 1, notes: str | None = None, price_paid: float | None = None
    ) -> int:
        """Add cards by hand (no scan). Returns the inventory row id."""
        check_quantity(quantity)
        check_price(price_paid)
        key.validate()
        with self.write() as conn:
            self._require_card(key.card_id)
            action_id = self._action(conn, "add", None, {"key": key.__dict__, "quantity": quantity})
            inventory_id = self._inventory_row(conn, key)
            self._change(conn, action_id, inventory_id, quantity, None)
            if notes is not None or price_paid is not None:
                conn.execute(
                    "UPDATE inventory SET notes = COALESCE(?, notes), price_paid = COALESCE(?, price_paid)"
                    " WHERE id = ?",
                    (notes, price_paid, inventory_id),
                )
            return inventory_id

    def set_quantity(self, inventory_id: int, quantity: int) -> None:
        check_quantity(quantity, smallest=0)
        with self.write() as conn:
            current = self._inventory(conn, inventory_id)["quantity"]
            if quantity != current:
                action_id = self._action(conn, "edit", None, {"inventory_id": inventory_id})
                self._change(conn, action_id, inventory_id, quantity - current, None)

    def move(
        self,
        inventory_id: int,
        finish: str | None = None,
        condition: str | None = None,
        language: str | None = None,
        location: str | None = None,
    ) -> int:
        """Change finish/condition/language/location of a row's cards (merging into an existing row)."""
        with self.write() as conn:
            row = self._inventory(conn, inventory_id)
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
                self._change(conn, action_id, inventory_id, -row["quantity"], None)
                self._change(conn, action_id, target, row["quantity"], None)
            return target

    def merge(self, keep_id: int, other_id: int) -> None:
        """Merge two rows of the same card into one (quantities add up, notes are kept)."""
        with self.write() as conn:
            keep = self._inventory(conn, keep_id)
            other = self._inventory(conn, other_id)
            if keep["card_id"] != other["card_id"]:
                raise CollectionError("only rows of the same card can be merged")
            action_id = self._action(conn, "merge", None, {"keep": keep_id, "other": other_id})
            if other["quantity"]:
                self._change(conn, action_id, other_id, -other["quantity"], None)
                self._change(conn, action_id, keep_id, other["quantity"], None)

    # ------------------------------------------------------------------ undo
    def undoable(self, count: int = 1) -> list[dict[str, Any]]:
        """The actions :meth:`undo` with this ``count`` would take back, newest first (nothing changes)."""
        check_undo_count(count)
        return [dict(r) for r in self._undoable(self.conn, count)]

    def undo(self, count: int = 1, expected: Sequence[int] | None = None) -> list[dict[str, Any]]:
        """Undo the last ``count`` actions (newest first); returns what was undone.

        ``expected``: the action ids the user was shown (:meth:`undoable`); if another program has
        acted since, nothing is undone."""
        check_undo_count(count)
        undone = []
        with self.write() as conn:
            actions = self._undoable(conn, count)
            if expected is not None and [a["id"] for a in actions] != list(expected):
                raise CollectionError("the collection changed since the list was shown; nothing was undone, try again")
            for action in actions:
                for change in conn.execute(
                    "SELECT inventory_id, delta FROM inventory_changes WHERE action_id = ? ORDER BY id DESC",
                    (action["id"],),
                ).fetchall():
                    self._apply_delta(conn, change["inventory_id"], -change["delta"])
                payload = json.loads(action["payload"] or "{}")
                before = payload.get("scan_before")
                if before:
                    conn.execute(
                        "UPDATE scans SET card_id = ?, action = ?, corrected_from = ?, action_id = ? WHERE id = ?",
                        (
                            before["card_id"],
                            before["action"],
                            before["corrected_from"],
                            before["action_id"],
                            before["id"],
                        ),
                    )
                conn.execute("UPDATE actions SET undone = 1, undone_at = ? WHERE id = ?", (_now(), action["id"]))
                undone.append(dict(action))
        return undone

    @staticmethod
    def _undoable(conn: sqlite3.Connection, count: int) -> list[sqlite3.Row]:
        return conn.execute("SELECT * FROM actions WHERE undone = 0 ORDER BY id DESC LIMIT ?", (count,)).fetchall()

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
        """Rows with quantity > 0, with card metadata; ``query`` matches name, number or card id.
        ``limit``/``offset`` page through large collections (the GUI table fetches on demand)."""
        where, args = self._inventory_where(query, set_id, rarity, finish, condition)
        sql = [
            "SELECT i.*, c.name, c.set_id, c.set_name, c.number, c.printed_total, c.rarity, c.supertype, c.set_code",
            "FROM inventory i JOIN cards c ON c.card_id = i.card_id",
            where,
            "ORDER BY c.set_id, CAST(c.number AS INTEGER), c.number, i.finish, i.condition, i.language, i.location",
        ]
        if limit:
            sql.append(f"LIMIT {int(limit)} OFFSET {int(offset)}")
        return [dict(r) for r in self.conn.execute(" ".join(sql), args)]

    def inventory_totals(
        self,
        query: str = "",
        set_id: str | None = None,
        rarity: str | None = None,
        finish: str | None = None,
        condition: str | None = None,
    ) -> tuple[int, int]:
        """(rows, cards) matching the same filters as :meth:`inventory`."""
        where, args = self._inventory_where(query, set_id, rarity, finish, condition)
        rows, cards = self.conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(i.quantity), 0)"
            f" FROM inventory i JOIN cards c ON c.card_id = i.card_id {where}",
            args,
        ).fetchone()
        return int(rows), int(cards)

    def inventory_values(self, column: str) -> list[str]:
        """Distinct values of a filter column among held cards (set_id, rarity, finish, condition)."""
        source = {"set_id": "c.set_id", "rarity": "c.rarity", "finish": "i.finish", "condition": "i.condition"}[column]
        rows = self.conn.execute(
            f"SELECT DISTINCT {source} FROM inventory i JOIN cards c ON c.card_id = i.card_id"
            f" WHERE i.quantity > 0 AND {source} IS NOT NULL ORDER BY 1"
        ).fetchall()
        return [str(r[0]) for r in rows]

    @staticmethod
    def _inventory_where(
        query: str, set_id: str | None, rarity: str | None, finish: str | None, condition: str | None
    ) -> tuple[str, list[Any]]:
        sql = ["WHERE i.quantity > 0"]
        args: list[Any] = []
        if query:
            sql.append("AND (c.name LIKE ? OR c.number = ? OR c.card_id = ? OR c.set_name LIKE ?)")
            args += [f"%{query}%", query, query, f"%{query}%"]
        for column, value in (
            ("c.set_id", set_id),
            ("c.rarity", rarity),
            ("i.finish", finish),
            ("i.condition", condition),
        ):
            if value:
                sql.append(f"AND {column} = ?")
                args.append(value)
        return " ".join(sql), args

    def session_quantities(self, session_id: int) -> dict[int, int]:
        """Per inventory row, how many cards a session's scans added (net of corrections and undo)."""
        rows = self.conn.execute(
            "SELECT c.inventory_id, SUM(c.delta) FROM inventory_changes c JOIN actions a ON a.id = c.action_id"
            " JOIN scans s ON s.id = c.scan_id WHERE a.undone = 0 AND s.session_id = ? GROUP BY c.inventory_id",
            (session_id,),
        ).fetchall()
        return {int(r[0]): int(r[1]) for r in rows if r[1]}

    def scan_row(self, scan_id: int) -> dict[str, Any]:
        row = self.conn.execute("SELECT * FROM scans WHERE id = ?", (scan_id,)).fetchone()
        if row is None:
            raise CollectionError(f"no scan {scan_id}")
        return dict(row)

    def scans(self, session_id: int | None = None) -> list[dict[str, Any]]:
        if session_id is None:
            return [dict(r) for r in self.conn.execute("SELECT * FROM scans ORDER BY id")]
        return [
            dict(r) for r in self.conn.execute("SELECT * FROM scans WHERE session_id = ? ORDER BY id", (session_id,))
        ]

    def replayed_quantities(self) -> dict[int, int]:
        """Inventory rebuilt from the change log of actions not undone (must equal the table)."""
        rows = self.conn.execute(
            "SELECT c.inventory_id, SUM(c.delta) FROM inventory_changes c JOIN actions a ON a.id = c.action_id"
            " WHERE a.undone = 0 GROUP BY c.inventory_id"
        ).fetchall()
        return {int(r[0]): int(r[1]) for r in rows}

    def stored_quantities(self) -> dict[int, int]:
        return {int(r[0]): int(r[1]) for r in self.conn.execute("SELECT id, quantity FROM inventory")}

    def set_names(self) -> dict[str, str]:
        """Each set id among the collection's cards with the name it is shown by (its id when unnamed)."""
        rows = self.conn.execute(
            "SELECT DISTINCT set_id, COALESCE(set_name, set_id) FROM cards WHERE set_id IS NOT NULL"
        ).fetchall()
        return {str(r[0]): str(r[1]) for r in rows}

    def inventory_card_name(self, inventory_id: int) -> str | None:
        """The name of the card an inventory row holds (None: no such row)."""
        row = self.conn.execute(
            "SELECT c.name FROM inventory i JOIN cards c ON c.card_id = i.card_id WHERE i.id = ?", (inventory_id,)
        ).fetchone()
        return str(row[0]) if row else None

    def inventory_quantity(self, inventory_id: int) -> int | None:
        """How many cards an inventory row holds (None: no such row)."""
        row = self.conn.execute("SELECT quantity FROM inventory WHERE id = ?", (inventory_id,)).fetchone()
        return int(row[0]) if row else None

    def scan_holdings(self, scan_id: int) -> list[tuple[int, int]]:
        """(inventory row, cards) a scan put in the inventory that are still there (net of its
        corrections and of undo), by row id."""
        rows = self.conn.execute(
            "SELECT c.inventory_id, SUM(c.delta) FROM inventory_changes c JOIN actions a ON a.id = c.action_id"
            " WHERE c.scan_id = ? AND a.undone = 0 GROUP BY c.inventory_id HAVING SUM(c.delta) > 0"
            " ORDER BY c.inventory_id",
            (scan_id,),
        ).fetchall()
        return [(int(r[0]), int(r[1])) for r in rows]

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

    # ------------------------------------------------------------------ internals
    def _write_crop(self, jpeg: bytes) -> str:
        if len(jpeg) > 200_000:
            raise CollectionError("crop image too large (over 200 KB); store a small JPEG")
        self.crops_dir.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns()}-{os.getpid()}.jpg"
        (self.crops_dir / name).write_bytes(jpeg)
        return name

    def _scan(self, conn: sqlite3.Connection, scan_id: int) -> sqlite3.Row:
        row = conn.execute("SELECT * FROM scans WHERE id = ?", (scan_id,)).fetchone()
        if row is None:
            raise CollectionError(f"no scan {scan_id}")
        return row

    def _inventory(self, conn: sqlite3.Connection, inventory_id: int) -> sqlite3.Row:
        row = conn.execute("SELECT * FROM inventory WHERE id = ?", (inventory_id,)).fetchone()
        if row is None:
            raise CollectionError(f"no inventory row {inventory_id}")
        return row

    def _accept(
        self,
        conn: sqlite3.Connection,
        scan_id: int,
        key: InventoryKey,
        quantity: int,
        before: dict[str, Any] | None = None,
    ) -> None:
        key.validate()
        self._require_card(key.card_id)
        before = before or dict(self._scan(conn, scan_id))
        action_id = self._action(conn, "add", scan_id, {"scan_before": before, "key": key.__dict__})
        self._change(conn, action_id, self._inventory_row(conn, key), quantity, scan_id)
        conn.execute(
            "UPDATE scans SET action = 'accepted', card_id = ?, action_id = ? WHERE id = ?",
            (key.card_id, action_id, scan_id),
        )

    def _action(self, conn: sqlite3.Connection, kind: str, scan_id: int | None, payload: dict[str, Any]) -> int:
        cursor = conn.execute(
            "INSERT INTO actions (time, kind, scan_id, payload, undone) VALUES (?, ?, ?, ?, 0)",
            (_now(), kind, scan_id, json.dumps(payload, default=str)),
        )
        return int(cursor.lastrowid or 0)

    def _inventory_row(self, conn: sqlite3.Connection, key: InventoryKey) -> int:
        conn.execute(
            "INSERT OR IGNORE INTO inventory (card_id, finish, condition, language, location, quantity)"
            " VALUES (?, ?, ?, ?, ?, 0)",
            (key.card_id, key.finish, key.condition, key.language, key.location),
        )
        row = conn.execute(
            "SELECT id FROM inventory WHERE card_id = ? AND finish = ? AND condition = ? AND language = ?"
            " AND location = ?",
            (key.card_id, key.finish, key.condition, key.language, key.location),
        ).fetchone()
        return int(row[0])

    def _change(
        self, conn: sqlite3.Connection, action_id: int, inventory_id: int, delta: int, scan_id: int | None
    ) -> None:
        if delta == 0:
            return
        self._apply_delta(conn, inventory_id, delta)
        conn.execute(
            "INSERT INTO inventory_changes (action_id, inventory_id, delta, scan_id) VALUES (?, ?, ?, ?)",
            (action_id, inventory_id, delta, scan_id),
        )

    def _apply_delta(self, conn: sqlite3.Connection, inventory_id: int, delta: int) -> None:
        """Change a row's quantity, refusing (so the caller's transaction rolls back) a result above
        :data:`MAX_QUANTITY`; below zero the table's CHECK refuses."""
        if abs(delta) > MAX_QUANTITY:
            raise CollectionError(f"a change of {delta} cards is over the limit of {MAX_QUANTITY:,} per inventory row")
        conn.execute("UPDATE inventory SET quantity = quantity + ? WHERE id = ?", (delta, inventory_id))
        row = conn.execute(
            "SELECT quantity, card_id, finish, condition, language, location FROM inventory WHERE id = ?",
            (inventory_id,),
        ).fetchone()
        if row is not None and row[0] > MAX_QUANTITY:
            where = ", ".join(str(v) for v in tuple(row)[2:] if v)
            raise CollectionError(
                f"{row[1]} ({where}) would hold {row[0]:,} cards; one inventory row holds at most {MAX_QUANTITY:,}"
            )

    # ------------------------------------------------------------------ session listing
    def sessions(self) -> list[dict[str, Any]]:
        """Every session, oldest first: who/where/when, the sources its scans came from, how many scans
        it logged and how many cards it added (net of corrections and undo, as :meth:`session_summary`)."""
        rows = self.conn.execute(
            "SELECT s.*,"
            " (SELECT COUNT(*) FROM scans WHERE session_id = s.id) AS scans,"
            " (SELECT json_group_array(DISTINCT source) FROM scans WHERE session_id = s.id AND source != '')"
            " AS sources,"
            " (SELECT COALESCE(SUM(c.delta), 0) FROM inventory_changes c JOIN actions a ON a.id = c.action_id"
            " JOIN scans sc ON sc.id = c.scan_id WHERE a.undone = 0 AND sc.session_id = s.id) AS cards_added"
            " FROM sessions s ORDER BY s.id"
        ).fetchall()
        return [{**dict(r), "sources": json.loads(r["sources"] or "[]")} for r in rows]

    def find_sessions(self, ref: str) -> list[dict[str, Any]]:
        """The sessions ``ref`` names: the one with that id (a whole number), else every session with
        that label (exactly, else ignoring case)."""
        ref = ref.strip()
        # A number too long for an SQLite integer can only be a label.
        if ref.isascii() and ref.isdigit() and len(ref) <= 18:
            by_id = self.conn.execute("SELECT * FROM sessions WHERE id = ?", (int(ref),)).fetchall()
            if by_id:
                return [dict(r) for r in by_id]
        exact = self.conn.execute("SELECT * FROM sessions WHERE label = ? ORDER BY id", (ref,)).fetchall()
        if exact:
            return [dict(r) for r in exact]
        folded = ref.casefold()
        return [
            dict(r)
            for r in self.conn.execute("SELECT * FROM sessions ORDER BY id")
            if str(r["label"]).strip().casefold() == folded
        ]

    def resolve_session(self, ref: str) -> int:
        """The id of the one session ``ref`` (an id or a label) names; a :class:`CollectionError` when it
        names none, or several (their ids listed)."""
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


def check_undo_count(count: int) -> None:
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_UNDO:
        raise CollectionError(f"undo takes back 1 to {MAX_UNDO} actions at a time, not {count}")


def describe_action(action: dict[str, Any]) -> str:
    """One line naming an action for the user: what, when, and which card(s)."""
    payload = json.loads(action.get("payload") or "{}")
    key = payload.get("key") or {}
    detail = ""
    if action["kind"] == "import":
        detail = f" of {payload.get('rows', '?')} row(s)"
    elif key.get("card_id"):
        detail = f" {payload.get('quantity', 1)} × {key['card_id']}"
    elif payload.get("inventory_id"):
        detail = f" of inventory row {payload['inventory_id']}"
    scan = f" (scan {action['scan_id']})" if action.get("scan_id") else ""
    return f"{action['kind']} #{action['id']}{detail}{scan} at {action['time']}"


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


def _key_rest(key: InventoryKey | None) -> tuple[str, str, str, str]:
    k = key or InventoryKey("")
    return k.finish, k.condition, k.language, k.location
