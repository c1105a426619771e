"""``cardsight collection …`` through the real entry point: undo asks before taking back more than
one action, read-only commands leave the file alone, and no failure is a traceback.

Tests taking ``collection_address`` run on an SQLite file and on the shop server; those about the file
itself (a missing, damaged or read-only file, SQLite's own errors) use a file only."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from app.cli import main
from app.collection import Collection
from tests.collection.backends import open_address

from .conftest import overwrite_pages, stocked_file


@pytest.fixture(autouse=True)
def scratch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("CARDSIGHT_CONFIG", raising=False)


def run(db: Path | str, *args: str) -> int:
    return main(["collection", "--db", str(db), *args])


def three_adds(db: Path | str) -> None:
    for card in ("xy12-1", "sv3pt5-29", "xy12-2"):
        assert run(db, "add", card) == 0


def held(db: Path | str) -> set[str]:
    with open_address(str(db), Path("crops")) as c:
        return {r["card_id"] for r in c.inventory()}


class Terminal(io.StringIO):
    """Standard input as a terminal where the user types ``answer``."""

    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("count", ["-1", "0", "101"])
def test_undo_refuses_a_count_outside_its_range(
    tmp_path: Path, collection_address: str, capsys: pytest.CaptureFixture[str], count: str
) -> None:
    db = collection_address
    three_adds(db)
    assert run(db, "undo", "--yes", "--", count) == 1
    assert "1 to 100 actions" in capsys.readouterr().err
    assert held(db) == {"xy12-1", "sv3pt5-29", "xy12-2"}


def test_undo_of_several_without_a_terminal_or_yes_is_refused(
    tmp_path: Path, collection_address: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = collection_address
    three_adds(db)
    capsys.readouterr()
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))  # piped input is not a yes
    assert run(db, "undo", "2") == 1
    out, err = capsys.readouterr()
    assert "This undoes 2 actions" in out and "1 × xy12-2" in out and "1 × sv3pt5-29" in out
    assert "needs a yes" in err and "--yes" in err
    assert held(db) == {"xy12-1", "sv3pt5-29", "xy12-2"}


@pytest.mark.parametrize(("answer", "status", "left"), [("y\n", 0, {"xy12-1"}), ("n\n", 1, None), ("", 1, None)])
def test_undo_of_several_asks_at_a_terminal(
    tmp_path: Path,
    collection_address: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    answer: str,
    status: int,
    left: set[str] | None,
) -> None:
    db = collection_address
    three_adds(db)
    monkeypatch.setattr("sys.stdin", Terminal(answer))
    assert run(db, "undo", "2") == status
    assert held(db) == (left or {"xy12-1", "sv3pt5-29", "xy12-2"})
    assert ("Undid add" in capsys.readouterr().out) == (status == 0)


def test_undo_of_several_with_yes_lists_then_undoes(
    tmp_path: Path, collection_address: str, capsys: pytest.CaptureFixture[str]
) -> None:
    db = collection_address
    three_adds(db)
    capsys.readouterr()
    assert run(db, "undo", "5", "--yes") == 0
    out = capsys.readouterr().out
    assert "This undoes 3 actions" in out and out.count("Undid add") == 3
    assert held(db) == set()
    assert run(db, "undo", "2") == 0
    assert "Nothing to undo" in capsys.readouterr().out


def test_undo_of_one_needs_no_confirmation(
    tmp_path: Path, collection_address: str, capsys: pytest.CaptureFixture[str]
) -> None:
    db = collection_address
    three_adds(db)
    assert run(db, "undo") == 0
    assert held(db) == {"xy12-1", "sv3pt5-29"}


def test_read_only_commands_do_not_create_or_change_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "none" / "c.db"
    assert run(missing, "list") == 0
    assert "0 card(s)" in capsys.readouterr().out
    assert run(missing, "export", str(tmp_path / "x.csv")) == 0
    assert run(missing, "backup", str(tmp_path / "b.db")) == 1
    assert "no collection" in capsys.readouterr().err
    assert not (tmp_path / "none").exists()
    db = stocked_file(tmp_path / "c.db", rows=2)
    before = db.read_bytes()
    for command in (["list"], ["export", str(tmp_path / "y.csv")], ["backup", str(tmp_path / "b.db")]):
        assert run(db, *command) == 0
    assert db.read_bytes() == before


def test_a_damaged_collection_is_a_message_for_every_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = stocked_file(tmp_path / "c.db")
    overwrite_pages(db)
    before = db.read_bytes()
    commands = (["list"], ["export", str(tmp_path / "x.csv")], ["backup", str(tmp_path / "b.db")], ["add", "xy12-1"])
    for command in commands:
        assert run(db, *command) == 1
        err = capsys.readouterr().err
        assert "damaged" in err and "cardsight collection backup" in err and "Traceback" not in err
    assert db.read_bytes() == before
    assert not (tmp_path / "x.csv").exists() and not (tmp_path / "b.db").exists()


def test_an_sqlite_error_during_a_command_is_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    def broken(*args: object, **kwargs: object) -> None:
        raise sqlite3.DatabaseError("database disk image is malformed")

    db = tmp_path / "c.db"
    three_adds(db)
    monkeypatch.setattr(Collection, "inventory", broken)
    assert run(db, "list") == 1
    err = capsys.readouterr().err
    assert err.startswith("cardsight: the collection") and "malformed" in err and "backup" in err


# ---------------------------------------------------------------------------- sessions


def kiosk_sessions(db: str, runs: list[tuple[str, list[str]]]) -> list[int]:
    """Kiosk runs as the kiosk leaves them: one session each, its identified cards auto-added."""
    from app.collection import InventoryKey, ScanRecord

    from .conftest import CARDS

    ids = []
    with open_address(db, Path("crops")) as c:
        c.upsert_cards(CARDS)
        for label, cards in runs:
            session = c.start_session(label)
            for card in cards:
                c.record_scan(ScanRecord("identified", card, source="demo", session_id=session), InventoryKey(card))
            ids.append(session)
    return ids


def exported_cards(path: Path) -> list[str]:
    import csv

    with path.open(encoding="utf-8", newline="") as handle:
        return sorted(row["card_id"] for row in csv.DictReader(handle))


def test_sessions_lists_each_session_as_text_and_json(
    tmp_path: Path, collection_address: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    db = collection_address
    first, second = kiosk_sessions(db, [("Saturday intake", ["xy12-1", "xy12-2"]), ("Sunday", ["sv3pt5-29"])])
    capsys.readouterr()
    assert run(db, "sessions") == 0
    lines = capsys.readouterr().out.splitlines()
    assert "LABEL" in lines[0] and "CARDS" in lines[0] and lines[-1] == "2 session(s)"
    assert lines[1].split()[0] == str(first) and "Saturday intake" in lines[1] and lines[1].split()[-2:] == ["2", "2"]
    assert lines[2].split()[0] == str(second) and "Sunday" in lines[2] and "demo" in lines[2]
    assert run(db, "sessions", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(s["id"], s["label"], s["cards_added"], s["scans"]) for s in listed] == [
        (first, "Saturday intake", 2, 2),
        (second, "Sunday", 1, 1),
    ]
    assert all(s["started_at"] and s["sources"] == ["demo"] for s in listed)


def test_sessions_of_a_missing_collection_says_so_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "none" / "c.db"
    assert run(missing, "sessions") == 0
    assert "No collection" in capsys.readouterr().out
    assert not (tmp_path / "none").exists()


@pytest.mark.parametrize("how", ["id", "label"])
def test_export_of_one_session_by_id_or_label_writes_only_its_cards(
    tmp_path: Path, collection_address: str, capsys: pytest.CaptureFixture[str], how: str
) -> None:
    db = collection_address
    _, sunday = kiosk_sessions(db, [("Saturday", ["xy12-1"]), ("Sunday", ["sv3pt5-29", "xy12-2"])])
    out = tmp_path / "sunday.csv"
    assert run(db, "export", str(out), "--session", str(sunday) if how == "id" else "Sunday") == 0
    assert exported_cards(out) == ["sv3pt5-29", "xy12-2"]
    assert f"session {sunday} 'Sunday'" in capsys.readouterr().out


def test_export_of_a_label_naming_several_sessions_lists_their_ids_and_writes_nothing(
    tmp_path: Path, collection_address: str, capsys: pytest.CaptureFixture[str]
) -> None:
    db = collection_address
    ids = kiosk_sessions(db, [("Kiosk", ["xy12-1"]), ("Other", ["xy12-2"]), ("Kiosk", ["sv3pt5-29"])])
    out = tmp_path / "kiosk.csv"
    assert run(db, "export", str(out), "--session", "Kiosk") == 1
    err = capsys.readouterr().err
    assert f"names 2 sessions (ids {ids[0]}, {ids[2]})" in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize("ref", ["4", "Kiosk"])
def test_export_of_an_unknown_session_is_an_error_and_writes_no_file(
    tmp_path: Path, collection_address: str, capsys: pytest.CaptureFixture[str], ref: str
) -> None:
    db = collection_address
    kiosk_sessions(db, [("Saturday", ["xy12-1"]), ("Sunday", ["xy12-2"])])
    out = tmp_path / "x.csv"
    assert run(db, "export", str(out), "--session", ref) == 1
    err = capsys.readouterr().err
    assert err.startswith("cardsight: no session") and repr(ref) in err and "collection sessions" in err
    assert not out.exists()
