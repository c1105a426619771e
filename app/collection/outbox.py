"""A kiosk that keeps scanning while the shop server is away: a local SQLite outbox.

:class:`OutboxCollection` wraps a :class:`~app.collection.postgres.PostgresCollection`. While the
server answers, everything goes straight to it. When it does not (down, unreachable, a wrong
password), scans — with the card metadata and the sessions they refer to — are written to the
outbox file instead, in order, each with its globally unique id; the kiosk never waits on a dead
server for more than one attempt. A background thread tries the server again every few seconds and
replays the outbox oldest first. Each replayed operation is idempotent on the server (a scan or
session id it already holds changes nothing), and leaves the outbox only after the server has it,
so a replay cut short — by the server or by the kiosk being killed — simply runs again: every scan
arrives exactly once.

Scans and sessions made offline get negative local ids; once replayed, those ids resolve to the
server's (accepting or correcting such a scan before then says it is still waiting).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from app.collection.postgres import PostgresCollection, ServerAway, now
from app.collection.store import CollectionError, InventoryKey, ScanRecord

logger = logging.getLogger(__name__)

#: Seconds between attempts to reach an away server.
RETRY_SECONDS = 5.0

_OUTBOX_SCHEMA = """
CREATE TABLE IF NOT EXISTS pending (seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, uid TEXT NOT NULL,
                                    payload TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cards (card_id TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ids (kind TEXT NOT NULL, local_id INTEGER NOT NULL, uid TEXT NOT NULL,
                                server_id INTEGER, PRIMARY KEY (kind, local_id));
CREATE TABLE IF NOT EXISTS refused (seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, uid TEXT NOT NULL,
                                    payload TEXT NOT NULL, why TEXT NOT NULL);
"""


@dataclass(frozen=True)
class SyncStatus:
    online: bool
    waiting: int
    reason: str = ""
    #: Operations the server refused (not a connection problem): set aside, kept in the outbox file.
    refused: int = 0

    def text(self) -> str:
        """One line for the GUI or the terminal."""
        aside = f"; {self.refused} refused by the server, kept in the outbox" if self.refused else ""
        if self.online and not self.waiting:
            return "online" + aside
        if self.online:
            return f"online — sending {self.waiting} scan(s) that waited" + aside
        return f"offline — {self.waiting} scan(s) waiting" + (f" ({self.reason})" if self.reason else "") + aside


class Outbox:
    """The outbox file: pending operations in order, the kiosk's card list, local → server ids."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False, timeout=10)
            self.conn.execute("PRAGMA journal_mode = WAL")
            # Every queued scan is on disk before the kiosk shows it: a power cut loses none.
            self.conn.execute("PRAGMA synchronous = FULL")
            self.conn.executescript(_OUTBOX_SCHEMA)
        except (OSError, sqlite3.DatabaseError) as error:
            raise CollectionError(f"cannot open the kiosk's outbox {self.path} ({error})") from error
        self.lock = threading.RLock()

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    def push(self, kind: str, uid: str, payload: dict[str, Any], local_id: int | None = None) -> None:
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                self.conn.execute(
                    "INSERT INTO pending (kind, uid, payload) VALUES (?, ?, ?)", (kind, uid, json.dumps(payload))
                )
                if local_id is not None:
                    self.conn.execute("INSERT INTO ids (kind, local_id, uid) VALUES (?, ?, ?)", (kind, local_id, uid))
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise

    def next_local_id(self, kind: str) -> int:
        with self.lock:
            row = self.conn.execute("SELECT MIN(local_id) FROM ids WHERE kind = ?", (kind,)).fetchone()
        return min(int(row[0] or 0), 0) - 1

    def oldest(self) -> tuple[int, str, str, dict[str, Any]] | None:
        with self.lock:
            row = self.conn.execute("SELECT seq, kind, uid, payload FROM pending ORDER BY seq LIMIT 1").fetchone()
        return None if row is None else (int(row[0]), str(row[1]), str(row[2]), json.loads(row[3]))

    def done(self, seq: int, kind: str, uid: str, server_id: int | None) -> None:
        """The server has the operation: drop it, remembering the server's id for a local one."""
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute("DELETE FROM pending WHERE seq = ?", (seq,))
            if server_id is not None:
                self.conn.execute("UPDATE ids SET server_id = ? WHERE kind = ? AND uid = ?", (server_id, kind, uid))
            self.conn.execute("COMMIT")

    def set_aside(self, seq: int, why: str) -> None:
        """The server refuses this operation for what it is: keep it (for a person to look at) out of the
        queue, so the operations behind it are sent."""
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute(
                "INSERT INTO refused (seq, kind, uid, payload, why) SELECT seq, kind, uid, payload, ? FROM pending"
                " WHERE seq = ?",
                (why, seq),
            )
            self.conn.execute("DELETE FROM pending WHERE seq = ?", (seq,))
            self.conn.execute("COMMIT")

    def refused_count(self) -> int:
        with self.lock:
            return int(self.conn.execute("SELECT COUNT(*) FROM refused").fetchone()[0])

    def count(self, kind: str | None = None) -> int:
        with self.lock:
            if kind is None:
                return int(self.conn.execute("SELECT COUNT(*) FROM pending").fetchone()[0])
            return int(self.conn.execute("SELECT COUNT(*) FROM pending WHERE kind = ?", (kind,)).fetchone()[0])

    def server_id(self, kind: str, local_id: int) -> int | None:
        with self.lock:
            row = self.conn.execute(
                "SELECT server_id FROM ids WHERE kind = ? AND local_id = ?", (kind, local_id)
            ).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def keep_cards(self, cards: Sequence[dict[str, Any]]) -> None:
        with self.lock:
            self.conn.executemany(
                "INSERT OR REPLACE INTO cards (card_id, data) VALUES (?, ?)",
                [(str(c["card_id"]), json.dumps(c, default=str)) for c in cards],
            )

    def has_card(self, card_id: str) -> bool:
        with self.lock:
            return self.conn.execute("SELECT 1 FROM cards WHERE card_id = ?", (card_id,)).fetchone() is not None

    def card_ids(self) -> set[str]:
        with self.lock:
            return {str(r[0]) for r in self.conn.execute("SELECT card_id FROM cards")}


class OutboxCollection:
    """The shop collection as a kiosk uses it: the server when it answers, the outbox when not."""

    def __init__(
        self,
        server: PostgresCollection,
        outbox_path: str | Path,
        retry_seconds: float = RETRY_SECONDS,
        background: bool = True,
    ) -> None:
        self.server = server
        self.outbox = Outbox(outbox_path)
        self.retry_seconds = retry_seconds
        self.path = server.path
        self.readonly = server.readonly
        self.stand_in = False
        self.crops_dir = server.crops_dir
        self.kiosk = server.kiosk
        self._online = self.outbox.count() == 0
        self._reason = ""
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        if not self._online:
            logger.info("%d operation(s) wait in the outbox %s", self.outbox.count(), self.outbox.path)
        if background:
            self._thread = threading.Thread(target=self._retry_loop, name="cardsight-outbox", daemon=True)
            self._thread.start()

    # ------------------------------------------------------------------ life
    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
        self.server.close()
        self.outbox.close()

    def __enter__(self) -> OutboxCollection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getattr__(self, name: str) -> Any:
        """Everything else (reads, inventory edits, undo) goes to the server; offline it says so."""
        return getattr(self.server, name)

    # ------------------------------------------------------------------ status and sync
    def status(self) -> SyncStatus:
        return SyncStatus(self._online, self.outbox.count("scan"), self._reason, self.outbox.refused_count())

    def status_text(self) -> str:
        """ "online", or "offline — N scan(s) waiting (why)": what the GUI shows."""
        return self.status().text()

    def sync(self) -> int:
        """Replay the outbox oldest first; the number of operations sent. Raises :class:`ServerAway`
        (the rest stays queued) when the server does not answer."""
        sent = 0
        while True:
            with self.outbox.lock:
                item = self.outbox.oldest()
                if item is None:
                    self._went_online()
                    return sent
            seq, kind, uid, payload = item
            try:
                server_id = self._replay(kind, uid, payload)
            except ServerAway as error:
                self._went_offline(error)
                raise
            except (CollectionError, TypeError, KeyError, ValueError) as error:
                # Refused for what it is (or unreadable after an upgrade), not for want of a server: set
                # aside, so one bad operation never holds back every scan behind it.
                logger.error(
                    "The shop server refused queued %s %s; kept aside in %s: %s", kind, uid, self.outbox.path, error
                )
                self.outbox.set_aside(seq, str(error))
                continue
            self.outbox.done(seq, kind, uid, server_id)
            sent += 1

    def _retry_loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.retry_seconds)
            self._wake.clear()
            if self._stop.is_set() or (self._online and not self.outbox.count()):
                continue
            try:
                sent = self.sync()
                if sent:
                    logger.info("Sent %d queued operation(s) to the shop server", sent)
            except ServerAway:
                continue
            except Exception:  # the replay thread must outlive any surprise: the scans wait in the outbox
                logger.exception("Replaying the outbox failed; trying again in %.0f s", self.retry_seconds)

    def _went_online(self) -> None:
        if not self._online:
            logger.info("The shop server %s is back", self.path)
        self._online = True
        self._reason = ""

    def _went_offline(self, error: BaseException) -> None:
        if self._online:
            logger.warning("Scanning offline into %s: %s", self.outbox.path, error)
        self._online = False
        self._reason = str(error)

    def _replay(self, kind: str, uid: str, payload: dict[str, Any]) -> int | None:
        if kind == "cards":
            self.server.upsert_cards(payload["cards"])
            return None
        if kind == "session":
            return self.server.start_session(uid=uid, **payload)
        if kind == "end_session":
            self.server.end_session(self._server_session(int(payload["session_id"])), payload["ended_at"])
            return None
        if kind == "scan":
            record = ScanRecord(**payload["scan"])
            if record.session_id is not None:
                record.session_id = self._server_session(record.session_id)
            auto = InventoryKey(**payload["auto_add"]) if payload["auto_add"] else None
            return self.server.record_scan(record, auto, uid=uid, time_=payload["time"], crop_path=payload["crop_path"])
        raise CollectionError(f"unknown outbox operation {kind!r}")

    def _server_session(self, session_id: int) -> int:
        if session_id >= 0:
            return session_id
        found = self.outbox.server_id("session", session_id)
        if found is None:
            raise CollectionError(f"the offline session {session_id} was never started on the server")
        return found

    # ------------------------------------------------------------------ writes that may queue
    def _online_or_queue(self, direct: Callable[[], Any], queue: Callable[[], Any]) -> Any:
        """``direct`` on the server when it is reachable and nothing waits before it, else ``queue``."""
        with self.outbox.lock:
            if not self._online:
                return queue()
        try:
            return direct()
        except ServerAway as error:
            with self.outbox.lock:
                self._went_offline(error)
                self._wake.set()
                return queue()

    def upsert_cards(self, cards: Sequence[dict[str, Any]]) -> None:
        self.outbox.keep_cards(cards)
        uid = str(uuid.uuid4())
        self._online_or_queue(
            lambda: self.server.upsert_cards(cards),
            lambda: self.outbox.push("cards", uid, {"cards": list(cards)}),
        )

    def card_ids(self) -> set[str]:
        """The server's card list, with the cards this kiosk keeps for itself (all it has while offline)."""
        known = self.outbox.card_ids()
        if self._online:
            try:
                known |= self.server.card_ids()
            except ServerAway as error:
                self._went_offline(error)
        return known

    def has_card(self, card_id: str) -> bool:
        if self.outbox.has_card(card_id):
            return True
        if not self._online:
            return False
        try:
            return self.server.has_card(card_id)
        except ServerAway as error:
            self._went_offline(error)
            return False

    def start_session(self, label: str, operator: str = "", location: str = "", kiosk_id: str = "") -> int:
        uid = str(uuid.uuid4())
        fields = {"label": label, "operator": operator, "location": location, "kiosk_id": kiosk_id or self.kiosk,
                  "started_at": now()}  # fmt: skip

        def queue() -> int:
            local_id = self.outbox.next_local_id("session")
            self.outbox.push("session", uid, fields, local_id)
            return local_id

        return int(self._online_or_queue(lambda: self.server.start_session(uid=uid, **fields), queue))

    def end_session(self, session_id: int) -> None:
        ended_at = now()
        uid = str(uuid.uuid4())
        direct = (lambda: self.server.end_session(session_id, ended_at)) if session_id >= 0 else None
        queue = lambda: self.outbox.push("end_session", uid, {"session_id": session_id, "ended_at": ended_at})  # noqa: E731
        if direct is None:
            with self.outbox.lock:
                if self._online:
                    mapped = self.outbox.server_id("session", session_id)
                    if mapped is not None:
                        direct = lambda: self.server.end_session(mapped, ended_at)  # noqa: E731
            if direct is None:
                queue()
                return
        self._online_or_queue(direct, queue)

    def record_scan(self, scan: ScanRecord, auto_add: InventoryKey | None = None) -> int:
        """Log a scan on the server, or in the outbox while it is away; returns its id (negative
        while it waits in the outbox). Either way it is on disk when this returns."""
        uid = str(uuid.uuid4())
        stamp = now()
        crop_path = self.server.write_crop(scan.crop_jpeg) if scan.crop_jpeg else None
        session_id = scan.session_id
        if session_id is not None and session_id < 0:
            session_id = self.outbox.server_id("session", session_id) or session_id
        record = ScanRecord(**{**asdict(scan), "crop_jpeg": None, "session_id": session_id})

        def queue() -> int:
            local_id = self.outbox.next_local_id("scan")
            payload = {"scan": asdict(record), "auto_add": auto_add.__dict__ if auto_add else None, "time": stamp,
                       "crop_path": crop_path}  # fmt: skip
            self.outbox.push("scan", uid, payload, local_id)
            return local_id

        def direct() -> int:
            if record.session_id is not None and record.session_id < 0:
                raise ServerAway("the scan's session is still waiting in the outbox")
            return self.server.record_scan(record, auto_add, uid=uid, time_=stamp, crop_path=crop_path)

        return int(self._online_or_queue(direct, queue))

    # ------------------------------------------------------------------ scans by id (local ids resolved)
    def _scan_id(self, scan_id: int) -> int:
        if scan_id >= 0:
            return scan_id
        found = self.outbox.server_id("scan", scan_id)
        if found is None:
            raise ServerAway(f"scan {scan_id} is still waiting in the outbox (offline); try again when it is sent")
        return found

    def accept_scan(self, scan_id: int, key: InventoryKey | None = None, quantity: int = 1) -> None:
        self.server.accept_scan(self._scan_id(scan_id), key, quantity)

    def reject_scan(self, scan_id: int) -> int:
        return self.server.reject_scan(self._scan_id(scan_id))

    def correct_scan(self, scan_id: int, card_id: str) -> None:
        self.server.correct_scan(self._scan_id(scan_id), card_id)

    def scan_row(self, scan_id: int) -> dict[str, Any]:
        return self.server.scan_row(self._scan_id(scan_id))

    def wait_until_sent(self, seconds: float) -> bool:
        """True once the outbox is empty and the server answered (False after ``seconds``)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                self.sync()
                return True
            except ServerAway:
                time.sleep(min(0.5, self.retry_seconds))
        return False
