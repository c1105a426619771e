"""The settings dialog shows and saves what the settings say."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from app.config import Settings, load_settings
from ui.app import create_application
from ui.settings_dialog import SettingsDialog


def test_the_configured_resolution_is_shown_and_saved_unchanged(qtbot: QtBot, settings: Settings) -> None:
    create_application()
    assert (settings.camera.width, settings.camera.height) == (1280, 720)  # the default
    dialog = SettingsDialog(settings)
    qtbot.addWidget(dialog)
    assert dialog.resolution.currentText() == "1280 × 720"
    dialog.sounds.setChecked(True)  # any other change
    dialog.save()
    saved = load_settings()
    assert (saved.camera.width, saved.camera.height) == (1280, 720) and saved.ui.sounds is True


def test_a_resolution_set_in_the_file_is_offered_and_kept(qtbot: QtBot, settings: Settings) -> None:
    create_application()
    settings.camera.width, settings.camera.height = 1600, 1200
    dialog = SettingsDialog(settings)
    qtbot.addWidget(dialog)
    assert dialog.resolution.currentText() == "1600 × 1200"
    dialog.apply()
    assert (settings.camera.width, settings.camera.height) == (1600, 1200)
