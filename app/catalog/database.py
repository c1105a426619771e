"""The card catalogue database: every known set and card (metadata only, no images, no vectors).

A compact SQLite file ships with the product (``app/catalog/catalog.sqlite``, built from the
pokemontcg.io metadata by ``python -m app.catalog.database build --metadata DIR``) and is only ever
read. ``cardsight catalog update`` merges newer sets into a user copy in the data folder
(:func:`user_catalog_path`), which is used instead of the shipped file once it exists and opens
cleanly. Opening either never touches the network.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import sqlite3
import sys
import tempfile
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

SHIPPED_CATALOG = Path(__file__).with_name("catalog.sqlite")
SCHEMA_VERSION = 1
IMAGE_HOST = "https://images.pokemontcg.io"

SCHEMA = """
CREATE TABLE sets (
    set_id TEXT PRIMARY KEY, name TEXT NOT NULL, series TEXT, release_date TEXT,
    printed_total INTEGER, total INTEGER, ptcgo_code TEXT, updated_at TEXT
) WITHOUT ROWID;
CREATE TABLE cards (
    card_id TEXT PRIMARY KEY, set_id TEXT NOT NULL, name TEXT NOT NULL, name_key TEXT NOT NULL,
    number TEXT NOT NULL, number_key TEXT NOT NULL, rarity TEXT, supertype TEXT, subtypes TEXT,
    artist TEXT, image_small TEXT, image_large TEXT
) WITHOUT ROWID;
CREATE INDEX cards_by_set ON cards (set_id, number_key);
CREATE INDEX cards_by_number ON cards (number_key);
CREATE INDEX cards_by_name_artist ON cards (name_key, artist);
"""

_DIGITS = re.compile(r"\d+")
#: A collector number as printed: ``4``, ``025``, ``TG05``, ``SWSH061``, ``4/102``, ``TG05/TG30``.
_NUMBER_TOKEN = re.compile(r"^#?([A-Z]{0,4}\d+[A-Z]?)(?:/([A-Z]{0,4})(\d+))?$")


class CatalogDatabaseError(ValueError):
    """The catalogue database is missing, damaged, or not one this cardsight reads."""


@dataclass(frozen=True)
class SetInfo:
    set_id: str
    name: str
    series: str | None
    release_date: str | None
    printed_total: int | None
    total: int | None
    ptcgo_code: str | None
    updated_at: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.set_id,
            "name": self.name,
            "series": self.series,
            "release_date": self.release_date,
            "printed_total": self.printed_total,
            "total": self.total,
            "ptcgo_code": self.ptcgo_code,
        }


@dataclass(frozen=True)
class CardInfo:
    card_id: str
    set_id: str
    set_name: str
    series: str | None
    ptcgo_code: str | None
    name: str
    number: str
    printed_total: int | None
    rarity: str | None
    supertype: str | None
    subtypes: tuple[str, ...]
    artist: str | None
    image_small: str
    image_large: str
    release_date: str | None = field(default=None, compare=False)

    def metadata(self) -> dict[str, Any]:
        """The card in the reference bundle's metadata shape (what the collection stores)."""
        return {
            "card_id": self.card_id,
            "name": self.name,
            "number": self.number,
            "printed_total": self.printed_total,
            "ptcgo_code": self.ptcgo_code,
            "rarity": self.rarity,
            "series": self.series,
            "set_id": self.set_id,
            "set_name": self.set_name,
            "subtypes": list(self.subtypes),
            "supertype": self.supertype,
        }

    def as_json(self) -> dict[str, Any]:
        return {
            **self.metadata(),
            "artist": self.artist,
            "release_date": self.release_date,
            "images": {"small": self.image_small, "large": self.image_large},
        }


# ---------------------------------------------------------------------------- keys


def name_key(name: str) -> str:
    """Case, accents and apostrophe styles folded: ``Flabébé`` and ``flabebe`` meet."""
    decomposed = unicodedata.normalize("NFKD", name.replace("’", "'"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold().strip()


def number_key(number: str) -> str:
    """Upper case, leading zeros dropped from every digit run: ``025`` → ``25``, ``TG05`` → ``TG5``."""
    return _DIGITS.sub(lambda m: str(int(m.group())), number.strip().upper())


def standard_image_url(set_id: str, number: str, large: bool) -> str:
    return f"{IMAGE_HOST}/{set_id}/{number}{'_hires' if large else ''}.png"


def user_catalog_path() -> Path:
    """Where ``catalog update`` keeps its copy: ``$XDG_DATA_HOME/cardsight`` or ``~/.local/share/cardsight``."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "cardsight" / "catalog.db"


# ---------------------------------------------------------------------------- writing


def create_schema(conn: sqlite3.Connection) -> None:
    conn.executescript(SCHEMA)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def set_row(record: dict[str, Any]) -> tuple[Any, ...]:
    """A pokemontcg.io set record (static data or API v2) as a ``sets`` row; KeyError/TypeError when malformed."""
    set_id, name = record["id"], record["name"]
    if not isinstance(set_id, str) or not set_id or not isinstance(name, str):
        raise TypeError("a set needs a text id and name")
    return (
        set_id,
        name,
        _text(record.get("series")),
        _text(record.get("releaseDate")),
        _int(record.get("printedTotal")),
        _int(record.get("total")),
        _text(record.get("ptcgoCode")),
        _text(record.get("updatedAt")),
    )


def card_row(set_id: str, record: dict[str, Any]) -> tuple[Any, ...]:
    """A pokemontcg.io card record as a ``cards`` row; image URLs that follow the host's pattern are
    stored as NULL (rebuilt on reading), which keeps the shipped file small."""
    card_id, name, number = record["id"], record["name"], record["number"]
    if not all(isinstance(v, str) and v for v in (card_id, name, number)):
        raise TypeError("a card needs a text id, name and number")
    subtypes = record.get("subtypes") or []
    if not isinstance(subtypes, list):
        raise TypeError("subtypes should be a list")
    images = record.get("images") or {}
    if not isinstance(images, dict):
        raise TypeError("images should be an object")
    small, large = images.get("small"), images.get("large")
    return (
        card_id,
        set_id,
        name,
        name_key(name),
        number,
        number_key(number),
        _text(record.get("rarity")),
        _text(record.get("supertype")),
        "|".join(str(s) for s in subtypes) or None,
        _text(record.get("artist")),
        None if small == standard_image_url(set_id, number, False) else _text(small),
        None if large == standard_image_url(set_id, number, True) else _text(large),
    )


def store_set(conn: sqlite3.Connection, record: dict[str, Any], cards: Iterable[dict[str, Any]]) -> int:
    """Insert or replace one set and its cards (inside the caller's transaction); returns the card count."""
    row = set_row(record)
    rows = [card_row(row[0], card) for card in cards]
    conn.execute("INSERT OR REPLACE INTO sets VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)
    conn.executemany("INSERT OR REPLACE INTO cards VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    return len(rows)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise CatalogDatabaseError(f"missing {path}") from error
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CatalogDatabaseError(f"{path} is not readable JSON: {error}") from error


def build_database(metadata_dir: str | Path, out: str | Path) -> tuple[int, int]:
    """Build the catalogue from a pokemontcg.io metadata folder (``sets/en.json``, ``cards/en/<set>.json``).

    Written to a temporary file and renamed over ``out``, so a failed build leaves the old file.
    Returns (sets, cards).
    """
    root, out = Path(metadata_dir), Path(out)
    sets = _read_json(root / "sets" / "en.json")
    if not isinstance(sets, list):
        raise CatalogDatabaseError(f"{root / 'sets' / 'en.json'} should hold a list of sets")
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(dir=out.parent, prefix=out.name, suffix=".tmp")
    os.close(handle)
    tmp = Path(tmp_name)
    card_total = 0
    try:
        conn = sqlite3.connect(tmp)
        try:
            create_schema(conn)
            with conn:
                for record in sets:
                    set_id = record.get("id") if isinstance(record, dict) else None
                    cards = _read_json(root / "cards" / "en" / f"{set_id}.json")
                    if not isinstance(cards, list):
                        raise CatalogDatabaseError(f"cards of set {set_id} should be a list")
                    try:
                        card_total += store_set(conn, record, cards)
                    except (KeyError, TypeError, AttributeError) as error:
                        raise CatalogDatabaseError(f"malformed record in set {set_id}: {error}") from error
            conn.execute("VACUUM")
        finally:
            conn.close()
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    logger.info("Catalogue %s: %d sets, %d cards", out, len(sets), card_total)
    return len(sets), card_total


# ---------------------------------------------------------------------------- reading

_CARD_COLUMNS = (
    "c.card_id, c.set_id, s.name, s.series, s.ptcgo_code, c.name, c.number, s.printed_total, c.rarity, "
    "c.supertype, c.subtypes, c.artist, c.image_small, c.image_large, s.release_date"
)
_CARD_FROM = "cards c JOIN sets s ON s.set_id = c.set_id"


def _card(row: Sequence[Any]) -> CardInfo:
    set_id, number = row[1], row[6]
    return CardInfo(
        card_id=row[0],
        set_id=set_id,
        set_name=row[2],
        series=row[3],
        ptcgo_code=row[4],
        name=row[5],
        number=number,
        printed_total=row[7],
        rarity=row[8],
        supertype=row[9],
        subtypes=tuple(row[10].split("|")) if row[10] else (),
        artist=row[11],
        image_small=row[12] or standard_image_url(set_id, number, False),
        image_large=row[13] or standard_image_url(set_id, number, True),
        release_date=row[14],
    )


@dataclass(frozen=True)
class _Query:
    """One reading of a search text: optional set filter, collector number, printed total and name."""

    set_ids: tuple[str, ...] = ()
    number: str | None = None
    total: int | None = None
    name: str = ""
    #: How ``name`` meets the card's name: "exact", "prefix" or "contains".
    match: str = "contains"


class CatalogDatabase:
    """Read access to a catalogue file (writes go through :mod:`app.catalog.update`)."""

    def __init__(self, path: str | Path, conn: sqlite3.Connection) -> None:
        self.path = Path(path)
        self.conn = conn
        self._codes: dict[str, str] | None = None

    @classmethod
    def open(cls, path: str | Path) -> CatalogDatabase:
        """Open read-only and check it is a catalogue of this schema; one-line CatalogDatabaseError otherwise."""
        path = Path(path)
        if not path.is_file():
            raise CatalogDatabaseError(f"no catalogue database at {path}")
        try:
            conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
        except sqlite3.Error as error:
            raise CatalogDatabaseError(f"cannot open the catalogue {path}: {error}") from error
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if version != SCHEMA_VERSION or not {"sets", "cards"} <= tables:
                raise CatalogDatabaseError(
                    f"{path} is not a cardsight catalogue of schema v{SCHEMA_VERSION} "
                    f"(found v{version}, tables {', '.join(sorted(tables)) or 'none'})"
                )
            conn.execute("SELECT count(*) FROM sets").fetchone()
        except sqlite3.DatabaseError as error:
            conn.close()
            raise CatalogDatabaseError(f"{path} is not a readable catalogue database: {error}") from error
        except CatalogDatabaseError:
            conn.close()
            raise
        return cls(path, conn)

    def close(self) -> None:
        self.conn.close()

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        try:
            return self.conn.execute(sql, params).fetchall()
        except sqlite3.DatabaseError as error:
            raise CatalogDatabaseError(f"the catalogue {self.path} is damaged: {error}") from error

    # ------------------------------------------------------------------ sets
    def sets(self) -> list[SetInfo]:
        """Every set, oldest first (release date, then id)."""
        rows = self._rows("SELECT * FROM sets ORDER BY release_date, set_id")
        return [SetInfo(*row) for row in rows]

    def set_ids(self) -> set[str]:
        return {r[0] for r in self._rows("SELECT set_id FROM sets")}

    def card_counts(self) -> dict[str, int]:
        return dict(self._rows("SELECT set_id, count(*) FROM cards GROUP BY set_id"))

    def card_count(self) -> int:
        return int(self._rows("SELECT count(*) FROM cards")[0][0])

    def set_codes(self) -> dict[str, str]:
        """Lower-cased set id and PTCGO code → set id."""
        if self._codes is None:
            codes: dict[str, str] = {}
            for set_id, code in self._rows("SELECT set_id, ptcgo_code FROM sets"):
                codes[set_id.lower()] = set_id
                if code:
                    codes.setdefault(code.lower(), set_id)
            self._codes = codes
        return self._codes

    def sets_for_code(self, code: str) -> list[str]:
        """Set ids named by a set id or a PTCGO code (``EVO`` → ``xy12``; a code some sets share → all)."""
        code = code.strip().lower()
        rows = self._rows(
            "SELECT set_id FROM sets WHERE lower(set_id) = ? OR lower(ptcgo_code) = ? ORDER BY release_date",
            (code, code),
        )
        return [r[0] for r in rows]

    # ------------------------------------------------------------------ cards
    def card(self, card_id: str) -> CardInfo | None:
        rows = self._rows(f"SELECT {_CARD_COLUMNS} FROM {_CARD_FROM} WHERE c.card_id = ?", (card_id,))
        return _card(rows[0]) if rows else None

    def cards_in_set(self, set_id: str) -> list[CardInfo]:
        rows = self._rows(f"SELECT {_CARD_COLUMNS} FROM {_CARD_FROM} WHERE c.set_id = ?", (set_id,))
        return sorted((_card(r) for r in rows), key=_number_order)

    def by_number(self, number: str, set_id: str | None = None) -> list[CardInfo]:
        """Cards with this collector number (``4``, ``004``, ``TG05``, ``SWSH061``; ``4/102`` also checks the
        set's printed total), newest set first."""
        parsed = _parse_number(number)
        if parsed is None:
            return []
        return self._find(_Query(set_ids=(set_id,) if set_id else (), number=parsed[0], total=parsed[1]))

    def same_name_and_artist(self, card_id: str) -> list[CardInfo]:
        """Other cards with this card's name and artist (the reprint candidates), oldest set first."""
        rows = self._rows(
            f"SELECT {_CARD_COLUMNS} FROM {_CARD_FROM} JOIN cards o ON o.name_key = c.name_key "
            "AND o.artist = c.artist WHERE o.card_id = ? AND c.card_id != ? AND c.set_id != o.set_id "
            "ORDER BY s.release_date, c.set_id",
            (card_id, card_id),
        )
        return [_card(r) for r in rows]

    def search(
        self, text: str, set_id: str | None = None, limit: int = 50, prefer: frozenset[str] = frozenset()
    ) -> list[CardInfo]:
        """Cards by card id, name, collector number (``4/102``, ``TG05``) and set code (``EVO``, ``xy12``),
        in any combination (``charizard 4/102``, ``pikachu evo``).

        The whole text as a name and each structured reading are all tried: a word that is also a set
        code (``ex``) still finds the names that contain it. Best first: exact id, exact name, number
        matches, a set code alone, name prefix, name substring, name within a set; within each, the
        sets in ``prefer`` (the installed ones) first, then newer sets.
        """
        text = text.strip()
        if not text:
            return []
        set_filter: tuple[str, ...] = ()
        if set_id:
            set_filter = tuple(self.sets_for_code(set_id))
            if not set_filter:
                raise CatalogDatabaseError(f"unknown set {set_id!r} (see `cardsight catalog sets`)")
        scored: dict[str, tuple[int, CardInfo]] = {}

        def offer(cards: Iterable[CardInfo], score: int) -> None:
            for card in cards:
                if card.card_id not in scored or scored[card.card_id][0] > score:
                    scored[card.card_id] = (score, card)

        exact = self.card(text)
        if exact is not None and (not set_filter or exact.set_id in set_filter):
            offer([exact], 0)
        whole = name_key(text)
        offer(self._find(_Query(set_ids=set_filter, name=whole, match="exact"), limit), 1)
        for query in self._readings(text, set_filter):
            offer(self._find(query, limit * 4), 2 if query.number else 3 if not query.name else 6)
        offer(self._find(_Query(set_ids=set_filter, name=whole, match="prefix"), limit), 4)
        offer(self._find(_Query(set_ids=set_filter, name=whole), limit), 5)
        ranked = sorted(
            scored.values(), key=lambda item: (item[0], item[1].set_id not in prefer, _newest_first(item[1]))
        )
        return [card for _, card in ranked[:limit]]

    def _readings(self, text: str, set_filter: tuple[str, ...]) -> list[_Query]:
        """Structured readings of the words: set codes and one collector number peeled off the name."""
        words = text.split()
        codes = self.set_codes()
        set_words = [w for w in words if w.lower() in codes]
        number_words = [w for w in words if _parse_number(w) is not None]
        readings: list[_Query] = []
        for use_sets in [True, False] if set_words else [False]:
            for use_number in [True, False] if number_words else [False]:
                if not use_sets and not use_number:
                    continue
                taken = set()
                sets = set_filter
                if use_sets:
                    chosen = tuple(s for w in set_words for s in self.sets_for_code(w))
                    sets = tuple(s for s in chosen if not set_filter or s in set_filter) or ("\0",)
                    taken.update(set_words)
                number = total = None
                if use_number:
                    word = next(w for w in number_words if w not in taken)
                    parsed = _parse_number(word)
                    if parsed is None:
                        continue
                    number, total = parsed
                    taken.add(word)
                rest = name_key(" ".join(w for w in words if w not in taken))
                readings.append(_Query(set_ids=sets, number=number, total=total, name=rest))
        return readings

    def _find(self, query: _Query, limit: int = 200) -> list[CardInfo]:
        where: list[str] = []
        params: list[object] = []
        if query.set_ids:
            where.append(f"c.set_id IN ({','.join('?' * len(query.set_ids))})")
            params.extend(query.set_ids)
        if query.number is not None:
            where.append("c.number_key = ?")
            params.append(query.number)
        if query.total is not None:
            where.append("s.printed_total = ?")
            params.append(query.total)
        if query.name and query.match == "exact":
            where.append("c.name_key = ?")
            params.append(query.name)
        elif query.name:
            escaped = query.name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            where.append("c.name_key LIKE ? ESCAPE '\\'")
            params.append(("" if query.match == "prefix" else "%") + escaped + "%")
        if not where:
            return []
        rows = self._rows(
            f"SELECT {_CARD_COLUMNS} FROM {_CARD_FROM} WHERE {' AND '.join(where)} "
            "ORDER BY s.release_date DESC, c.set_id, CAST(c.number AS INTEGER), c.number LIMIT ?",
            (*params, limit),
        )
        return [_card(r) for r in rows]


def _parse_number(word: str) -> tuple[str, int | None] | None:
    """(number key, printed total or None) of a collector-number word, None for any other word."""
    match = _NUMBER_TOKEN.match(word.strip().upper())
    if match is None:
        return None
    total = int(match.group(3)) if match.group(3) and not match.group(2) else None
    return number_key(match.group(1)), total


def _number_order(card: CardInfo) -> tuple[int, int, str]:
    digits = _DIGITS.search(card.number)
    return (0 if card.number.isdigit() else 1, int(digits.group()) if digits else 0, card.number)


def _newest_first(card: CardInfo) -> tuple[int, str, tuple[int, int, str]]:
    digits = "".join(ch for ch in card.release_date or "" if ch.isdigit())
    return (-int(digits) if digits else 0, card.set_id, _number_order(card))


# ---------------------------------------------------------------------------- choosing the file


def open_catalog(path: str | Path | None = None) -> CatalogDatabase:
    """The catalogue at ``path``; by default the user's updated copy when it opens cleanly, else the
    shipped one (a damaged user copy is warned about and skipped, never used)."""
    if path is not None:
        return CatalogDatabase.open(path)
    user = user_catalog_path()
    shipped = CatalogDatabase.open(SHIPPED_CATALOG)
    if user.is_file():
        try:
            copy = CatalogDatabase.open(user)
        except CatalogDatabaseError as error:
            logger.warning("Ignoring the updated catalogue: %s (the shipped one is used)", error)
            return shipped
        missing = shipped.set_ids() - copy.set_ids()
        if not missing:
            shipped.close()
            return copy
        # A newer cardsight ships sets the older copy lacks: the shipped file knows more.
        logger.warning(
            "Ignoring the updated catalogue %s: it lacks %d set(s) this cardsight ships (%s); "
            "run `cardsight catalog update` to merge them",
            user,
            len(missing),
            ", ".join(sorted(missing)[:5]),
        )
        copy.close()
    return shipped


@lru_cache(maxsize=1)
def default_catalog() -> CatalogDatabase:
    """The catalogue the app uses (opened once per process)."""
    return open_catalog()


def catalog_metadata(card_id: str) -> dict[str, Any] | None:
    """A card's metadata in the bundle/collection shape, from the default catalogue (None: unknown card
    or no readable catalogue)."""
    try:
        card = default_catalog().card(card_id)
    except CatalogDatabaseError as error:
        logger.warning("%s", error)
        return None
    return card.metadata() if card is not None else None


@contextmanager
def writable_copy(path: Path, source: Path = SHIPPED_CATALOG) -> Iterator[sqlite3.Connection]:
    """A read-write connection to the user copy at ``path``, first copied from ``source`` (atomically)
    when it does not exist yet. The shipped file itself is never opened for writing."""
    if not path.is_file():
        CatalogDatabase.open(source).close()
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        os.close(handle)
        try:
            shutil.copyfile(source, tmp_name)
            Path(tmp_name).replace(path)
        finally:
            Path(tmp_name).unlink(missing_ok=True)
    CatalogDatabase.open(path).close()
    # A URI connection, so that the source attached read-only by URI is read as one.
    conn = sqlite3.connect(path.resolve().as_uri(), uri=True)
    try:
        merged = merge_missing_sets(conn, source)
        if merged:
            logger.info("Merged %d set(s) of the shipped catalogue into %s", len(merged), path)
        yield conn
    finally:
        conn.close()


def merge_missing_sets(conn: sqlite3.Connection, source: Path) -> list[str]:
    """Copy into ``conn``'s catalogue the sets of ``source`` it lacks (a newer cardsight's shipped file
    over an older updated copy), in one transaction; returns their ids."""
    conn.execute("ATTACH DATABASE ? AS source", (f"{source.resolve().as_uri()}?mode=ro",))
    try:
        with conn:
            missing = [
                r[0]
                for r in conn.execute(
                    "SELECT set_id FROM source.sets WHERE set_id NOT IN (SELECT set_id FROM main.sets)"
                )
            ]
            if missing:
                marks = ",".join("?" * len(missing))
                conn.execute(f"INSERT INTO main.sets SELECT * FROM source.sets WHERE set_id IN ({marks})", missing)
                conn.execute(
                    f"INSERT OR IGNORE INTO main.cards SELECT * FROM source.cards WHERE set_id IN ({marks})", missing
                )
    finally:
        conn.execute("DETACH DATABASE source")
    return missing


# ---------------------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m app.catalog.database", description="Build the shipped card catalogue database."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="build from a pokemontcg.io metadata folder (sets/en.json, cards/en/)")
    build.add_argument("--metadata", required=True, help="e.g. ../shared/data/pokemontcg-metadata")
    build.add_argument("--out", default=str(SHIPPED_CATALOG), help=f"default: {SHIPPED_CATALOG}")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        sets, cards = build_database(args.metadata, args.out)
    except (CatalogDatabaseError, OSError, sqlite3.Error) as error:
        print(f"catalog build: {error}", file=sys.stderr)
        return 1
    size = Path(args.out).stat().st_size
    print(f"{args.out}: {sets} sets, {cards} cards, {size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
