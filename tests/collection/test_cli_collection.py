from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.cli import main


def run(db: Path | str, *args: str) -> int:
    return main(["collection", "--db", str(db), *args])


def test_collection_commands_end_to_end(
    tmp_path: Path, collection_address: str, capsys: pytest.CaptureFixture[str]
) -> None:
    db = collection_address
    assert run(db, "add", "xy12-1", "--qty", "2", "--finish", "holo", "--condition", "LP", "--notes", "=evil()") == 0
    assert run(db, "add", "sv3pt5-29", "--location", "binder") == 0
    assert run(db, "list", "--json") == 0
    rows = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {(r["card_id"], r["quantity"]) for r in rows} == {("xy12-1", 2), ("sv3pt5-29", 1)}
    assert {r["name"] for r in rows} == {"Venusaur-EX", "Nidoran ♀"}
    assert run(db, "undo") == 0
    assert "Undid add" in capsys.readouterr().out
    assert run(db, "export", str(tmp_path / "out.csv"), "--format", "tcgplayer") == 0
    text = (tmp_path / "out.csv").read_text(encoding="utf-8")
    assert "Venusaur-EX" in text and "Nidoran" not in text
    assert run(db, "backup", str(tmp_path / "b.db")) == 0
    assert (tmp_path / "b.db").is_file()


def test_import_dry_run_then_apply(tmp_path: Path, collection_address: str, capsys: pytest.CaptureFixture[str]) -> None:
    source, target = tmp_path / "a.db", collection_address
    run(source, "add", "sv5-10", "--qty", "3")
    run(source, "export", str(tmp_path / "a.csv"))
    capsys.readouterr()
    assert run(target, "import", str(tmp_path / "a.csv"), "--dry-run") == 0
    assert "+3 sv5-10" in capsys.readouterr().out
    run(target, "list")
    assert "0 card(s)" in capsys.readouterr().out
    assert run(target, "import", str(tmp_path / "a.csv")) == 0
    run(target, "list")
    assert "3 card(s)" in capsys.readouterr().out


def test_clear_errors_for_unknown_cards_and_foreign_files(
    tmp_path: Path, collection_address: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(collection_address, "add", "nope-1") == 1
    assert "unknown card 'nope-1'" in capsys.readouterr().err
    foreign = tmp_path / "photo.jpg"
    foreign.write_bytes(b"\xff\xd8\xff\xe0 not a database")
    assert run(foreign, "list") == 1
    assert "not a cardsight collection" in capsys.readouterr().err
    assert foreign.read_bytes().startswith(b"\xff\xd8")
    assert run(collection_address, "correct", "5", "xy12-1") == 1
    assert "no scan 5" in capsys.readouterr().err
