"""The desktop window: live view + match panel, collection browser, export, settings, status bar."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QIcon,
    QKeyEvent,
    QKeySequence,
    QResizeEvent,
    QShortcut,
)
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from app import PROJECT_ROOT
from app.catalog.database import CatalogDatabase, CatalogDatabaseError, default_catalog
from app.config import ConfigError, Settings, save_settings
from app.embed.base import EmbedderBackend
from app.match.bundle import ReferenceBundle
from app.pipeline import FrameResult
from app.session import ScanEntry
from ui.catalog_page import NOT_INSTALLED, CatalogPage, ReferenceSets, installed_summary
from ui.collection_view import CollectionBrowser, ExportDialog
from ui.controller import ScanController
from ui.live_view import LiveView
from ui.match_panel import MatchPanel
from ui.memory import UiMemory
from ui.settings_dialog import SettingsDialog, source_choices
from ui.toast import Toast

logger = logging.getLogger(__name__)
ICONS = PROJECT_ROOT / "assets" / "icons"

WELCOME = (
    "<b>Welcome to cardsight.</b> Hold a card <b>flat</b> and <b>still</b>, about a hand's width from the camera, "
    "with the whole card in view. Good light without reflections helps. When the outline turns green the card "
    "is identified: press <b>Space</b> to add it, <b>1–5</b> to pick another suggestion, <b>Ctrl+Z</b> to undo."
)
CATALOG_SHORTCUT = "Ctrl+3"


def welcome_catalog_text(installed: str) -> str:
    """What the scanner recognises now, and where the other cards are (shown on the first run)."""
    known = (
        f"Cards of <b>{installed}</b> are recognised by their picture."
        if installed
        else "No set's card pictures are installed yet, so no card is recognised by its picture."
    )
    return (
        f"{known} Any other card can be found and added by hand on the <b>Catalogue</b> page "
        f"({CATALOG_SHORTCUT}), where you can also download more sets (needs an internet connection)."
    )


def icon(name: str) -> QIcon:
    return QIcon(str(ICONS / f"{name}.svg"))


def short_reason(reason: str, limit: int = 48) -> str:
    """The first clause of a reason, for the status bar (the whole one is the tooltip):
    "hailo: hailo_platform not installed (…); onnx: available" → "hailo: hailo_platform not installed"."""
    first = reason.split(";")[0].split("(")[0].strip()
    return first if len(first) <= limit else first[: limit - 1] + "…"


class ErrorPage(QWidget):
    """Shown instead of the scanner when the engine cannot start (no bundle, model mismatch…)."""

    def __init__(self, title: str, message: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("errorPage")
        heading = QLabel(title)
        heading.setObjectName("errorTitle")
        body = QLabel(message)
        body.setObjectName("errorBody")
        body.setWordWrap(True)
        body.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        layout.addWidget(heading)
        layout.addWidget(body)
        layout.addStretch(2)


class MainWindow(QMainWindow):
    def __init__(self, controller: ScanController, settings: Settings, memory: UiMemory | None = None) -> None:
        super().__init__()
        self.setObjectName("mainWindow")
        self.setWindowTitle("cardsight")
        self.setWindowIcon(icon("cardsight"))
        self.controller = controller
        self.settings = settings
        self.memory = memory or UiMemory()

        self.banner = QLabel("")
        self.banner.setObjectName("banner")
        self.banner.setWordWrap(True)
        self.banner.hide()
        self.catalog = self._catalog_page(controller, settings)
        welcomed = settings.ui.welcomed or bool(self.memory.get("welcomed"))
        self.welcome = self._welcome_panel() if not welcomed else None

        self.live = LiveView()
        self.panel = MatchPanel(controller.engine.bundle, prices=controller.prices)
        panel_scroll = QScrollArea()
        panel_scroll.setWidgetResizable(True)
        panel_scroll.setWidget(self.panel)
        panel_scroll.setMinimumWidth(300)
        # The panel fits its width (compact mode at 800×480); only a vertical scroll bar, never sideways.
        panel_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._compact = False
        splitter = QSplitter()
        self.splitter = splitter
        splitter.addWidget(self.live)
        splitter.addWidget(panel_scroll)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        self.scan_page = QWidget()
        scan_layout = QVBoxLayout(self.scan_page)
        scan_layout.setContentsMargins(0, 0, 0, 0)
        if self.welcome is not None:
            scan_layout.addWidget(self.welcome)
        scan_layout.addWidget(splitter, 1)

        self.browser = CollectionBrowser(
            controller.collection,
            controller.engine.bundle,
            memory=self.memory,
            prices=controller.prices,
            session_id=controller.session.session_id,
        )
        self.pages = QStackedWidget()
        self.pages.addWidget(self.scan_page)
        self.pages.addWidget(self.browser)
        self.pages.addWidget(self.catalog)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.banner)
        layout.addWidget(self.pages, 1)
        self.setCentralWidget(central)
        self.toast = Toast(central, anchor=self.live)
        self._build_toolbar()
        self._build_menus()
        self._build_status_bar()

        controller.frame.connect(self._on_frame)
        controller.entry_added.connect(self._on_new_entry)
        controller.entry_changed.connect(self._on_entry)
        controller.entry_removed.connect(self.panel.remove_recent_item)
        controller.banner.connect(self.set_banner)
        controller.status.connect(self._on_status)
        controller.message.connect(lambda text: self.statusBar().showMessage(text, 5000))
        controller.toast.connect(self.toast.show_text)
        controller.count_changed.connect(lambda n: self.count_label.setText(f"Added this session: {n}"))
        self.panel.correction_requested.connect(controller.correct_current)
        self.panel.add_requested.connect(controller.add_current)
        self.panel.undo_requested.connect(controller.undo)
        self.panel.remove_requested.connect(controller.remove_current)
        self.panel.held_quantity_requested.connect(controller.set_held_quantity)
        self.panel.entry_selected.connect(controller.select)
        self.panel.options_changed.connect(controller.set_options)
        self.panel.search.textChanged.connect(lambda text: self.panel.show_search_results(controller.search(text)))
        self.browser.status_message.connect(lambda text: self.statusBar().showMessage(text, 5000))
        self.catalog.status_message.connect(lambda text: self.statusBar().showMessage(text, 8000))
        self.catalog.card_added.connect(lambda text: self.toast.show_text(text, 4000))
        self.catalog.job_progress_text.connect(self._show_job_progress)
        self.catalog.reference_changed.connect(self.use_reference)
        if controller.engine.bundle.problems:
            # An installed set that could not be used (damaged, another model): scanning goes on without it.
            self.set_banner(" ".join(controller.engine.bundle.problems))
        undo = QShortcut(QKeySequence.StandardKey.Undo, self)
        undo.activated.connect(self._undo)
        self.resize(1280, 800)

    # ------------------------------------------------------------------ building
    def _build_toolbar(self) -> None:
        toolbar = QToolBar("Main")
        toolbar.setObjectName("mainToolbar")
        toolbar.setMovable(False)
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.addToolBar(toolbar)
        self.scan_action = QAction(icon("camera"), "Scan", self)
        self.scan_action.triggered.connect(self.show_scanner)
        self.collection_action = QAction(icon("collection"), "Collection", self)
        self.collection_action.triggered.connect(self.show_collection)
        self.export_action = QAction(icon("export"), "Export CSV…", self)
        self.export_action.triggered.connect(self.open_export)
        self.catalog_action = QAction(icon("catalog"), "Catalogue", self)
        self.catalog_action.setToolTip(f"Every set and card: download sets, add any card by hand ({CATALOG_SHORTCUT})")
        self.catalog_action.triggered.connect(self.show_catalog)
        self.settings_action = QAction(icon("settings"), "Settings…", self)
        self.settings_action.triggered.connect(self.open_settings)
        for key, action in enumerate((self.scan_action, self.collection_action, self.catalog_action), start=1):
            action.setShortcut(QKeySequence(f"Ctrl+{key}"))
        for action in (
            self.scan_action,
            self.collection_action,
            self.catalog_action,
            self.export_action,
            self.settings_action,
        ):
            toolbar.addAction(action)

    def _build_menus(self) -> None:
        menus = self.menuBar()
        file_menu = menus.addMenu("&File")
        file_menu.addAction(self.export_action)
        file_menu.addAction(self.settings_action)
        file_menu.addSeparator()
        self.quit_action = QAction("&Quit", self)
        self.quit_action.setShortcut(QKeySequence("Ctrl+Q"))
        self.quit_action.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
        self.quit_action.triggered.connect(self.close)
        file_menu.addAction(self.quit_action)
        self.addAction(self.quit_action)  # Ctrl+Q works with the menu bar hidden too
        self.source_menu = menus.addMenu("&Source")
        self.source_menu.aboutToShow.connect(self._fill_source_menu)
        self._fill_source_menu()
        view = menus.addMenu("&View")
        view.addAction(self.scan_action)
        view.addAction(self.collection_action)
        view.addAction(self.catalog_action)

    def _fill_source_menu(self) -> None:
        """The sources there are now (cameras come and go), the one in use checked."""
        menu = self.source_menu
        menu.clear()
        group = QActionGroup(menu)
        current = self.settings.camera.source
        for label, spec in source_choices():
            action = menu.addAction(label)
            action.setCheckable(True)
            action.setChecked(spec == current)
            action.setActionGroup(group)
            action.triggered.connect(lambda _=False, spec=spec: self.switch_source(spec))
        menu.addSeparator()
        menu.addAction("Video file…", self._pick_video)
        menu.addAction("Image folder…", self._pick_folder)

    def _pick_video(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Video file", "", "Videos (*.mp4 *.mov *.avi *.mkv)")
        if path:
            self.switch_source(path)

    def _pick_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Image folder")
        if path:
            self.switch_source(path)

    def switch_source(self, spec: str) -> None:
        """Scan from ``spec`` now, and next time too."""
        self.show_scanner()
        self.controller.switch_source(spec)
        try:
            save_settings(self.settings)
        except (OSError, ConfigError) as error:
            logger.warning("Cannot save the source: %s", error)

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.source_label = QLabel("Opening camera…")
        self.backend_label = QLabel("")
        self.fps_label = QLabel("")
        self.latency_label = QLabel("")
        self.count_label = QLabel("Added this session: 0")
        for label in (self.source_label, self.backend_label, self.fps_label, self.latency_label, self.count_label):
            bar.addPermanentWidget(label)

    def _catalog_page(self, controller: ScanController, settings: Settings) -> CatalogPage:
        catalog: CatalogDatabase | None = None
        error = ""
        try:
            catalog = default_catalog()
        except CatalogDatabaseError as failed:
            error = f"The card catalogue cannot be read: {failed}"
            logger.warning("%s", error)

        def install_embedder() -> EmbedderBackend:
            from app.engine import make_embedder

            # Its own session, but no spin-waiting threads: it runs beside the live scanner.
            return make_embedder(settings, live=True)

        return CatalogPage(
            controller.collection,
            ReferenceSets(Path(settings.match.bundle), catalog=catalog),
            catalog,
            install_embedder,
            bundle_metadata=lambda: controller.engine.bundle.metadata,
            catalog_error=error,
        )

    def _welcome_panel(self) -> QFrame:
        frame = QFrame()
        frame.setObjectName("welcome")
        installed = {s: v for s, v in self.catalog.status_by_set.items() if v != NOT_INSTALLED}
        self.welcome_text = QLabel(
            f"{WELCOME}<br>{welcome_catalog_text(installed_summary(self.catalog.catalog, installed))}"
        )
        self.welcome_text.setWordWrap(True)
        open_catalog = QPushButton("Open the catalogue")
        open_catalog.clicked.connect(self.show_catalog)
        got_it = QPushButton("Got it")
        got_it.clicked.connect(self.dismiss_welcome)
        buttons = QVBoxLayout()
        buttons.addWidget(got_it)
        buttons.addWidget(open_catalog)
        row = QHBoxLayout(frame)
        row.addWidget(self.welcome_text, 1)
        row.addLayout(buttons)
        return frame

    # ------------------------------------------------------------------ reacting
    def _on_frame(self, result: FrameResult) -> None:
        if self.pages.currentWidget() is self.scan_page:
            self.live.show_frame(result)

    def _on_entry(self, entry: ScanEntry) -> None:
        self.panel.show_entry(entry)
        if entry is self.controller.current:
            self.panel.show_held(self.controller.held_quantity(entry))

    def _on_new_entry(self, entry: ScanEntry) -> None:
        # A presentation named after it was unsure is listed once (the session dropped the unsure scan).
        self.panel.recent_model.keep_only({e.scan_id for e in self.controller.session.recent})
        self._on_entry(entry)

    def set_banner(self, text: str) -> None:
        self.banner.setText(text)
        self.banner.setVisible(bool(text))

    def _on_status(self, status: dict) -> None:
        reason = short_reason(status["source_reason"])
        self.source_label.setText(status["source"] if self._compact else f"Source: {status['source']} — {reason}")
        self.source_label.setToolTip(f"{status['source']} — {status['source_reason']}")
        self.backend_label.setText(f"Recogniser: {status['backend']} — {short_reason(status['backend_reason'])}")
        self.backend_label.setToolTip(f"{status['backend_reason']}\n{status['ocr']}")
        finished = status.get("finished")
        self.fps_label.setText(finished.split(",")[0] if finished else f"{status['fps']:.0f} fps")
        self.fps_label.setToolTip(finished or "")
        latency = status.get("latency_ms")
        self.latency_label.setText(f"last card {latency:.0f} ms" if latency is not None else "")

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        compact = event.size().width() < 1100
        if compact != self._compact:
            self._compact = compact
            self.panel.set_compact(compact)
            # The 800×480 status bar keeps the source, the rate and the count; the rest is in tooltips.
            self.backend_label.setVisible(not compact)
            self.latency_label.setVisible(not compact)
            self.splitter.setSizes(
                [event.size().width() * 9 // 20, event.size().width() * 11 // 20]
                if compact
                else [event.size().width() * 3 // 5, event.size().width() * 2 // 5]
            )
        super().resizeEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        # Text fields consume their own keys; these reach the window only when no field has focus.
        if self.pages.currentWidget() is self.scan_page:
            key = event.key()
            if Qt.Key.Key_1 <= key <= Qt.Key.Key_5:
                self.panel.choose_alternative(int(key) - int(Qt.Key.Key_1))
                return
            if key == Qt.Key.Key_Space:
                self.controller.add_current()
                return
        super().keyPressEvent(event)

    def _undo(self) -> None:
        # A card added by hand on the Catalogue page is a collection action like the browser's own.
        if self.pages.currentWidget() in (self.browser, self.catalog):
            self.browser.undo()
        else:
            self.controller.undo()

    # ------------------------------------------------------------------ actions
    def show_scanner(self) -> None:
        self.toast.hide()  # it belongs to the page it was shown on
        self.pages.setCurrentWidget(self.scan_page)

    def show_collection(self) -> None:
        self.toast.hide()
        if self.pages.currentWidget() is self.browser:
            self.browser.refresh()  # shown already: no show event brings it up to date
        self.pages.setCurrentWidget(self.browser)

    def show_catalog(self) -> None:
        self.toast.hide()
        self.pages.setCurrentWidget(self.catalog)
        self.catalog.search.setFocus()

    def _show_job_progress(self, text: str) -> None:
        # The Catalogue page shows its own progress; elsewhere the status bar says how it goes.
        if self.pages.currentWidget() is not self.catalog:
            self.statusBar().showMessage(text, 3000)

    def use_reference(self, bundle: ReferenceBundle) -> None:
        """Sets were installed or removed: the scanner restarts on the new reference data, and the
        views show the new sets' pictures."""
        self.controller.use_reference(bundle)
        self.panel.bundle = bundle
        self.panel.recent_model.bundle = bundle
        self.browser.bundle = bundle

    def open_export(self) -> ExportDialog:
        dialog = ExportDialog(self.controller.collection, self, memory=self.memory)
        dialog.exported.connect(self._on_exported)
        dialog.open()
        return dialog

    def _on_exported(self, text: str) -> None:
        self.toast.show_text(text, 6000)
        self.statusBar().showMessage(text, 15000)

    def open_settings(self) -> SettingsDialog:
        dialog = SettingsDialog(self.settings, self)
        source_before = self.settings.camera.source
        size_before = (self.settings.camera.width, self.settings.camera.height)
        dialog.accepted.connect(lambda: self._settings_saved(source_before, size_before))
        dialog.open()
        return dialog

    def _settings_saved(self, source_before: str, size_before: tuple[int, int]) -> None:
        resized = size_before != (self.settings.camera.width, self.settings.camera.height)
        # A new size needs the camera reopened: the same as switching to it again.
        self.controller.apply_settings(None if resized else source_before)
        if resized:
            self.controller.switch_source(self.settings.camera.source)

    def dismiss_welcome(self) -> None:
        if self.welcome is not None:
            self.welcome.hide()
        self.settings.ui.welcomed = True
        # Remembered apart from the config file, which may be read-only.
        self.memory.set("welcomed", True)
        try:
            save_settings(self.settings)
        except (OSError, ConfigError) as error:
            logger.warning("Cannot save settings: %s", error)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        if not self.catalog.shutdown():
            # The cancelled catalogue job is still finishing a step: closing now would destroy its
            # running thread (the process would abort). The window closes as soon as it has ended.
            event.ignore()
            self.catalog.job_ended.connect(self.close, Qt.ConnectionType.SingleShotConnection)
            self.statusBar().showMessage("Stopping the catalogue download… the window closes when it has.")
            return
        self.controller.stop()
        event.accept()
