"""Screenshots of the GUI for the README: the main window with an identified card, the same card just
added (the confirmation and the recent-scans list), the uncertain state, the collection browser,
kiosk mode, the first-run welcome and the Catalogue page (a set chosen, a card searched), at 1920×1080
and at the Pi display's 800×480 (``--no-kiosk``: the desktop window only; ``--catalog-only``: the
welcome and the Catalogue page only, which need no clip).

Runs the real engine on a simulated clip of shared catalogue cards. Needs a display; on a server:

    xvfb-run -a -s "-screen 0 1920x1080x24" .venv/bin/python bench/screenshots.py --out docs/screenshots
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.camera.video_file import VideoFileSource
from app.collection.store import InventoryKey
from app.config import load_settings
from app.pipeline import ScanEvent
from bench.common import CATALOG
from models.sim.capture_sim import CaptureSimulator, SimOptions, load_card_texture, render_clip, write_clip

SIZES = {"1920x1080": (1920, 1080), "800x480": (800, 480)}
CARDS = ["sv3pt5-25", "sv5-123", "xy12-1"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--no-kiosk", dest="kiosk", action="store_false", help="skip the kiosk screenshots")
    parser.add_argument("--catalog-only", action="store_true", help="only the welcome and the Catalogue page")
    args = parser.parse_args()
    if os.environ.get("QT_QPA_PLATFORM") == "offscreen":
        print("note: offscreen platform; fonts may differ from a real X server", file=sys.stderr)
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from ui.app import build_windows, create_application
    from ui.engine_thread import SourceInfo

    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="cardsight-shots-"))
    os.environ["CARDSIGHT_CONFIG"] = str(work / "config.toml")
    textures = [load_card_texture(CATALOG / "images" / c.split("-")[0] / f"{c}.jpg") for c in CARDS]
    sim = CaptureSimulator(textures, SimOptions(dim_prob=0.0, defocus_prob=0.0, size=(1280, 720)))
    frames = render_clip(sim, np.random.default_rng(5), [0, 1, 2], fps=15)
    clip = work / "clip.mp4"
    write_clip(frames, clip, fps=15)

    app = create_application()
    written: list[str] = []

    def shoot(widget, name: str, png: bool = False) -> None:
        loop = QEventLoop()
        QTimer.singleShot(300, loop.quit)
        loop.exec()
        # JPEG where the simulated camera picture is in view (it makes PNGs of ~1 MB each).
        path = args.out / f"{name}.{'png' if png else 'jpg'}"
        widget.grab().save(str(path), "PNG" if png else "JPEG", 0 if png else 90)  # PNG: smallest file
        written.append(str(path))

    def shoot_catalog(label: str, size: tuple[int, int]) -> None:
        """The first-run welcome (which sets are installed, where to add more) and the Catalogue page with
        a set not installed chosen and a card of another set found, ready to be added by hand."""
        from PySide6.QtCore import QItemSelectionModel

        settings = load_settings()
        settings.collection.db = work / f"collection-catalog-{size[0]}.db"
        settings.ui.welcomed = False
        settings.ui.sounds = False
        window, controller = build_windows(
            settings, False, lambda: (VideoFileSource(clip), SourceInfo("video file", "replayed simulated clip"))
        )
        assert controller is not None, "engine failed to start"
        window.resize(*size)
        window.show()
        shoot(window, f"catalog-welcome-{label}", png=True)
        window.show_catalog()
        page = window.catalog
        page.select_sets(["base1"])
        page.table.scrollTo(page.table.selectionModel().selectedRows()[0])
        page.table.selectionModel().setCurrentIndex(
            page.table.selectionModel().selectedRows()[0], QItemSelectionModel.SelectionFlag.NoUpdate
        )
        page.search.setText("charizard 4/102")
        page.run_search()
        shoot(window, f"catalog-{label}", png=True)
        page.search.setText("MEW 6")
        page.run_search()
        page.filter.setText("Scarlet")
        shoot(window, f"catalog-search-{label}", png=True)
        controller.stop()
        window.close()

    def run(kiosk: bool, size: tuple[int, int], stop_after_card: str | None):
        settings = load_settings()
        settings.collection.db = work / f"collection-{kiosk}-{size[0]}.db"
        settings.ui.welcomed = True
        settings.ui.sounds = False

        def open_source():
            # Paced like a camera, so the picture stops with the card in view.
            source = VideoFileSource(clip, realtime=True)
            return source, SourceInfo(source.description, "replayed simulated clip")

        window, controller = build_windows(settings, kiosk, open_source)
        assert controller is not None, "engine failed to start"
        window.resize(*size)
        window.show()
        # Wait in a real event loop (a processEvents() busy loop trips a PySide6 refcount bug on 3.11).
        loop = QEventLoop()
        controller.worker.finished.connect(loop.quit)

        def on_entry(entry) -> None:
            if stop_after_card and entry.card_id == stop_after_card:
                # Let the card stay in the picture for a moment, then freeze the scene.
                # A lambda runs on this (UI) thread; a bound slot would queue to the busy worker thread.
                QTimer.singleShot(150, lambda: controller.worker.request_stop())

        controller.entry_added.connect(on_entry)
        QTimer.singleShot(300_000, loop.quit)
        controller.start()
        loop.exec()
        controller.scanner.stop()
        return window, controller

    for label, size in SIZES.items():
        shoot_catalog(label, size)
        if args.catalog_only:
            continue
        window, controller = run(False, size, CARDS[1])
        shoot(window, f"main-identified-{label}")
        controller.add_current()
        shoot(window, f"main-added-{label}")
        # The uncertain state: the engine's real top-5 for the card, shown as a close call to choose from.
        entry = controller.current
        assert entry is not None
        event = entry.event
        uncertain = ScanEvent(
            t=event.t,
            track=event.track + 100,
            event="uncertain",
            card_id=event.card_id,
            name=event.name,
            set_id=event.set_id,
            number=event.number,
            confidence=0.41,
            alternatives=event.alternatives,
            crop=event.crop,
        )
        window.toast.hide()
        controller._on_event(uncertain)
        shoot(window, f"main-uncertain-{label}")
        for card_id in CARDS:
            controller.collection.upsert_cards([controller.engine.bundle.metadata[card_id]])
            controller.collection.add(InventoryKey(card_id), 2)
        window.show_collection()
        window.browser.table.selectRow(1)
        shoot(window, f"collection-{label}")
        controller.stop()
        window.close()
        if not args.kiosk:
            continue

        kiosk_window, kiosk_controller = run(True, size, None)
        kiosk_window.resize(*size)
        shoot(kiosk_window, f"kiosk-{label}")
        kiosk_controller.stop()
        kiosk_window._may_close = True
        kiosk_window.close()
    QApplication.processEvents()
    print(json.dumps({"screenshots": written, "platform": app.platformName()}, indent=2))


if __name__ == "__main__":
    main()
