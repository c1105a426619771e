"""The GUI under load: displayed fps, frame latency and UI-thread stalls with a replayed 1280×720 clip.

A simulated clip (shared catalogue cards, seeded) is replayed at its own 30 fps like a camera into the
real main window (engine thread, pipeline, collection). Measured on the UI thread:

- displayed fps: frames painted by the live view per second;
- frame latency: from the engine starting on a frame to the UI thread showing it (median / p95);
- UI stalls: a 10 ms QTimer heartbeat; the longest gap minus 10 ms is the longest time the UI thread
  was blocked;
- peak RSS of the process.

    xvfb-run -a -s "-screen 0 1920x1080x24" .venv/bin/python bench/gui.py > bench/results/gui.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.camera.video_file import VideoFileSource
from app.config import load_settings
from bench.common import CATALOG, machine
from models.sim.capture_sim import CaptureSimulator, SimOptions, iter_clip, load_card_texture

CARDS = ["sv3pt5-25", "sv5-123", "xy12-1", "sv3pt5-6", "sv5-97"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    from PySide6.QtCore import QEventLoop, QTimer

    from ui.app import build_windows, create_application
    from ui.engine_thread import SourceInfo

    work = Path(tempfile.mkdtemp(prefix="cardsight-gui-bench-"))
    os.environ["CARDSIGHT_CONFIG"] = str(work / "config.toml")
    textures = [load_card_texture(CATALOG / "images" / c.split("-")[0] / f"{c}.jpg") for c in CARDS]
    sim = CaptureSimulator(textures, SimOptions(size=(1280, 720), dim_prob=0.0, defocus_prob=0.0))
    clip = work / "clip.mp4"
    import cv2

    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter.fourcc(*"mp4v"), 30.0, (1280, 720))
    count = max(1, int(args.seconds // 4.0))
    for frame in iter_clip(sim, np.random.default_rng(7), [i % len(CARDS) for i in range(count)], 30.0):
        writer.write(frame.image)
    writer.release()

    settings = load_settings()
    settings.collection.db = work / "collection.db"
    settings.ui.welcomed = True
    settings.ui.sounds = False
    app = create_application()

    def open_source():
        source = VideoFileSource(clip, realtime=True)
        return source, SourceInfo(source.description, "replayed simulated clip at 30 fps")

    window, controller = build_windows(settings, False, open_source)
    assert controller is not None
    window.resize(1920, 1080)
    window.show()
    latencies: list[float] = []
    paint_times: list[float] = []

    def on_frame(result) -> None:
        now = time.monotonic()
        latencies.append(now - result.started_at)
        paint_times.append(now)

    controller.frame.connect(on_frame)
    beats: list[float] = []
    heartbeat = QTimer()
    heartbeat.setInterval(10)
    heartbeat.timeout.connect(lambda: beats.append(time.monotonic()))
    loop = QEventLoop()
    controller.worker.finished.connect(loop.quit)
    QTimer.singleShot(int(args.seconds * 1000 * 3), loop.quit)
    heartbeat.start()
    controller.start()
    loop.exec()
    heartbeat.stop()
    controller.stop()
    gaps = np.diff(beats) * 1000 if len(beats) > 1 else np.array([0.0])
    # Blocks once frames flow (the first window layout and paint happen before the first frame).
    running = np.array(beats)
    running = running[running >= paint_times[0]] if paint_times else running
    gaps_running = np.diff(running) * 1000 if len(running) > 1 else np.array([0.0])
    span = paint_times[-1] - paint_times[0] if len(paint_times) > 1 else 1.0
    report = {
        "benchmark": "GUI with the live engine (bench/gui.py)",
        "machine": machine(),
        "platform": app.platformName(),
        "clip": {"size": "1280x720", "fps": 30, "seconds": args.seconds, "cards": CARDS},
        "frames_processed": controller.worker.frames_processed,
        "frames_displayed": len(paint_times),
        "frames_skipped_for_display": controller.worker.frames_skipped_for_display,
        "displayed_fps": round((len(paint_times) - 1) / span, 1),
        "frame_latency_ms": {
            "median": round(float(np.median(latencies)) * 1000, 1),
            "p95": round(float(np.percentile(latencies, 95)) * 1000, 1),
        },
        "ui_thread_longest_block_ms": round(float(gaps.max() - 10.0), 1),
        "ui_thread_longest_block_after_first_frame_ms": round(float(gaps_running.max() - 10.0), 1),
        "ui_thread_blocks_over_50ms_after_first_frame": int((gaps_running - 10.0 > 50).sum()),
        "scans_recorded": len(controller.collection.scans()),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "targets": {"displayed_fps": 30, "ui_block_ms": 50, "peak_rss_mb": 500},
    }
    window.close()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
