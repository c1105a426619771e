"""Collection schema and its versioned migrations (``PRAGMA user_version``)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import sqlite_utils

logger = logging.getLogger(__name__)

#: Marks the file as a cardsight collection ("CdSt"), so a foreign SQLite file is never migrated.
APPLICATION_ID = 0x43645374


def _v1(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE cards (
            card_id TEXT PRIMARY KEY, name TEXT NOT NULL, set_id TEXT, set_name TEXT, number TEXT,
            printed_total INTEGER, rarity TEXT, supertype TEXT, set_code TEXT
        );
        CREATE TABLE sessions (
            id INTEGER PRIMARY KEY, label TEXT NOT NULL, operator TEXT, location TEXT, kiosk_id TEXT,
            started_at TEXT NOT NULL, ended_at TEXT
        );
        CREATE TABLE actions (
            id INTEGER PRIMARY KEY, time TEXT NOT NULL, kind TEXT NOT NULL, scan_id INTEGER,
            payload TEXT, undone INTEGER NOT NULL DEFAULT 0, undone_at TEXT
        );
        CREATE TABLE scans (
            id INTEGER PRIMARY KEY, time TEXT NOT NULL, source TEXT, session_id INTEGER REFERENCES sessions(id),
            status TEXT NOT NULL, card_id TEXT REFERENCES cards(card_id), seen_card_id TEXT,
            confidence REAL, margin REAL, alternatives TEXT, ocr_text TEXT, crop_path TEXT,
            action TEXT NOT NULL DEFAULT 'pending', corrected_from TEXT, action_id INTEGER REFERENCES actions(id)
        );
        CREATE TABLE inventory (
            id INTEGER PRIMARY KEY, card_id TEXT NOT NULL REFERENCES cards(card_id),
            finish TEXT NOT NULL, condition TEXT NOT NULL, language TEXT NOT NULL, location TEXT NOT NULL,
            quantity INTEGER NOT NULL DEFAULT 0 CHECK (quantity >= 0), price_paid REAL, notes TEXT,
            date_added TEXT DEFAULT (strftime('%Y-%m-%d', 'now')),
            UNIQUE (card_id, finish, condition, language, location)
        );
        CREATE TABLE inventory_changes (
            id INTEGER PRIMARY KEY, action_id INTEGER NOT NULL REFERENCES actions(id),
            inventory_id INTEGER NOT NULL REFERENCES inventory(id), delta INTEGER NOT NULL,
            scan_id INTEGER REFERENCES scans(id)
        );
        CREATE INDEX scans_session ON scans(session_id);
        CREATE INDEX changes_action ON inventory_changes(action_id);
        CREATE INDEX changes_scan ON inventory_changes(scan_id);
        """
    )


def _v2(db: sqlite_utils.Database) -> None:
    """Market prices with history: one row per card, finish, source, currency and price date (a newer
    date is a new row, so the value on any past date can be answered). Prices are kept for cards the
    collection does not hold yet (no foreign key to ``cards``)."""
    # One statement at a time: executescript would commit the caller's transaction first.
    db.execute(
        """
        CREATE TABLE prices (
            id INTEGER PRIMARY KEY, card_id TEXT NOT NULL, finish TEXT NOT NULL, source TEXT NOT NULL,
            currency TEXT NOT NULL, date TEXT NOT NULL, price REAL NOT NULL CHECK (price >= 0),
            low REAL, mid REAL, high REAL, market REAL, figures TEXT, fetched_at TEXT NOT NULL,
            UNIQUE (card_id, finish, source, currency, date)
        )
        """
    )
    db.execute("CREATE INDEX prices_latest ON prices(currency, card_id, finish, date)")


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_v1, _v2]


def migrate(db: sqlite_utils.Database) -> int:
    """Bring the schema to the newest version inside the caller's transaction; returns it."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > len(MIGRATIONS):
        raise ValueError(
            f"collection schema v{version} is newer than this cardsight (v{len(MIGRATIONS)}); update cardsight"
        )
    for number in range(version, len(MIGRATIONS)):
        logger.info("Migrating collection schema to v%d", number + 1)
        MIGRATIONS[number](db)
        db.execute(f"PRAGMA user_version = {number + 1}")
    # Written only when it changes: opening an up-to-date collection writes nothing.
    if db.execute("PRAGMA application_id").fetchone()[0] != APPLICATION_ID:
        db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    return len(MIGRATIONS)
