"""A collection file cardsight refuses (damaged, not a collection) at start: the user chooses to restore
a backup, to move the file aside and start a new collection, or to quit. Nothing is ever deleted: the
refused file keeps its bytes under a new name beside the old one."""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from PySide6.QtWidgets import QDialog, QFileDialog, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app.collection.store import CollectionError, check_database_file

logger = logging.getLogger(__name__)

Choice = Literal["restore", "new", "quit"]
SIDE_FILES = ("-wal", "-journal", "-shm")


@dataclass(frozen=True)
class Decision:
    choice: Choice
    backup: Path | None = None


def aside_name(path: Path, stamp: str | None = None) -> Path:
    """``collection.db`` → ``collection.damaged-20261204-185400.db`` (a number added if taken)."""
    stamp = stamp or time.strftime("%Y%m%d-%H%M%S")
    candidate = path.with_name(f"{path.stem}.damaged-{stamp}{path.suffix}")
    n = 2
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}.damaged-{stamp}-{n}{path.suffix}")
        n += 1
    return candidate


def move_aside(path: Path) -> Path:
    """Rename the refused file (and any SQLite side files with it); returns its new name."""
    target = aside_name(path)
    try:
        for suffix in SIDE_FILES:
            side = path.with_name(path.name + suffix)
            if side.exists():
                side.rename(target.with_name(target.name + suffix))
        path.rename(target)
    except OSError as error:
        raise CollectionError(f"cannot move {path} aside: {error.strerror or error}") from error
    logger.warning("Moved the refused collection %s to %s", path, target)
    return target


def restore_backup(path: Path, backup: Path) -> Path:
    """Check ``backup`` is a sound collection, move ``path`` aside, put a copy of the backup in its place.
    Returns where the refused file went. A backup that is itself refused changes nothing."""
    if backup.resolve() == path.resolve():
        raise CollectionError(f"{backup} is the refused file itself; choose a backup")
    if not backup.is_file():
        raise CollectionError(f"{backup} is not a file")
    check_database_file(backup)
    aside = move_aside(path)
    partial = path.with_name(f".{path.name}.restoring")
    try:
        shutil.copy2(backup, partial)
        partial.rename(path)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise CollectionError(f"cannot copy {backup} to {path}: {error.strerror or error}") from error
    return aside


def carry_out(path: Path, decision: Decision) -> str:
    """Do what the user chose; one line saying what happened (raises CollectionError when it cannot)."""
    if decision.choice == "restore":
        assert decision.backup is not None
        aside = restore_backup(path, decision.backup)
        return f"Restored {decision.backup} as {path}; the damaged file is kept as {aside}"
    if decision.choice == "new":
        aside = move_aside(path)
        return f"Started a new collection at {path}; the damaged file is kept as {aside}"
    return "Quit without changing anything"


class DamagedCollectionDialog(QDialog):
    """Says what is wrong with the file and offers the three ways on."""

    def __init__(self, path: Path, problem: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("damagedCollection")
        self.setWindowTitle("The collection cannot be opened")
        self.path = path
        self.decision = Decision("quit")
        title = QLabel(f"The collection {path} cannot be opened")
        title.setObjectName("errorTitle")
        title.setWordWrap(True)
        body = QLabel(f"{problem}\n\nNothing is deleted: the file is renamed and kept beside the new one.")
        body.setObjectName("errorBody")
        body.setWordWrap(True)
        self.restore_button = QPushButton("Restore from a backup…")
        self.restore_button.clicked.connect(self._restore)
        self.new_button = QPushButton("Start a new collection")
        self.new_button.clicked.connect(lambda: self._decide(Decision("new")))
        self.quit_button = QPushButton("Quit")
        self.quit_button.clicked.connect(lambda: self._decide(Decision("quit")))
        buttons = QHBoxLayout()
        for button in (self.restore_button, self.new_button, self.quit_button):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(body)
        layout.addLayout(buttons)
        self.resize(760, 320)

    def _restore(self) -> None:
        chosen, _ = QFileDialog.getOpenFileName(
            self, "Collection backup", str(self.path.parent), "Collections (*.db *.sqlite);;All files (*)"
        )
        if chosen:
            self._decide(Decision("restore", Path(chosen)))

    def _decide(self, decision: Decision) -> None:
        self.decision = decision
        self.accept()


def ask_with_dialog(path: Path, problem: str) -> Decision:
    dialog = DamagedCollectionDialog(path, problem)
    dialog.exec()
    return dialog.decision
