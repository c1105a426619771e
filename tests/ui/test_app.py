"""Starting cardsight: the top-level help, and a collection file it refuses (restore / new / quit)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from app.collection.store import Collection, CollectionError, InventoryKey, check_database_file
from app.config import Settings
from ui.app import build_windows, create_application, main
from ui.recovery import DamagedCollectionDialog, Decision


def test_the_top_level_help_names_the_window_options_and_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    for word in ("--kiosk", "--source", "scan", "identify", "collection"):
        assert word in text, word


def damaged_collection(path: Path) -> None:
    """A collection whose pages after the first were overwritten."""
    collection = Collection(path)
    collection.upsert_cards([{"card_id": "sv5-123", "name": "A card", "set_id": "sv5", "number": "123"}])
    collection.add(InventoryKey("sv5-123"), 2)
    collection.close()
    data = bytearray(path.read_bytes())
    data[4096:] = b"\x5a" * (len(data) - 4096)
    path.write_bytes(bytes(data))


def good_backup(path: Path) -> Path:
    collection = Collection(path)
    collection.upsert_cards([{"card_id": "sv5-123", "name": "A card", "set_id": "sv5", "number": "123"}])
    collection.add(InventoryKey("sv5-123"), 3)
    collection.close()
    return path


def asked(decision: Decision, seen: list[str]):  # type: ignore[no-untyped-def]
    def ask(path: Path, problem: str) -> Decision:
        seen.append(problem)
        return decision

    return ask


def test_a_damaged_collection_can_be_restored_from_a_backup_and_the_damaged_file_is_kept(
    qtbot: QtBot, settings: Settings, tmp_path: Path
) -> None:
    create_application()
    damaged_collection(settings.collection.db)
    damaged_bytes = settings.collection.db.read_bytes()
    backup = good_backup(tmp_path / "backup.db")
    seen: list[str] = []
    window, controller = build_windows(settings, kiosk=False, ask_recovery=asked(Decision("restore", backup), seen))
    qtbot.addWidget(window)
    assert controller is not None and "damaged" in seen[0]
    assert [r["quantity"] for r in controller.collection.inventory()] == [3]
    (kept,) = tmp_path.glob("collection.damaged-*.db")
    assert kept.read_bytes() == damaged_bytes
    controller.stop()
    controller.collection.close()
    window.close()


def test_a_damaged_collection_can_be_moved_aside_for_a_new_one(
    qtbot: QtBot, settings: Settings, tmp_path: Path
) -> None:
    create_application()
    damaged_collection(settings.collection.db)
    window, controller = build_windows(settings, kiosk=False, ask_recovery=asked(Decision("new"), []))
    qtbot.addWidget(window)
    assert controller is not None and controller.collection.inventory() == []
    assert len(list(tmp_path.glob("collection.damaged-*.db"))) == 1
    controller.stop()
    controller.collection.close()
    window.close()


def test_quitting_leaves_the_damaged_collection_exactly_as_it_was(settings: Settings, tmp_path: Path) -> None:
    create_application()
    damaged_collection(settings.collection.db)
    before = settings.collection.db.read_bytes()
    assert build_windows(settings, kiosk=False, ask_recovery=asked(Decision("quit"), [])) == (None, None)
    assert settings.collection.db.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("collection")) == ["collection.db"]


def test_a_backup_that_is_damaged_too_changes_nothing_and_asks_again(settings: Settings, tmp_path: Path) -> None:
    create_application()
    damaged_collection(settings.collection.db)
    bad_backup = tmp_path / "bad-backup.db"
    shutil.copy(settings.collection.db, bad_backup)
    answers = [Decision("restore", bad_backup), Decision("quit")]
    seen: list[str] = []

    def ask(path: Path, problem: str) -> Decision:
        seen.append(problem)
        return answers.pop(0)

    assert build_windows(settings, kiosk=False, ask_recovery=ask) == (None, None)
    assert seen[1].startswith("That did not work:") and "bad-backup.db" in seen[1]
    assert not list(tmp_path.glob("collection.damaged-*"))
    with pytest.raises(CollectionError):
        check_database_file(settings.collection.db)  # still the same damaged file, untouched


def test_the_damaged_collection_dialog_offers_the_three_ways(qtbot: QtBot, tmp_path: Path) -> None:
    create_application()
    dialog = DamagedCollectionDialog(tmp_path / "c.db", "c.db is damaged")
    qtbot.addWidget(dialog)
    texts = [b.text() for b in (dialog.restore_button, dialog.new_button, dialog.quit_button)]
    assert texts == ["Restore from a backup…", "Start a new collection", "Quit"]
    dialog.new_button.click()
    assert dialog.decision == Decision("new") and dialog.result() == 1
