"""The collection's SQL and rules, written once for both backends.

:class:`SqlCollection` holds every operation of the contract (:mod:`app.collection.contract`) as SQL
that SQLite and PostgreSQL both run: ``?`` placeholders, ``INSERT … ON CONFLICT``, ``RETURNING``.
A backend supplies only what truly differs — its connection and transactions (:meth:`read_with`,
:meth:`write_with`), a :class:`Tx` that runs statements on it, how a scan and a session are first
recorded, and its file or server specifics.

Where the two databases answer differently the :class:`Tx` says so: ``lock`` (rows read to be changed
are locked on the server; SQLite's one writer needs no lock), ``like`` (case-insensitive matching),
``shop`` (the server's scans and actions carry the kiosk that made them; undo takes back only this
kiosk's).
"""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from app.collection.records import (
    MAX_QUANTITY,
    CollectionError,
    InventoryKey,
    ScanRecord,
    check_price,
    check_quantity,
    check_undo_count,
    key_rest,
    now,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: The columns both backends have, per table (what migration copies and checks, and what a scan's
#: "before" picture in an action's payload holds).
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

#: A scan's cards still in the inventory per row: its own changes, net of undo.
_SCAN_NET = (
    "SELECT c.inventory_id, SUM(c.delta) AS delta FROM inventory_changes c JOIN actions a ON a.id = c.action_id"
    " WHERE c.scan_id = ? AND a.undone = 0 GROUP BY c.inventory_id HAVING SUM(c.delta) {} 0 ORDER BY c.inventory_id"
)


class Tx(ABC):
    """Statements on one backend's connection, inside the caller's transaction, ``?`` placeholders."""

    #: "sqlite" or "postgresql": for the rare query each database answers fastest in its own words.
    dialect: str = ""
    #: True on the shop server: scans and actions carry ``kiosk``, scans a unique ``uid``.
    shop: bool = False
    #: Appended to a SELECT whose rows the transaction goes on to change.
    lock: str = ""
    #: The case-insensitive LIKE.
    like: str = "LIKE"
    #: ORDER BY for inventory rows: set, the number's leading digits as a number, then the key as text.
    inventory_order: str = ""

    def __init__(self, kiosk: str = "") -> None:
        self.kiosk = kiosk

    @abstractmethod
    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Every row of a query (or of a ``RETURNING``), each as a dict."""

    @abstractmethod
    def tuples(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Every row as a plain tuple (large reads: several times faster than dicts)."""

    @abstractmethod
    def run(self, sql: str, params: Sequence[Any] = ()) -> None:
        """A statement whose rows, if any, are not wanted."""

    @abstractmethod
    def run_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """One statement for each row of parameters."""

    def one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        found = self.rows(sql, params)
        return found[0] if found else None


def like_pattern(text: str) -> str:
    """``%text%`` for ``LIKE … ESCAPE '\\'``: the user's own ``%``, ``_`` and ``\\`` match themselves."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


# ---------------------------------------------------------------------- rules inside a transaction
def store_cards(tx: Tx, cards: Sequence[dict[str, Any]]) -> None:
    """Catalogue metadata the collection refers to (exports work without the bundle), new or updated."""
    columns = COLUMNS["cards"]
    rows = [
        (*tuple(c.get(k) for k in columns[:-1]), c.get("set_code") or c.get("ptcgo_code"))
        # One order for every writer: two kiosks upserting the same cards never deadlock.
        for c in sorted(cards, key=lambda c: str(c.get("card_id")))
    ]
    if rows:
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns[1:])
        tx.run_many(
            f"INSERT INTO cards ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
            f" ON CONFLICT (card_id) DO UPDATE SET {updates}",
            rows,
        )


def require_card(tx: Tx, card_id: str) -> None:
    if tx.one("SELECT 1 AS x FROM cards WHERE card_id = ?", (card_id,)) is None:
        raise CollectionError(f"unknown card {card_id!r} (not in the collection's card list or the reference bundle)")


def scan_before(row: dict[str, Any]) -> dict[str, Any]:
    """What undo restores a scan to: its columns common to both backends."""
    return {k: row.get(k) for k in COLUMNS["scans"]}


def get_scan(tx: Tx, scan_id: int, lock: bool = False) -> dict[str, Any]:
    row = tx.one("SELECT * FROM scans WHERE id = ?" + (tx.lock if lock else ""), (scan_id,))
    if row is None:
        raise CollectionError(f"no scan {scan_id}")
    return row


def get_inventory(tx: Tx, inventory_id: int, lock: bool = False) -> dict[str, Any]:
    row = tx.one("SELECT * FROM inventory WHERE id = ?" + (tx.lock if lock else ""), (inventory_id,))
    if row is None:
        raise CollectionError(f"no inventory row {inventory_id}")
    return {**row, "quantity": int(row["quantity"])}


def add_action(tx: Tx, kind: str, scan_id: int | None, payload: dict[str, Any]) -> int:
    """A new undoable action; its inventory changes follow with :func:`change`."""
    if "scan_before" in payload:
        payload = {**payload, "scan_before": scan_before(payload["scan_before"])}
    row = {"time": now(), "kind": kind, "scan_id": scan_id, "payload": json.dumps(payload, default=str), "undone": 0}
    if tx.shop:
        row["kiosk"] = tx.kiosk
    found = tx.one(
        f"INSERT INTO actions ({', '.join(row)}) VALUES ({', '.join('?' * len(row))}) RETURNING id",
        tuple(row.values()),
    )
    return int(found["id"]) if found else 0


def inventory_row(tx: Tx, key: InventoryKey) -> int:
    """The id of the key's inventory row, made (empty) when new: one statement, so two writers adding
    the same row at once both get it."""
    found = tx.one(
        "INSERT INTO inventory (card_id, finish, condition, language, location, quantity)"
        " VALUES (?, ?, ?, ?, ?, 0) ON CONFLICT (card_id, finish, condition, language, location)"
        " DO UPDATE SET card_id = excluded.card_id RETURNING id",
        (key.card_id, key.finish, key.condition, key.language, key.location),
    )
    return int(found["id"]) if found else 0


def apply_delta(tx: Tx, inventory_id: int, delta: int) -> None:
    """Change a row's quantity by ``delta`` (never a quantity read and written back), refusing — so the
    caller's transaction rolls back — a result above :data:`MAX_QUANTITY`; below zero the table's
    CHECK refuses."""
    if abs(delta) > MAX_QUANTITY:
        raise CollectionError(f"a change of {delta} cards is over the limit of {MAX_QUANTITY:,} per inventory row")
    row = tx.one(
        "UPDATE inventory SET quantity = quantity + ? WHERE id = ?"
        " RETURNING quantity, card_id, finish, condition, language, location",
        (delta, inventory_id),
    )
    if row is not None and row["quantity"] > MAX_QUANTITY:
        where = ", ".join(str(row[k]) for k in ("finish", "condition", "language", "location") if row[k])
        raise CollectionError(
            f"{row['card_id']} ({where}) would hold {row['quantity']:,} cards; one inventory row holds at most"
            f" {MAX_QUANTITY:,}"
        )


def change(tx: Tx, action_id: int, inventory_id: int, delta: int, scan_id: int | None) -> None:
    """One logged inventory change of ``action_id`` (nothing for a zero delta)."""
    if delta == 0:
        return
    apply_delta(tx, inventory_id, delta)
    tx.run(
        "INSERT INTO inventory_changes (action_id, inventory_id, delta, scan_id) VALUES (?, ?, ?, ?)",
        (action_id, inventory_id, delta, scan_id),
    )


def keep_details(tx: Tx, inventory_id: int, notes: str | None, price_paid: float | None) -> None:
    """Notes and price paid given with an add (None keeps what the row has)."""
    if notes is not None or price_paid is not None:
        tx.run(
            "UPDATE inventory SET notes = COALESCE(?, notes), price_paid = COALESCE(?, price_paid) WHERE id = ?",
            (notes, price_paid, inventory_id),
        )


def accept(tx: Tx, scan_id: int, key: InventoryKey, quantity: int, before: dict[str, Any] | None = None) -> None:
    """Add a scan's card(s) under ``key``, as one undoable action tied to the scan."""
    key.validate()
    require_card(tx, key.card_id)
    before = before if before is not None else get_scan(tx, scan_id)
    action_id = add_action(tx, "add", scan_id, {"scan_before": before, "key": key.__dict__})
    change(tx, action_id, inventory_row(tx, key), quantity, scan_id)
    tx.run(
        "UPDATE scans SET action = 'accepted', card_id = ?, action_id = ? WHERE id = ?",
        (key.card_id, action_id, scan_id),
    )


def scan_values(tx: Tx, scan: ScanRecord, crop_path: str | None, time_: str | None = None) -> dict[str, Any]:
    """A new scan's row; its card is kept only when the collection knows it (else only as seen)."""
    known = bool(scan.card_id) and tx.one("SELECT 1 AS x FROM cards WHERE card_id = ?", (scan.card_id,)) is not None
    return {
        "time": time_ or now(),
        "source": scan.source,
        "session_id": scan.session_id,
        "status": scan.status,
        "card_id": scan.card_id if known else None,
        "seen_card_id": scan.card_id,
        "confidence": scan.confidence,
        "margin": scan.margin,
        "alternatives": json.dumps(scan.alternatives[:5]),
        "ocr_text": scan.ocr_text,
        "crop_path": crop_path,
        "action": "pending",
    }


def insert_scan(tx: Tx, row: dict[str, Any], conflict: str = "") -> int | None:
    """The new scan's id (None when ``conflict`` — an ``ON CONFLICT … DO NOTHING`` — kept it out)."""
    found = tx.one(
        f"INSERT INTO scans ({', '.join(row)}) VALUES ({', '.join('?' * len(row))}){conflict} RETURNING id",
        tuple(row.values()),
    )
    return int(found["id"]) if found else None


def auto_add(tx: Tx, scan_id: int, row: dict[str, Any], status: str, key: InventoryKey | None) -> None:
    """Kiosk auto-add: an identified scan of a known card goes into the inventory in its own step."""
    if key is not None and status == "identified" and row["card_id"]:
        before = {**row, "id": scan_id, "corrected_from": None, "action_id": None}
        accept(tx, scan_id, InventoryKey(str(row["card_id"]), *key_rest(key)), 1, before)


def add_rows(tx: Tx, kind: str, payload: dict[str, Any], additions: Iterable[tuple[InventoryKey, int]]) -> int:
    """Cards added by hand or by an import: one undoable action for them all; returns the action's id."""
    action_id = add_action(tx, kind, None, payload)
    for key, quantity in additions:
        change(tx, action_id, inventory_row(tx, key), quantity, None)
    return action_id


class SqlCollection(ABC):
    """Every operation of the collection contract, on a backend that supplies :meth:`read_with` and
    :meth:`write_with`."""

    readonly: bool
    _known_cards: set[str]

    @abstractmethod
    def read_with(self, work: Callable[[Tx], T]) -> T:
        """``work`` reading the collection (a snapshot on the server)."""

    @abstractmethod
    def write_with(self, work: Callable[[Tx], T]) -> T:
        """``work`` in one write transaction: all of it is kept or none (a :class:`CollectionError`)."""

    # ------------------------------------------------------------------ cards
    def upsert_cards(self, cards: Sequence[dict[str, Any]]) -> None:
        """Catalogue metadata the collection refers to (exports work without the bundle)."""
        self.write_with(lambda tx: store_cards(tx, cards))

    def has_card(self, card_id: str) -> bool:
        # Cards are only ever added, so a positive answer can be remembered.
        if card_id in self._known_cards:
            return True
        found = self.read_with(lambda tx: tx.one("SELECT 1 AS x FROM cards WHERE card_id = ?", (card_id,)))
        if found is not None:
            self._known_cards.add(card_id)
        return found is not None

    def card_ids(self) -> set[str]:
        """Every card whose metadata the collection holds."""
        return {str(r[0]) for r in self.read_with(lambda tx: tx.tuples("SELECT card_id FROM cards"))}

    def cards(self) -> list[dict[str, Any]]:
        """Every card's metadata (what a price list is matched against)."""
        return self.read_with(lambda tx: tx.rows(f"SELECT {', '.join(COLUMNS['cards'])} FROM cards"))

    # ------------------------------------------------------------------ sessions
    def end_session(self, session_id: int, ended_at: str | None = None) -> None:
        self.write_with(
            lambda tx: tx.run("UPDATE sessions SET ended_at = ? WHERE id = ?", (ended_at or now(), session_id))
        )

    def session_summary(self, session_id: int) -> dict[str, Any]:
        """Who/where/when of a kiosk batch and its totals: scans by status and cards added."""

        def summary(tx: Tx) -> dict[str, Any]:
            session = tx.one(f"SELECT {', '.join(COLUMNS['sessions'])} FROM sessions WHERE id = ?", (session_id,))
            if session is None:
                raise CollectionError(f"no session {session_id}")
            statuses = {
                str(r[0]): int(r[1])
                for r in tx.tuples(
                    "SELECT status, COUNT(*) FROM scans WHERE session_id = ? GROUP BY status", (session_id,)
                )
            }
            added = sum(self._session_quantities(tx, session_id).values())
            return {**session, "scans": sum(statuses.values()), "scans_by_status": statuses, "cards_added": added}

        return self.read_with(summary)

    def sessions(self) -> list[dict[str, Any]]:
        """Every session, oldest first: who/where/when, the sources its scans came from, how many scans
        it logged and how many cards it added (net of corrections and undo, as :meth:`session_summary`)."""

        def listing(tx: Tx) -> list[dict[str, Any]]:
            columns = ", ".join(f"s.{c}" for c in COLUMNS["sessions"])
            rows = tx.rows(
                f"SELECT {columns},"
                " (SELECT COUNT(*) FROM scans WHERE session_id = s.id) AS scans,"
                " (SELECT COALESCE(SUM(c.delta), 0) FROM inventory_changes c JOIN actions a ON a.id = c.action_id"
                " JOIN scans sc ON sc.id = c.scan_id WHERE a.undone = 0 AND sc.session_id = s.id) AS cards_added"
                " FROM sessions s ORDER BY s.id"
            )
            sources: dict[int, list[str]] = {}
            for session_id, source in tx.tuples(
                "SELECT DISTINCT session_id, source FROM scans WHERE session_id IS NOT NULL AND source != ''"
            ):
                sources.setdefault(int(session_id), []).append(str(source))
            return [
                {**r, "scans": int(r["scans"]), "cards_added": int(r["cards_added"]),
                 "sources": sorted(sources.get(int(r["id"]), []))}
                for r in rows
            ]  # fmt: skip

        return self.read_with(listing)

    def find_sessions(self, ref: str) -> list[dict[str, Any]]:
        """The sessions ``ref`` names: the one with that id (a whole number), else every session with
        that label (exactly, else ignoring case)."""
        ref = ref.strip()
        select = f"SELECT {', '.join(COLUMNS['sessions'])} FROM sessions"

        def find(tx: Tx) -> list[dict[str, Any]]:
            # A number too long for a 64-bit integer can only be a label.
            if ref.isascii() and ref.isdigit() and len(ref) <= 18:
                by_id = tx.rows(f"{select} WHERE id = ?", (int(ref),))
                if by_id:
                    return by_id
            exact = tx.rows(f"{select} WHERE label = ? ORDER BY id", (ref,))
            if exact:
                return exact
            folded = ref.casefold()
            return [r for r in tx.rows(f"{select} ORDER BY id") if str(r["label"]).strip().casefold() == folded]

        return self.read_with(find)

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

    def session_quantities(self, session_id: int) -> dict[int, int]:
        """Per inventory row, how many cards a session's scans added (net of corrections and undo)."""
        return self.read_with(lambda tx: self._session_quantities(tx, session_id))

    @staticmethod
    def _session_quantities(tx: Tx, session_id: int) -> dict[int, int]:
        rows = tx.tuples(
            "SELECT c.inventory_id, SUM(c.delta) FROM inventory_changes c JOIN actions a ON a.id = c.action_id"
            " JOIN scans s ON s.id = c.scan_id WHERE a.undone = 0 AND s.session_id = ? GROUP BY c.inventory_id",
            (session_id,),
        )
        return {int(r[0]): int(r[1]) for r in rows if r[1]}

    # ------------------------------------------------------------------ scans
    def accept_scan(self, scan_id: int, key: InventoryKey | None = None, quantity: int = 1) -> None:
        """Confirm mode: the user accepts a scan (optionally choosing the card) and it is added."""
        check_quantity(quantity)

        def accept_(tx: Tx) -> None:
            row = get_scan(tx, scan_id, lock=True)
            if row["action"] in ("accepted", "corrected"):
                raise CollectionError(f"scan {scan_id} was already added")
            card_id = key.card_id if key else row["card_id"]
            if not card_id:
                raise CollectionError(f"scan {scan_id} has no card: choose one")
            accept(tx, scan_id, InventoryKey(card_id, *key_rest(key)), quantity)

        self.write_with(accept_)

    def reject_scan(self, scan_id: int) -> int:
        """The scan was not a card to keep: it is marked rejected and the cards it put in the inventory
        (its own net changes: another scan's, kiosk's or a hand edit's stay) come out again, as one
        undoable action. Returns how many cards came out."""

        def reject(tx: Tx) -> int:
            row = get_scan(tx, scan_id, lock=True)
            action_id = add_action(tx, "reject", scan_id, {"scan_before": row})
            taken = 0
            for inventory_id, delta in tx.tuples(_SCAN_NET.format(">"), (scan_id,)):
                change(tx, action_id, int(inventory_id), -int(delta), scan_id)
                taken += int(delta)
            tx.run("UPDATE scans SET action = 'rejected', action_id = ? WHERE id = ?", (action_id, scan_id))
            return taken

        return self.write_with(reject)

    def correct_scan(self, scan_id: int, card_id: str) -> None:
        """Say a scan was another card. If it was added, the inventory follows: only this scan's own
        cards move (−1 old, +1 new, finish and condition kept)."""

        def correct(tx: Tx) -> None:
            row = get_scan(tx, scan_id, lock=True)
            require_card(tx, card_id)
            if row["card_id"] == card_id:
                return
            action_id = add_action(tx, "correct", scan_id, {"scan_before": row})
            if row["action"] in ("accepted", "corrected"):
                # The scan's net effect per row (an earlier correction already moved some of it).
                for inventory_id, delta in tx.tuples(_SCAN_NET.format("!="), (scan_id,)):
                    change(tx, action_id, int(inventory_id), -int(delta), scan_id)
                    old = get_inventory(tx, int(inventory_id))
                    key = InventoryKey(card_id, old["finish"], old["condition"], old["language"], old["location"])
                    change(tx, action_id, inventory_row(tx, key), int(delta), scan_id)
            tx.run(
                "UPDATE scans SET card_id = ?, corrected_from = ?,"
                " action = CASE WHEN action IN ('accepted', 'corrected') THEN 'corrected' ELSE action END,"
                " action_id = ? WHERE id = ?",
                (card_id, row["card_id"], action_id, scan_id),
            )

        self.write_with(correct)

    def scan_row(self, scan_id: int) -> dict[str, Any]:
        return self.read_with(lambda tx: get_scan(tx, scan_id))

    def scans(self, session_id: int | None = None) -> list[dict[str, Any]]:
        if session_id is None:
            return self.read_with(lambda tx: tx.rows("SELECT * FROM scans ORDER BY id"))
        return self.read_with(lambda tx: tx.rows("SELECT * FROM scans WHERE session_id = ? ORDER BY id", (session_id,)))

    def scan_holdings(self, scan_id: int) -> list[tuple[int, int]]:
        """(inventory row, cards) a scan put in the inventory that are still there (net of its
        corrections and of undo), by row id."""
        rows = self.read_with(lambda tx: tx.tuples(_SCAN_NET.format(">"), (scan_id,)))
        return [(int(r[0]), int(r[1])) for r in rows]

    # ------------------------------------------------------------------ inventory edits
    def add(
        self, key: InventoryKey, quantity: int = 1, notes: str | None = None, price_paid: float | None = None
    ) -> int:
        """Add cards by hand (no scan). Returns the inventory row id."""
        check_quantity(quantity)
        check_price(price_paid)
        key.validate()

        def add_(tx: Tx) -> int:
            require_card(tx, key.card_id)
            add_rows(tx, "add", {"key": key.__dict__, "quantity": quantity}, [(key, quantity)])
            inventory_id = inventory_row(tx, key)
            keep_details(tx, inventory_id, notes, price_paid)
            return inventory_id

        return self.write_with(add_)

    def set_quantity(self, inventory_id: int, quantity: int) -> None:
        """An explicit count (a stock take): the row is locked while it is read and changed."""
        check_quantity(quantity, smallest=0)

        def set_(tx: Tx) -> None:
            current = get_inventory(tx, inventory_id, lock=True)["quantity"]
            if quantity != current:
                action_id = add_action(tx, "edit", None, {"inventory_id": inventory_id})
                change(tx, action_id, inventory_id, quantity - current, None)

        self.write_with(set_)

    def move(
        self,
        inventory_id: int,
        finish: str | None = None,
        condition: str | None = None,
        language: str | None = None,
        location: str | None = None,
    ) -> int:
        """Change finish/condition/language/location of a row's cards (merging into an existing row)."""

        def move_(tx: Tx) -> int:
            row = get_inventory(tx, inventory_id, lock=True)
            key = InventoryKey(
                row["card_id"],
                finish or row["finish"],
                condition or row["condition"],
                language or row["language"],
                row["location"] if location is None else location,
            )
            key.validate()
            target = inventory_row(tx, key)
            if target != inventory_id and row["quantity"]:
                action_id = add_action(tx, "edit", None, {"inventory_id": inventory_id, "to": target})
                change(tx, action_id, inventory_id, -row["quantity"], None)
                change(tx, action_id, target, row["quantity"], None)
            return target

        return self.write_with(move_)

    def merge(self, keep_id: int, other_id: int) -> None:
        """Merge two rows of the same card into one (quantities add up, notes are kept)."""

        def merge_(tx: Tx) -> None:
            keep = get_inventory(tx, keep_id, lock=True)
            other = get_inventory(tx, other_id, lock=True)
            if keep["card_id"] != other["card_id"]:
                raise CollectionError("only rows of the same card can be merged")
            action_id = add_action(tx, "merge", None, {"keep": keep_id, "other": other_id})
            if other["quantity"]:
                change(tx, action_id, other_id, -other["quantity"], None)
                change(tx, action_id, keep_id, other["quantity"], None)

        self.write_with(merge_)

    # ------------------------------------------------------------------ undo
    def undoable(self, count: int = 1) -> list[dict[str, Any]]:
        """The actions :meth:`undo` with this ``count`` would take back, newest first (nothing changes);
        on the shop server, this kiosk's own."""
        check_undo_count(count)
        return self.read_with(lambda tx: self._undoable(tx, count, lock=False))

    def undo(self, count: int = 1, expected: Sequence[int] | None = None) -> list[dict[str, Any]]:
        """Undo the last ``count`` actions (newest first); returns what was undone.

        ``expected``: the action ids the user was shown (:meth:`undoable`); if another program has
        acted since, nothing is undone."""
        check_undo_count(count)

        def undo_(tx: Tx) -> list[dict[str, Any]]:
            actions = self._undoable(tx, count, lock=True)
            if expected is not None and [a["id"] for a in actions] != list(expected):
                raise CollectionError("the collection changed since the list was shown; nothing was undone, try again")
            for action in actions:
                for inventory_id, delta in tx.tuples(
                    "SELECT inventory_id, delta FROM inventory_changes WHERE action_id = ? ORDER BY id DESC",
                    (action["id"],),
                ):
                    apply_delta(tx, int(inventory_id), -int(delta))
                before = json.loads(action["payload"] or "{}").get("scan_before")
                if before:
                    tx.run(
                        "UPDATE scans SET card_id = ?, action = ?, corrected_from = ?, action_id = ? WHERE id = ?",
                        (
                            before["card_id"],
                            before["action"],
                            before["corrected_from"],
                            before["action_id"],
                            before["id"],
                        ),
                    )
                tx.run("UPDATE actions SET undone = 1, undone_at = ? WHERE id = ?", (now(), action["id"]))
            return actions

        return self.write_with(undo_)

    @staticmethod
    def _undoable(tx: Tx, count: int, lock: bool) -> list[dict[str, Any]]:
        mine, args = (" AND kiosk = ?", [tx.kiosk]) if tx.shop else ("", [])
        return tx.rows(
            f"SELECT * FROM actions WHERE undone = 0{mine} ORDER BY id DESC LIMIT ?" + (tx.lock if lock else ""),
            (*args, count),
        )

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

        def read(tx: Tx) -> list[dict[str, Any]]:
            where, args = self._inventory_where(tx, query, set_id, rarity, finish, condition)
            sql = [
                "SELECT i.*, c.name, c.set_id, c.set_name, c.number, c.printed_total, c.rarity, c.supertype,"
                " c.set_code FROM inventory i JOIN cards c ON c.card_id = i.card_id",
                where,
                f"ORDER BY {tx.inventory_order}",
            ]
            if limit:
                sql.append(f"LIMIT {int(limit)} OFFSET {int(offset)}")
            return [{**r, "quantity": int(r["quantity"])} for r in tx.rows(" ".join(sql), args)]

        return self.read_with(read)

    def inventory_totals(
        self,
        query: str = "",
        set_id: str | None = None,
        rarity: str | None = None,
        finish: str | None = None,
        condition: str | None = None,
    ) -> tuple[int, int]:
        """(rows, cards) matching the same filters as :meth:`inventory`."""

        def read(tx: Tx) -> tuple[int, int]:
            where, args = self._inventory_where(tx, query, set_id, rarity, finish, condition)
            [(rows, cards)] = tx.tuples(
                "SELECT COUNT(*), COALESCE(SUM(i.quantity), 0)"
                f" FROM inventory i JOIN cards c ON c.card_id = i.card_id {where}",
                args,
            )
            return int(rows), int(cards)

        return self.read_with(read)

    def inventory_values(self, column: str) -> list[str]:
        """Distinct values of a filter column among held cards (set_id, rarity, finish, condition), in
        byte order on both backends."""
        source = {"set_id": "c.set_id", "rarity": "c.rarity", "finish": "i.finish", "condition": "i.condition"}[column]
        rows = self.read_with(
            lambda tx: tx.tuples(
                f"SELECT DISTINCT {source} FROM inventory i JOIN cards c ON c.card_id = i.card_id"
                f" WHERE i.quantity > 0 AND {source} IS NOT NULL"
            )
        )
        return sorted((str(r[0]) for r in rows), key=lambda v: v.encode())

    @staticmethod
    def _inventory_where(
        tx: Tx, query: str, set_id: str | None, rarity: str | None, finish: str | None, condition: str | None
    ) -> tuple[str, list[Any]]:
        sql = ["WHERE i.quantity > 0"]
        args: list[Any] = []
        if query:
            like = f"{tx.like} ? ESCAPE '\\'"
            sql.append(f"AND (c.name {like} OR c.number = ? OR c.card_id = ? OR c.set_name {like})")
            args += [like_pattern(query), query, query, like_pattern(query)]
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

    def replayed_quantities(self) -> dict[int, int]:
        """Inventory rebuilt from the change log of actions not undone (must equal the table)."""
        rows = self.read_with(
            lambda tx: tx.tuples(
                "SELECT c.inventory_id, SUM(c.delta) FROM inventory_changes c JOIN actions a ON a.id = c.action_id"
                " WHERE a.undone = 0 GROUP BY c.inventory_id"
            )
        )
        return {int(r[0]): int(r[1]) for r in rows}

    def stored_quantities(self) -> dict[int, int]:
        return {
            int(r[0]): int(r[1]) for r in self.read_with(lambda tx: tx.tuples("SELECT id, quantity FROM inventory"))
        }

    def set_names(self) -> dict[str, str]:
        """Each set id among the collection's cards with the name it is shown by (its id when unnamed)."""
        rows = self.read_with(
            lambda tx: tx.tuples(
                "SELECT DISTINCT set_id, COALESCE(set_name, set_id) FROM cards WHERE set_id IS NOT NULL"
            )
        )
        return {str(r[0]): str(r[1]) for r in rows}

    def inventory_card_name(self, inventory_id: int) -> str | None:
        """The name of the card an inventory row holds (None: no such row)."""
        row = self.read_with(
            lambda tx: tx.one(
                "SELECT c.name FROM inventory i JOIN cards c ON c.card_id = i.card_id WHERE i.id = ?", (inventory_id,)
            )
        )
        return str(row["name"]) if row else None

    def inventory_quantity(self, inventory_id: int) -> int | None:
        """How many cards an inventory row holds (None: no such row)."""
        row = self.read_with(lambda tx: tx.one("SELECT quantity FROM inventory WHERE id = ?", (inventory_id,)))
        return int(row["quantity"]) if row else None
