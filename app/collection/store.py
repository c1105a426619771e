"""The collection: scans, inventory, corrections and undo in one SQLite file (sqlite-utils).

Durability: WAL journal with ``synchronous=FULL`` — a call that returns has its transaction on disk
(a ``kill -9`` right after loses nothing). Every write is one ``BEGIN IMMEDIATE`` transaction with a
busy timeout, so a GUI and a CLI export can share the file. Every inventory change is a row in
``inventory_changes`` tied to an ``actions`` row (and to the scan that caused it, if any); undo
replays those rows backwards.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlite_utils

from app.collection.schema import APPLICATION_ID, migrate

logger = logging.getLogger(__name__)

FINISHES = ("normal", "holo", "reverse holo", "1st edition", "1st edition holo", "shadowless", "stamped")
CONDITIONS = ("NM", "LP", "MP", "HP", "DMG")
SQLITE_HEADER = b"SQLite format 3\x00"


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


def check_database_file(path: Path) -> None:
    """Refuse a file that is not SQLite, or an SQLite database that is not a cardsight collection."""
    if not path.exists():
        return
    if path.is_dir():
        raise CollectionError(f"{path} is a folder, not a collection database")
    with open(path, "rb") as handle:
        header = handle.read(16)
    if len(header) == 0:
        return  # an empty file: a new collection
    if header != SQLITE_HEADER:
        raise CollectionError(f"{path} is not a cardsight collection (not an SQLite database); refusing to touch it")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    except sqlite3.DatabaseError as error:
        raise CollectionError(f"{path} is damaged ({error}); restore a backup (cardsight collection backup)") from error
    finally:
        conn.close()
    if app_id != APPLICATION_ID and tables:
        raise CollectionError(
            f"{path} is an SQLite database of another program (tables: {', '.join(tables[:5])}); refusing"
        )


class Collection:
    """One open collection database. Not shared between threads; open one per thread or process."""

    def __init__(self, path: str | Path, busy_timeout_ms: int = 10_000, synchronous: str = "FULL") -> None:
        """``synchronous="FULL"`` (default) fsyncs every transaction: an acknowledged scan survives a
        crash of the app *and* a power cut. ``"NORMAL"`` survives the app being killed but may lose
        the last seconds on a power cut; it is ~3× faster (bench/collection.py)."""
        if synchronous not in ("FULL", "NORMAL"):
            raise CollectionError(f"synchronous must be FULL or NORMAL, not {synchronous!r}")
        self.path = Path(path)
        check_database_file(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(self.path), timeout=busy_timeout_ms / 1000, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.row_factory = sqlite3.Row
        self.conn = conn
        self.db = sqlite_utils.Database(conn)
        with self.write():
            migrate(self.db)
        self.crops_dir = self.path.with_name(self.path.name + ".crops")
        self._known_cards: set[str] = set()

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Collection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once (IMMEDIATE) so two writers queue instead of deadlocking."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:
            raise CollectionError(f"the collection {self.path} is busy or locked ({error}); try again") from error
        try:
            yield self.conn
        except sqlite3.IntegrityError as error:
            self.conn.execute("ROLLBACK")
            raise CollectionError(f"change refused, nothing was written ({error})") from error
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # ------------------------------------------------------------------ cards
    def upsert_cards(self, cards: Sequence[dict[str, Any]]) -> None:
        """Catalogue metadata the collection refers to (exports work without the bundle)."""
        columns = ("card_id", "name", "set_id", "set_name", "number", "printed_total", "rarity", "supertype")
        rows = [{**{k: c.get(k) for k in columns}, "set_code": c.get("set_code") or c.get("ptcgo_code")} for c in cards]
        with self.write():
            self.db.table("cards").upsert_all(rows, pk="card_id")

    def has_card(self, card_id: str) -> bool:
        # Cards are only ever added, so a positive answer can be remembered.
        if card_id in self._known_cards:
            return True
        found = self.conn.execute("SELECT 1 FROM cards WHERE card_id = ?", (card_id,)).fetchone() is not None
        if found:
            self._known_cards.add(card_id)
        return found

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

    def reject_scan(self, scan_id: int) -> None:
        with self.write() as conn:
            row = self._scan(conn, scan_id)
            action_id = self._action(conn, "reject", scan_id, {"scan_before": dict(row)})
            conn.execute("UPDATE scans SET action = 'rejected', action_id = ? WHERE id = ?", (action_id, scan_id))

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
        if quantity < 1:
            raise CollectionError("quantity must be at least 1")
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
        if quantity < 0:
            raise CollectionError("quantity cannot be negative")
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
    def undo(self, count: int = 1) -> list[dict[str, Any]]:
        """Undo the last ``count`` actions (newest first); returns what was undone."""
        undone = []
        with self.write() as conn:
            actions = conn.execute(
                "SELECT * FROM actions WHERE undone = 0 ORDER BY id DESC LIMIT ?", (count,)
            ).fetchall()
            for action in actions:
                for change in conn.execute(
                    "SELECT inventory_id, delta FROM inventory_changes WHERE action_id = ? ORDER BY id DESC",
                    (action["id"],),
                ).fetchall():
                    conn.execute(
                        "UPDATE inventory SET quantity = quantity - ? WHERE id = ?",
                        (change["delta"], change["inventory_id"]),
                    )
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

    def backup(self, out: str | Path) -> Path:
        """A consistent copy while the collection is in use (SQLite online backup API)."""
        out = Path(out)
        if out.exists():
            raise CollectionError(f"{out} exists; choose a new file name")
        target = sqlite3.connect(str(out))
        try:
            self.conn.backup(target)
        finally:
            target.close()
        return out

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
        conn.execute(
            "INSERT INTO inventory_changes (action_id, inventory_id, delta, scan_id) VALUES (?, ?, ?, ?)",
            (action_id, inventory_id, delta, scan_id),
        )
        conn.execute("UPDATE inventory SET quantity = quantity + ? WHERE id = ?", (delta, inventory_id))


def _key_rest(key: InventoryKey | None) -> tuple[str, str, str, str]:
    k = key or InventoryKey("")
    return k.finish, k.condition, k.language, k.location
