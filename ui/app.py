"""``cardsight`` with no subcommand starts the GUI (``--kiosk`` for the kiosk); subcommands go to the
headless CLI (``app.cli``). Without a display the headless scanner runs instead, and says so."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sqlite3
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from app import PROJECT_ROOT
from app.cli import command_names, start_up
from app.cli import main as cli_main
from app.config import Settings

logger = logging.getLogger(__name__)
STYLE_SHEET = PROJECT_ROOT / "assets" / "style.qss"


def has_display() -> bool:
    if os.environ.get("QT_QPA_PLATFORM"):
        return True
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def gui_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cardsight",
        usage="cardsight [--kiosk] [--source SOURCE] [-v]  |  cardsight COMMAND ...",
        description="cardsight card scanner: with no COMMAND, the scanner window.",
    )
    parser.add_argument("--kiosk", action="store_true", help="fullscreen touch kiosk (leaving needs the PIN)")
    parser.add_argument("--source", help="camera source: auto, 0, picamera2, demo, a video file or image folder")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the scanner does")
    return parser


def is_cli_command(argv: Sequence[str]) -> bool:
    """A subcommand goes to the CLI (``--help`` after one too: that command's help)."""
    commands = command_names()
    return any(arg in commands for arg in argv if not arg.startswith("-"))


def wants_help(argv: Sequence[str]) -> bool:
    return any(a in ("-h", "--help") for a in argv)


def top_level_help() -> str:
    """The window's options (``--kiosk``, ``--source``) first, then the subcommands."""
    from app.cli import build_parser

    window = gui_parser().format_help()
    return f"{window}\nHeadless commands (cardsight COMMAND --help for each):\n\n{build_parser().format_help()}"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if is_cli_command(argv):
        return cli_main(argv)
    if wants_help(argv):
        print(top_level_help())
        return 0
    args = gui_parser().parse_args(argv)
    if not has_display():
        print(
            "No display found (DISPLAY/WAYLAND_DISPLAY unset): running the headless scanner instead "
            "(`cardsight scan`); run it on a desktop for the window.",
            flush=True,
        )
        return cli_main(["scan", *(["--source", args.source] if args.source else [])])
    settings = start_up(logging.INFO if args.verbose else logging.WARNING)
    if settings is None:
        return 2
    if args.source:
        settings.camera.source = args.source
    return run_gui(settings, kiosk=args.kiosk)


def create_application(argv: Sequence[str] = ()) -> Any:
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(["cardsight", *argv])
    app.setApplicationName("cardsight")
    app.setWindowIcon(QIcon(str(PROJECT_ROOT / "assets" / "icons" / "cardsight.svg")))
    if STYLE_SHEET.is_file():
        app.setStyleSheet(STYLE_SHEET.read_text(encoding="utf-8"))
    return app


def open_collection(settings: Settings) -> Any:
    from app.collection.open import open_collection as open_address
    from app.collection.open import outbox_path_for
    from app.collection.postgres import default_kiosk

    if settings.collection.url:
        # A shop server: scans wait in this kiosk's outbox while it is away (status_text() says so).
        kiosk = default_kiosk()
        return open_address(settings.collection.url, kiosk=kiosk, outbox=outbox_path_for(settings.collection.db, kiosk))
    # A short busy timeout: the UI thread must not freeze on a locked file; the controller retries.
    return open_address(settings.collection.db, busy_timeout_ms=250, synchronous=settings.collection.synchronous)


def open_or_recover(settings: Settings, ask: Callable[[Path, str], Any]) -> Any:
    """The collection; a file it refuses (damaged, not a collection) is put to the user through
    ``ask`` (restore a backup / start a new one / quit). None when they quit. A locked file and a
    recovery that fails raise CollectionError, for the error page."""
    from app.collection.store import CollectionError
    from ui.recovery import carry_out

    path = Path(settings.collection.db)
    note = ""
    while True:
        try:
            collection = open_collection(settings)
        except (CollectionError, sqlite3.DatabaseError) as error:
            message = str(error)
            # Only a local file can be restored or moved aside (a shop server's problems are the server's).
            if settings.collection.url or "locked" in message or not path.exists():
                raise CollectionError(message) from error
            decision = ask(path, f"{note}{message}")
            if decision.choice == "quit":
                return None
            try:
                logger.warning("%s", carry_out(path, decision))
            except CollectionError as failed:
                note = f"That did not work: {failed}\n\n"
            continue
        return collection


def build_windows(
    settings: Settings,
    kiosk: bool,
    open_source: Any = None,
    ask_recovery: Callable[[Path, str], Any] | None = None,
) -> tuple[Any, Any]:
    """(window, controller); the window is an error page (controller None) when the engine or the
    collection cannot start — with what to run to fix it — and None when the user chose to quit
    rather than recover a refused collection file."""
    from app.collection.store import CollectionError
    from app.embed.base import EmbedderError
    from app.engine import load_engine
    from app.match.bundle import BundleError
    from ui.controller import ScanController

    try:
        engine = load_engine(settings)
    except BundleError as error:
        return _error_window("The reference bundle cannot be used", str(error)), None
    except (EmbedderError, FileNotFoundError) as error:
        return _error_window("The recogniser cannot start", str(error)), None
    try:
        if kiosk:
            collection = open_collection(settings)  # the shop's staff fix files, not the kiosk's user
        else:
            from ui.recovery import ask_with_dialog

            collection = open_or_recover(settings, ask_recovery or ask_with_dialog)
            if collection is None:
                engine.close()
                return None, None
    except (CollectionError, sqlite3.DatabaseError) as error:
        engine.close()
        message = str(error)
        if "locked" in message:
            message += "\nAnother program (or another cardsight) holds the database. Close it and start again."
        return _error_window(f"The collection {settings.collection.db} cannot be opened", message), None
    controller = ScanController(
        engine,
        settings,
        collection,
        open_source=open_source,
        session_label=settings.kiosk.session_label if kiosk else None,
        auto_add=True if kiosk else None,
    )
    if kiosk:
        window = build_kiosk(controller, settings)
    else:
        from ui.main_window import MainWindow

        window = MainWindow(controller, settings)
    return window, controller


def build_kiosk(controller: Any, settings: Settings) -> Any:
    from ui.kiosk import KioskWindow

    kiosk = KioskWindow(
        settings.kiosk.pin,
        settings.kiosk.session_label,
        cards=controller.engine.bundle.metadata,
        currency=settings.prices.currency,
        buy_percent=settings.kiosk.buy_percent,
    )
    controller.frame.connect(kiosk.live.show_frame)
    controller.entry_added.connect(lambda entry: kiosk.show_added(entry, controller.session.added_count))
    controller.count_changed.connect(kiosk.show_count)
    controller.session_value.connect(kiosk.show_value)
    controller.banner.connect(kiosk.set_banner)
    kiosk.undo_requested.connect(controller.undo)
    kiosk.exit_granted.connect(controller.stop)
    return kiosk


def _error_window(title: str, message: str) -> Any:
    from PySide6.QtWidgets import QMainWindow

    from ui.main_window import ErrorPage

    window = QMainWindow()
    window.setWindowTitle("cardsight")
    window.setCentralWidget(ErrorPage(title, message))
    window.resize(900, 500)
    return window


def quit_on_signals(app: Any) -> Any:
    """SIGTERM (systemd stopping the kiosk) and Ctrl-C end the event loop normally — the PIN guards the
    window, not the service — so pending scans are flushed and the camera released. Python runs
    signal handlers only when it holds the GIL, so a short timer keeps giving it the chance."""
    from PySide6.QtCore import QTimer

    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: app.exit(0))  # exit, not quit: quit would ask the kiosk to close
    timer = QTimer()
    timer.timeout.connect(lambda: None)
    timer.start(250)
    return timer


def run_gui(settings: Settings, kiosk: bool = False) -> int:
    app = create_application()
    _signal_timer = quit_on_signals(app)
    window, controller = build_windows(settings, kiosk)
    if window is None:
        print(f"cardsight: the collection {settings.collection.db} was left as it was", file=sys.stderr)
        return 1
    if kiosk and controller is not None:
        window.showFullScreen()
    else:
        window.show()
    if controller is not None:
        controller.start()
        app.aboutToQuit.connect(controller.stop)
    code = int(app.exec())
    if controller is not None:
        controller.stop()
        controller.engine.close()
        controller.collection.close()
    return code


if __name__ == "__main__":
    sys.exit(main())
