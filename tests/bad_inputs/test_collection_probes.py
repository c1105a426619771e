"""Bad input given to ``cardsight collection …`` through the real entry point: each probe ends with a
clear message and a non-zero exit, never a traceback, and the collection file is left as it was
(a refused file also gets no -wal/-shm/-journal beside it)."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from pathlib import Path

import pytest

from app.cli import main
from app.collection import Collection, InventoryKey
from app.collection.csvio import GENERIC_COLUMNS
from app.collection.store import MAX_QUANTITY
from tests.collection.conftest import CARDS, foreign_database, overwrite_pages, stocked_file

HEADER = ",".join(GENERIC_COLUMNS)
VENUSAUR = "xy12-1,Venusaur-EX,xy12,Evolutions,EVO,1,108,Rare Holo EX,normal,NM,English,,{q},,,"


@pytest.fixture(autouse=True)
def scratch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("CARDSIGHT_CONFIG", raising=False)
    return home


def collection(folder: Path) -> Path:
    return stocked_file(folder / "c.db", rows=3)


def damaged(folder: Path) -> Path:
    db = stocked_file(folder / "c.db")
    overwrite_pages(db)
    return db


def full_row(folder: Path) -> Path:
    with Collection(folder / "c.db") as c:
        c.upsert_cards(CARDS)
        c.add(InventoryKey("xy12-1"), MAX_QUANTITY)
    return folder / "c.db"


def csv_file(folder: Path, content: bytes) -> str:
    (folder / "in.csv").write_bytes(content)
    return str(folder / "in.csv")


def text_file(folder: Path) -> Path:
    (folder / "notes.db").write_text("shopping list", encoding="utf-8")
    return folder / "notes.db"


def subfolder(folder: Path, name: str) -> Path:
    (folder / name).mkdir()
    return folder / name


UNCLOSED_QUOTE = f'{HEADER}\nxy12-1,"Venusaur,,,,,,,normal,NM,,,1,,,\n'.encode()


Setup = Callable[[Path], tuple[Path, list[str]]]
#: name → (setup giving the database and the arguments after ``--db DB``, words the message must hold,
#: whether the database file itself is refused — then not even side files may appear)
PROBES: dict[str, tuple[Setup, str, bool]] = {
    "undo -1": (lambda d: (collection(d), ["undo", "-1"]), "1 to 100 actions", False),
    "undo 0": (lambda d: (collection(d), ["undo", "0"]), "1 to 100 actions", False),
    "undo 3 without a terminal": (lambda d: (collection(d), ["undo", "3"]), "needs a yes", False),
    "list of a damaged file": (lambda d: (damaged(d), ["list"]), "damaged", True),
    "export of a damaged file": (lambda d: (damaged(d), ["export", str(d / "x.csv")]), "damaged", True),
    "backup of a damaged file": (lambda d: (damaged(d), ["backup", str(d / "b.db")]), "damaged", True),
    "add to a damaged file": (lambda d: (damaged(d), ["add", "xy12-1"]), "damaged", True),
    "list of another program's file (high user_version)": (
        lambda d: (foreign_database(d / "other.db", 0, 42), ["list"]),
        "another program",
        True,
    ),
    "add to another program's file (high user_version)": (
        lambda d: (foreign_database(d / "other.db", 0, 42), ["add", "xy12-1"]),
        "another program",
        True,
    ),
    "add to a newer cardsight's rollback-journal file": (
        lambda d: (foreign_database(d / "newer.db", 0x43645374, 99, "cards"), ["add", "xy12-1"]),
        "newer cardsight",
        True,
    ),
    "a text file as the database": (
        lambda d: (text_file(d), ["list"]),
        "not an SQLite database",
        True,
    ),
    "a folder as the database": (
        lambda d: (subfolder(d, "adir.db"), ["list"]),
        "is a folder",
        True,
    ),
    "backup into a missing folder": (
        lambda d: (collection(d), ["backup", str(d / "nope" / "b.db")]),
        "does not exist",
        False,
    ),
    "backup onto an existing file": (
        lambda d: (collection(d), ["backup", str(d / "c.db")]),
        "exists; choose a new file name",
        False,
    ),
    "add --qty 99999999999999999999": (
        lambda d: (collection(d), ["add", "xy12-1", "--qty", "99999999999999999999"]),
        "limit of 1,000,000",
        False,
    ),
    "add one more to a full row": (lambda d: (full_row(d), ["add", "xy12-1"]), "at most 1,000,000", False),
    "add --price nan": (lambda d: (collection(d), ["add", "xy12-1", "--price", "nan"]), "price", False),
    "import quantity 2^63-1": (
        lambda d: (collection(d), ["import", csv_file(d, f"{HEADER}\n{VENUSAUR.format(q=2**63 - 1)}\n".encode())]),
        "limit of 1,000,000",
        False,
    ),
    "import quantity 99999999999999999999": (
        lambda d: (collection(d), ["import", csv_file(d, f"{HEADER}\n{VENUSAUR.format(q='9' * 20)}\n".encode())]),
        "limit of 1,000,000",
        False,
    ),
    "import with an unclosed quote": (
        lambda d: (collection(d), ["import", csv_file(d, UNCLOSED_QUOTE)]),
        "line 2: malformed CSV: a quote is never closed",
        False,
    ),
    "import with a row of the wrong width": (
        lambda d: (collection(d), ["import", csv_file(d, f"{HEADER}\n{VENUSAUR.format(q=1)}\nxy12-1,2\n".encode())]),
        "line 3: malformed CSV: 2 cell(s)",
        False,
    ),
    "import of bytes that are not UTF-8": (
        lambda d: (collection(d), ["import", csv_file(d, f"{HEADER}\n".encode() + b"\xff\xfe\x00junk\n")]),
        "line 2: not UTF-8 text",
        False,
    ),
    "import of an empty file": (lambda d: (collection(d), ["import", csv_file(d, b"")]), "is empty", False),
    "import of a folder": (lambda d: (collection(d), ["import", str(d)]), "cannot read", False),
    "import of a missing file": (lambda d: (collection(d), ["import", str(d / "gone.csv")]), "cannot read", False),
    "export to an existing folder": (
        lambda d: (collection(d), ["export", str(subfolder(d, "adir"))]),
        "it is a folder",
        False,
    ),
    "export into a missing folder": (
        lambda d: (collection(d), ["export", str(d / "nope" / "x.csv")]),
        "does not exist",
        False,
    ),
}


def side_files(db: Path) -> list[str]:
    return sorted(p.name for p in db.parent.iterdir() if p.name.startswith(db.name + "-"))


def temp_files(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.rglob("*") if p.name.endswith((".tmp", ".partial")))


@pytest.mark.parametrize("name", list(PROBES))
def test_collection_probe(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    setup, message, refused = PROBES[name]
    work = tmp_path / "work"
    work.mkdir()
    db, args = setup(work)
    before = db.read_bytes() if db.is_file() else None
    sides = side_files(db)
    try:
        status = main(["collection", "--db", str(db), *args])
    except SystemExit as error:  # argparse's own refusals end like this; none is expected here
        pytest.fail(f"{name}: exited through argparse ({error.code})")
    except Exception:
        pytest.fail(f"{name}: traceback\n{traceback.format_exc()}")
    out, err = capsys.readouterr()
    assert status != 0, f"{name}: exit 0\n{out}"
    assert message in err, f"{name}: {message!r} not in\n{err}"
    assert "Traceback" not in out + err
    assert (db.read_bytes() if db.is_file() else None) == before, f"{name}: the database changed"
    if refused:
        assert side_files(db) == sides, f"{name}: a refused file got side files"
    assert temp_files(work) == []
