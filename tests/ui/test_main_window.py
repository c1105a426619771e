"""The desktop window driven by a replayed simulated clip (issue bar)."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLabel, QPushButton, QToolBar
from pytestqt.qtbot import QtBot

from app.config import Settings
from app.engine import Engine
from tests.ui.conftest import CLIP_CARDS, UnpluggedCamera, replay
from ui.app import build_windows, create_application, open_collection
from ui.catalog_page import ReferenceSets
from ui.controller import ScanController
from ui.main_window import MainWindow


def make_window(qtbot: QtBot, settings: Settings, engine: Engine, open_source) -> MainWindow:  # type: ignore[no-untyped-def]
    create_application()
    controller = ScanController(engine, settings, open_collection(settings), open_source=open_source)
    window = MainWindow(controller, settings)
    qtbot.addWidget(window)
    window.show()
    return window


def run_clip_until_identified(qtbot: QtBot, window: MainWindow, card_id: str) -> None:
    controller = window.controller
    with qtbot.waitSignal(controller.scanner.worker.finished, timeout=120_000):
        controller.start()
    qtbot.waitUntil(lambda: any(e.card_id == card_id for e in controller.session.recent), timeout=10_000)


def test_window_shows_the_right_card_for_a_simulated_clip(
    qtbot: QtBot, settings: Settings, engine_for: Engine, clip_path: Path
) -> None:
    window = make_window(qtbot, settings, engine_for, replay(clip_path))
    run_clip_until_identified(qtbot, window, CLIP_CARDS[1])
    recent = window.controller.session.recent
    assert [e.card_id for e in reversed(recent)] == CLIP_CARDS
    assert window.panel.name.text() == engine_for.bundle.metadata[CLIP_CARDS[1]]["name"]
    assert window.live.frames_shown > 50
    assert "video file" in window.source_label.text()
    assert "ONNX" in window.backend_label.text() or "onnx" in window.backend_label.text().lower()
    assert "hailo" in window.backend_label.text().lower()  # why not the Hailo: shown, not only a tooltip
    # Every decision is logged as a scan, even before anyone presses Add.
    assert len(window.controller.collection.scans()) == 2
    window.close()


def test_key_2_corrects_the_collection_and_undo_restores_it(
    qtbot: QtBot, settings: Settings, engine_for: Engine, clip_path: Path
) -> None:
    window = make_window(qtbot, settings, engine_for, replay(clip_path))
    run_clip_until_identified(qtbot, window, CLIP_CARDS[1])
    collection = window.controller.collection
    window.setFocus()
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert [(r["card_id"], r["quantity"]) for r in collection.inventory()] == [(CLIP_CARDS[1], 1)]
    second = window.controller.current.alternatives[1]["card_id"]  # type: ignore[union-attr]
    qtbot.keyClick(window, Qt.Key.Key_2)
    assert [(r["card_id"], r["quantity"]) for r in collection.inventory()] == [(second, 1)]
    assert window.panel.name.text() == engine_for.bundle.metadata[second]["name"]
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert [(r["card_id"], r["quantity"]) for r in collection.inventory()] == [(CLIP_CARDS[1], 1)]
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert collection.inventory() == []
    window.close()


def test_export_dialog_writes_the_collection(
    qtbot: QtBot, settings: Settings, engine_for: Engine, clip_path: Path, tmp_path: Path
) -> None:
    window = make_window(qtbot, settings, engine_for, replay(clip_path))
    run_clip_until_identified(qtbot, window, CLIP_CARDS[1])
    window.controller.add_current()
    dialog = window.open_export()
    out = tmp_path / "export.csv"
    dialog.path.setText(str(out))
    dialog.format.setCurrentIndex(dialog.format.findData("tcgplayer"))
    dialog.export()
    with open(out, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 1 and dialog.rows_written == 1
    assert rows[0]["Name"] == engine_for.bundle.metadata[CLIP_CARDS[1]]["name"]
    window.close()


def test_unplugged_camera_shows_the_message_and_recovers(
    qtbot: QtBot, settings: Settings, engine_for: Engine, clip_path: Path
) -> None:
    settings.camera.reconnect_initial_s = 0.2
    camera = UnpluggedCamera(clip_path, fail_after=10)
    window = make_window(qtbot, settings, engine_for, lambda: (camera, _info()))
    seen_banners: list[str] = []
    window.controller.banner.connect(seen_banners.append)
    with qtbot.waitSignal(window.controller.worker.camera_restored, timeout=30_000):
        window.controller.start()
    assert any("disconnected" in b.lower() for b in seen_banners)
    qtbot.waitUntil(lambda: not window.banner.isVisible(), timeout=5_000)
    shown = window.live.frames_shown
    qtbot.waitUntil(lambda: window.live.frames_shown > shown + 5, timeout=30_000)
    assert camera.opens == 3
    window.close()


def _info():  # type: ignore[no-untyped-def]
    from ui.engine_thread import SourceInfo

    return SourceInfo("test camera", "test")


def test_no_widget_or_thread_is_left_after_close(
    qtbot: QtBot, settings: Settings, engine_for: Engine, clip_path: Path
) -> None:
    window = make_window(qtbot, settings, engine_for, replay(clip_path))
    window.controller.start()
    qtbot.waitUntil(lambda: window.live.frames_shown > 5, timeout=30_000)
    thread = window.controller.scanner.thread
    window.close()
    assert not thread.isRunning()
    assert window.controller.worker.engine.embedder.reason != ""  # the shared engine is left usable
    window.deleteLater()
    qtbot.waitUntil(lambda: not [w for w in QApplication.topLevelWidgets() if w.isVisible()], timeout=5_000)


def test_missing_reference_bundle_shows_what_to_run(qtbot: QtBot, settings: Settings, tmp_path: Path) -> None:
    create_application()
    settings.match.bundle = tmp_path / "no-bundle"
    window, controller = build_windows(settings, kiosk=False)
    qtbot.addWidget(window)
    assert controller is None
    text = " ".join(label.text() for label in window.findChildren(QLabel))
    assert "cardsight catalog build" in text


def test_settings_dialog_saves_to_the_config_file(
    qtbot: QtBot, settings: Settings, engine_for: Engine, clip_path: Path, tmp_path: Path
) -> None:
    window = make_window(qtbot, settings, engine_for, replay(clip_path))
    original = engine_for.matcher.thresholds
    dialog = window.open_settings()
    dialog.auto_add.setChecked(True)
    dialog.accept_at.setValue(0.72)
    dialog.save()
    from app.config import load_settings

    saved = load_settings()
    assert saved.ui.auto_add is True and saved.match.accept_at == pytest.approx(0.72)
    # …and in effect now, without a restart.
    assert window.controller.session.auto_add is True
    assert window.controller.engine.matcher.thresholds.accept_at == pytest.approx(0.72)
    engine_for.matcher.thresholds = original  # the engine is shared with the other tests
    window.close()


def test_settings_that_cannot_be_written_say_so_and_keep_the_dialog_open(
    qtbot: QtBot, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PySide6.QtWidgets import QMessageBox

    from ui.settings_dialog import SettingsDialog

    create_application()
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    dialog = SettingsDialog(settings, config_path=blocker / "config.toml")
    qtbot.addWidget(dialog)
    warnings: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _parent, _title, text: warnings.append(text))
    dialog.open()
    dialog.save()
    assert warnings and "Cannot write the settings file" in warnings[0]
    assert dialog.isVisible() and dialog.saved_to is None


# ---------------------------------------------------------------------- the flow around the scan


def test_selecting_an_earlier_scan_reopens_it_to_correct_and_remove(
    qtbot: QtBot, settings: Settings, engine_for: Engine, clip_path: Path
) -> None:
    window = make_window(qtbot, settings, engine_for, replay(clip_path))
    run_clip_until_identified(qtbot, window, CLIP_CARDS[1])
    model = window.panel.recent_model
    assert [e.card_id for e in model.entries] == CLIP_CARDS  # oldest first: rows never shift
    window.panel.recent.clicked.emit(model.index(0))
    first = model.entries[0]
    assert window.controller.current is first
    assert window.panel.name.text() == engine_for.bundle.metadata[CLIP_CARDS[0]]["name"]
    window.controller.add_current()
    collection = window.controller.collection
    assert [r["card_id"] for r in collection.inventory()] == [CLIP_CARDS[0]]
    assert window.panel.held_row.isVisible() and window.panel.held.value() == 1
    window.panel.held.setValue(3)  # three of them in the binder
    assert [r["quantity"] for r in collection.inventory()] == [3]
    window.controller.undo()
    assert [r["quantity"] for r in collection.inventory()] == [1] and window.panel.held.value() == 1
    other = next(a["card_id"] for a in first.alternatives if a["card_id"] != CLIP_CARDS[0])
    window.panel.correction_requested.emit(other)  # a click on another suggestion
    assert collection.scan_row(first.scan_id)["card_id"] == other
    assert [r["card_id"] for r in collection.inventory()] == [other]
    window.panel.remove_button.click()
    assert collection.inventory() == [] and collection.scan_row(first.scan_id)["action"] == "rejected"
    assert [e.card_id for e in model.entries] == [CLIP_CARDS[1]]
    assert window.panel.entry is None and not window.panel.add_button.isEnabled()
    window.close()


def test_adding_a_card_shows_a_short_confirmation_naming_it(
    qtbot: QtBot, settings: Settings, engine_for: Engine, clip_path: Path
) -> None:
    window = make_window(qtbot, settings, engine_for, replay(clip_path))
    run_clip_until_identified(qtbot, window, CLIP_CARDS[1])
    window.controller.add_current()
    meta = engine_for.bundle.metadata[CLIP_CARDS[1]]
    assert window.toast.isVisible()
    assert window.toast.text().startswith(f"Added {meta['name']} ({meta['set_name']} {meta['number']}")
    qtbot.waitUntil(lambda: not window.toast.isVisible(), timeout=5_000)
    window.controller.undo()
    assert window.statusBar().currentMessage() == f"Undid add of {window.toast.text().removeprefix('Added ')}"
    window.close()


def test_a_photo_folder_chosen_in_settings_scans_at_once_one_card_per_photo(
    qtbot: QtBot, settings: Settings, engine_for: Engine, clip_path: Path, photo_folder: Path
) -> None:
    window = make_window(qtbot, settings, engine_for, replay(clip_path))
    run_clip_until_identified(qtbot, window, CLIP_CARDS[1])
    before = len(window.controller.session.recent)
    dialog = window.open_settings()
    dialog._select(dialog.source, str(photo_folder))
    with qtbot.waitSignal(window.controller.finished, timeout=60_000) as done:
        dialog.save()
    assert done.args[0].cards == len(CLIP_CARDS) and done.args[0].ended == "finished"
    # The photos' scans are recorded on the GUI thread as their events arrive, around the end's notice.
    qtbot.waitUntil(lambda: len(window.controller.session.recent) == before + len(CLIP_CARDS), timeout=10_000)
    assert [e.card_id for e in window.controller.session.recent[: len(CLIP_CARDS)]][::-1] == CLIP_CARDS
    assert "image folder" in window.source_label.text()
    assert window.banner.text().startswith("Finished — 2 cards (2 identified)")
    assert window.fps_label.text() == "finished — 2 cards (2 identified)"  # no stale frame rate
    window.close()


def test_the_end_of_a_replaced_scanner_arriving_after_a_switch_is_not_taken_for_the_new_ones(
    qtbot: QtBot, settings: Settings, engine_for: Engine, clip_path: Path, photo_folder: Path
) -> None:
    from app.scanner import ScanSummary

    window = make_window(qtbot, settings, engine_for, replay(clip_path))
    run_clip_until_identified(qtbot, window, CLIP_CARDS[1])
    ends: list[ScanSummary] = []
    window.controller.finished.connect(ends.append)
    window.controller.switch_source(str(photo_folder))
    # The clip's end, queued before the switch, delivered after it (Qt gives it no sender then).
    window.controller._on_scan_done(ScanSummary("finished", 135, 2, 2, 0, 1.5))
    assert ends == [] and window.controller.summary is None and not window.banner.text().startswith("Finished")
    qtbot.waitUntil(lambda: len(ends) == 1, timeout=60_000)
    assert ends[0].frames != 135 and window.fps_label.text().startswith("finished")
    window.close()


def test_ctrl_q_in_the_file_menu_quits(qtbot: QtBot, settings: Settings, engine_for: Engine, clip_path: Path) -> None:
    window = make_window(qtbot, settings, engine_for, replay(clip_path))
    window.controller.start()
    file_menu = window.menuBar().actions()[0].menu()
    assert window.quit_action in file_menu.actions()
    assert window.quit_action.shortcut().toString() == "Ctrl+Q"
    window.quit_action.trigger()
    assert not window.isVisible() and window.controller.stopped
    assert not window.controller.scanner.thread.isRunning()


def test_the_source_menu_lists_the_sources_and_checks_the_one_in_use(
    qtbot: QtBot, settings: Settings, engine_for: Engine, clip_path: Path
) -> None:
    settings.camera.source = "demo"
    window = make_window(qtbot, settings, engine_for, replay(clip_path))
    window._fill_source_menu()
    labels = {a.text(): a.isChecked() for a in window.source_menu.actions() if a.text()}
    assert labels["Demo clip"] is True and labels["Automatic (best camera, else the demo clip)"] is False
    assert "Image folder…" in labels and "Video file…" in labels
    window.close()


def test_add_waits_for_a_card_and_a_picked_card_replaces_not_in_the_catalogue(
    qtbot: QtBot, settings: Settings, engine_for: Engine, clip_path: Path
) -> None:
    from app.pipeline import ScanEvent
    from app.session import ScanEntry

    window = make_window(qtbot, settings, engine_for, replay(clip_path))
    assert not window.panel.add_button.isEnabled()  # nothing identified yet
    unknown = ScanEntry(1, ScanEvent(t=0.0, track=1, event="unknown"), None)
    window.panel.show_entry(unknown)
    assert window.panel.name.text() == "Not in the catalogue" and not window.panel.add_button.isEnabled()
    unknown.card_id = CLIP_CARDS[0]  # picked from the search
    window.panel.show_entry(unknown)
    assert window.panel.status.text() == "Chosen by you"
    assert window.panel.name.text() == engine_for.bundle.metadata[CLIP_CARDS[0]]["name"]
    assert window.panel.add_button.isEnabled()
    window.close()


def test_add_and_undo_are_in_view_in_the_default_window(
    qtbot: QtBot, settings: Settings, engine_for: Engine, clip_path: Path
) -> None:
    window = make_window(qtbot, settings, engine_for, replay(clip_path))
    window.resize(1280, 800)
    qtbot.waitExposed(window)
    QApplication.processEvents()
    viewport = window.panel.parentWidget()
    assert viewport is not None
    for button in (window.panel.add_button, window.panel.undo_button):
        bottom = button.mapTo(viewport, button.rect().bottomRight())
        assert viewport.rect().contains(bottom), button.text()
    window.close()


@pytest.mark.parametrize("size", [(1920, 1080), (800, 480)])
def test_suggestions_show_the_whole_name_and_printing(
    qtbot: QtBot, settings: Settings, engine_for: Engine, clip_path: Path, size: tuple[int, int]
) -> None:
    from app.pipeline import ScanEvent
    from app.session import ScanEntry

    window = make_window(qtbot, settings, engine_for, replay(clip_path))
    window.resize(*size)
    qtbot.waitExposed(window)
    metadata = engine_for.bundle.metadata
    alternatives = [{"card_id": c, "name": metadata[c]["name"]} for c in ("sv3pt5-25", *CLIP_CARDS)]
    event = ScanEvent(t=0.0, track=1, event="uncertain", card_id="sv3pt5-25", alternatives=alternatives)
    window.panel.show_entry(ScanEntry(1, event, None, alternatives=alternatives))
    QApplication.processEvents()
    button = window.panel.alternative_buttons[0]
    assert button.text() == f"1  {metadata['sv3pt5-25']['name']} — 151 25/{metadata['sv3pt5-25']['printed_total']}"
    needed = button.fontMetrics().horizontalAdvance(button.text()) + button.iconSize().width()
    assert needed < button.width(), (needed, button.width())
    window.close()


def test_the_welcome_stays_dismissed_when_the_config_file_cannot_be_written(
    qtbot: QtBot,
    settings: Settings,
    engine_for: Engine,
    clip_path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("CARDSIGHT_CONFIG", str(blocker / "config.toml"))  # every save fails
    settings.ui.welcomed = False
    window = make_window(qtbot, settings, engine_for, replay(clip_path))
    assert window.welcome is not None
    window.dismiss_welcome()
    window.close()
    settings.ui.welcomed = False  # what the unwritable file still says at the next start
    again = make_window(qtbot, settings, engine_for, replay(clip_path))
    assert again.welcome is None
    again.close()


def test_export_says_what_it_wrote_after_closing_and_remembers_file_and_format(
    qtbot: QtBot, settings: Settings, engine_for: Engine, clip_path: Path, tmp_path: Path
) -> None:
    window = make_window(qtbot, settings, engine_for, replay(clip_path))
    run_clip_until_identified(qtbot, window, CLIP_CARDS[1])
    window.controller.add_current()
    dialog = window.open_export()
    assert dialog.format.itemText(dialog.format.findData("dragonshield")) == "Dragon Shield"
    out = tmp_path / "shop.csv"
    dialog.path.setText(str(out))
    dialog.format.setCurrentIndex(dialog.format.findData("dragonshield"))
    dialog.export()
    assert not dialog.isVisible()
    assert window.statusBar().currentMessage() == f"Wrote 1 rows (Dragon Shield) to {out}"
    assert window.toast.isVisible() and "Wrote 1 rows" in window.toast.text()
    again = window.open_export()
    assert again.path.text() == str(out) and again.format.currentData() == "dragonshield"
    again.reject()
    window.close()


def test_the_window_fits_the_small_display_without_sideways_scrolling(
    qtbot: QtBot, settings: Settings, engine_for: Engine, clip_path: Path
) -> None:
    window = make_window(qtbot, settings, engine_for, replay(clip_path))
    window.set_banner("Finished — 2 cards (2 identified), 89 frames in 6.0 s")
    window.resize(800, 480)
    qtbot.waitExposed(window)
    QApplication.processEvents()
    assert window.minimumSizeHint().height() <= 480 and window.height() == 480
    viewport = window.panel.parentWidget()
    assert viewport is not None and window.panel.minimumSizeHint().width() <= viewport.width()
    window.show_collection()
    QApplication.processEvents()
    assert window.height() == 480
    window.show_catalog()
    QApplication.processEvents()
    assert (window.width(), window.height()) == (800, 480)
    assert window.minimumSizeHint().width() <= 800
    window.close()


def test_a_kiosk_whose_shop_server_is_away_says_its_scans_wait_and_clears_when_sent(
    qtbot: QtBot, settings: Settings, engine_for: Engine, clip_path: Path, tmp_path: Path
) -> None:
    from app.collection.open import open_collection as open_store
    from app.collection.store import ScanRecord

    create_application()
    store = open_store("postgresql://nobody@127.0.0.1:1/shop", outbox=tmp_path / "outbox.db", background_sync=False)
    controller = ScanController(engine_for, settings, store, open_source=replay(clip_path))
    banners: list[str] = []
    controller.banner.connect(banners.append)
    store.record_scan(ScanRecord(status="unknown", card_id=None))
    controller.check_server()
    assert banners and "offline" in banners[-1] and "1 scan" in banners[-1]
    controller.check_server()
    assert len(banners) == 1  # said once, not on every check
    store.status_text = lambda: "online"
    controller.check_server()
    assert banners[-1] == ""
    controller.stop()
    store.close()


def test_the_catalogue_page_opens_from_the_toolbar_and_with_ctrl_3(
    qtbot: QtBot, settings: Settings, engine_for: Engine, clip_path: Path
) -> None:
    window = make_window(qtbot, settings, engine_for, replay(clip_path))
    assert window.catalog_action in window.findChild(QToolBar, "mainToolbar").actions()  # type: ignore[union-attr]
    window.catalog_action.trigger()
    assert window.pages.currentWidget() is window.catalog
    assert window.catalog.model.rowCount() == 170
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)  # window shortcuts reach an active window only
    qtbot.keyClick(window, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert window.pages.currentWidget() is window.scan_page
    qtbot.keyClick(window, Qt.Key.Key_3, Qt.KeyboardModifier.ControlModifier)
    assert window.pages.currentWidget() is window.catalog
    window.close()


def test_the_first_run_welcome_names_the_installed_sets_and_leads_to_the_catalogue(
    qtbot: QtBot, settings: Settings, engine_for: Engine, clip_path: Path
) -> None:
    settings.ui.welcomed = False
    window = make_window(qtbot, settings, engine_for, replay(clip_path))
    text = window.welcome_text.text()
    assert "Cards of <b>151, Evolutions and Temporal Forces</b> are recognised by their picture" in text
    assert "<b>Catalogue</b> page (Ctrl+3)" in text and "download more sets" in text
    button = next(b for b in window.welcome.findChildren(QPushButton) if b.text() == "Open the catalogue")  # type: ignore[union-attr]
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert window.pages.currentWidget() is window.catalog
    window.close()


def test_a_card_added_by_hand_on_the_catalogue_page_is_undone_with_ctrl_z(
    qtbot: QtBot, settings: Settings, engine_for: Engine, clip_path: Path
) -> None:
    window = make_window(qtbot, settings, engine_for, replay(clip_path))
    window.show_catalog()
    page = window.catalog
    page.search.setText("charizard 4/102")
    page.run_search()
    assert page.add_selected_card()
    collection = window.controller.collection
    assert [(r["card_id"], r["quantity"]) for r in collection.inventory()] == [("base1-4", 1)]
    assert window.statusBar().currentMessage() == "Added 1 × Charizard (Base 4/102) to the collection"
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    page.results.setFocus()  # in the search field, Ctrl+Z would undo the typing
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert collection.inventory() == []
    window.close()


def test_new_reference_data_reaches_the_scanner_and_the_views(
    qtbot: QtBot, settings: Settings, engine_for: Engine, clip_path: Path
) -> None:
    from app.match.bundle import ReferenceBundle

    window = make_window(qtbot, settings, engine_for, replay(clip_path))
    before = engine_for.bundle, engine_for.matcher
    bundle = ReferenceBundle.load(settings.match.bundle, engine_for.embedder.model_sha256, engine_for.embedder.dim)
    try:
        window.use_reference(bundle)
        assert engine_for.bundle is bundle and engine_for.matcher is not before[1]
        assert engine_for.matcher.bundle is bundle
        assert window.controller.session.bundle is bundle
        assert window.panel.bundle is bundle and window.browser.bundle is bundle
    finally:
        engine_for.bundle, engine_for.matcher = before
    window.close()


def test_an_installed_set_left_out_at_start_is_named_in_the_banner(
    qtbot: QtBot, settings: Settings, engine_for: Engine, clip_path: Path, tmp_path: Path
) -> None:
    from app.match.shards import load_reference

    damaged = tmp_path / "sets" / "base1"
    damaged.mkdir(parents=True)
    (damaged / "manifest.json").write_text("{not json")
    loaded = load_reference(settings.match.bundle, tmp_path / "sets", engine_for.embedder.model_sha256)
    assert len(loaded.problems) == 1 and "base1" in loaded.problems[0]
    before = list(engine_for.bundle.problems)
    engine_for.bundle.problems = loaded.problems
    try:
        window = make_window(qtbot, settings, engine_for, replay(clip_path))
        assert window.banner.text() == loaded.problems[0] and not window.banner.isHidden()
        window.close()
    finally:
        engine_for.bundle.problems = before


def test_a_download_s_progress_is_in_the_status_bar_away_from_the_catalogue_page(
    qtbot: QtBot, settings: Settings, engine_for: Engine, clip_path: Path
) -> None:
    window = make_window(qtbot, settings, engine_for, replay(clip_path))
    window.show_catalog()
    window.catalog.job_progress_text.emit("Downloading base1: 10/102 · about 20 s left")
    assert window.statusBar().currentMessage() == ""  # the page shows it itself
    window.show_scanner()
    window.catalog.job_progress_text.emit("Downloading base1: 11/102 · about 19 s left")
    assert window.statusBar().currentMessage() == "Downloading base1: 11/102 · about 19 s left"
    window.close()


class OneLongStep(ReferenceSets):
    """A download busy in a step that does not look at its cancel (an embedding batch, a native call)."""

    def status(self) -> dict[str, str]:
        return {}

    def download(self, set_ids, embedder, progress, cancel):  # type: ignore[no-untyped-def]
        time.sleep(1.5)
        return []

    def load(self, embedder):  # type: ignore[no-untyped-def]
        raise OSError("nothing to load")


class Recogniser:
    def close(self) -> None:
        pass


def test_closing_during_a_catalogue_job_waits_for_it_then_closes(
    qtbot: QtBot, settings: Settings, engine_for: Engine, clip_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ui.catalog_page.STOP_WAIT_S", 0.1)
    window = make_window(qtbot, settings, engine_for, replay(clip_path))
    window.catalog.sets = OneLongStep(Path("no-bundle"))
    window.catalog.make_embedder = Recogniser  # type: ignore[assignment]
    window.catalog._start("download", ["base1"])
    thread = window.catalog.job_thread
    assert thread is not None
    window.close()
    assert window.isVisible() and thread.isRunning()  # not closed under a running thread
    assert "Stopping the catalogue download" in window.statusBar().currentMessage()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=30_000)
    assert not window.catalog.busy
