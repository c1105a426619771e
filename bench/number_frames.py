"""How often the collector number is read exactly from one frame vs from K frames fused
(``app.ocr.fusion``), on the steady frames of ``bench/live.py``'s seeded clip.

For every card shown in the clip (15, the look-alike pair included), the frames of its steady hold are
run through the real finder; every ``--step`` frames, the strips of the K frames up to there are warped,
shifted onto the newest and averaged, and the real number reader reads them at the corner the card's
era prints its number in. A read is *right* when it parses as the card's own number, *wrong* when it
parses as another. Prints JSON (≈ 3 minutes on 2 cores, the clip's rendering included the first time).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.camera.video_file import VideoFileSource
from app.config import load_settings
from app.engine import load_engine
from app.ocr.fusion import NumberViews
from app.ocr.number import metadata_number, numbers_agree
from app.ocr.reader import number_corners
from bench.common import machine
from bench.live import ENTER, HOLD, PER_CARD, render_clip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", default="1,2,3,5,8", help="K values, comma-separated")
    parser.add_argument("--step", type=int, default=3, help="frames between two reads of one hold")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    ks = sorted({int(k) for k in args.frames.split(",")})
    settings = load_settings()
    clip, bundle_dir, order = render_clip(load_engine(settings), args.seconds, args.seed, 30.0)
    engine = load_engine(settings, bundle=str(bundle_dir))
    reader = engine.reader
    if reader is None:
        raise SystemExit(f"OCR unavailable: {engine.ocr_status}")
    metadata = engine.bundle.metadata

    # The hold of each presentation, less 0.1 s at each end (the card settling and starting to leave).
    held: dict[int, list[tuple[Any, Any]]] = {}
    with VideoFileSource(clip, realtime=False) as source:
        while (frame := source.read()) is not None:
            shown = int(frame.timestamp // PER_CARD)
            into = frame.timestamp - shown * PER_CARD
            if shown >= len(order) or not ENTER + 0.1 <= into <= ENTER + HOLD - 0.1:
                continue
            found = engine.finder.find_cards(frame.image)
            if found:
                card = max(found, key=lambda c: c.quad.area_frac)
                held.setdefault(shown, []).append((frame.image, card.corners))

    counts = {k: {"reads": 0, "right": 0, "wrong": 0} for k in ks}
    per_card: dict[str, dict[int, int]] = {}
    fuse_ms: dict[int, list[float]] = {k: [] for k in ks}
    read_ms: list[float] = []
    for shown, views in sorted(held.items()):
        card_id = order[shown]
        number = metadata_number(metadata[card_id])
        assert number is not None, card_id
        where = number_corners([str(metadata[card_id].get("series", ""))])
        own = per_card.setdefault(card_id, dict.fromkeys(ks, 0))
        for end in range(max(ks), len(views) + 1, args.step):
            for k in ks:
                started = time.perf_counter()
                strip = NumberViews(tuple(views[end - k : end]), where).strip()
                fuse_ms[k].append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                reading = reader.read_strip(strip, corners=where)
                read_ms.append((time.perf_counter() - started) * 1000)
                right = reading.number is not None and numbers_agree(reading.number, number)
                counts[k]["reads"] += 1
                counts[k]["right"] += right
                counts[k]["wrong"] += reading.number is not None and not right
                own[k] += right
    reads_per_card = {order[s]: len(range(max(ks), len(views) + 1, args.step)) for s, views in held.items()}

    report = {
        "benchmark": "collector-number reads from one frame vs K frames fused (app/ocr/fusion.py)",
        "machine": machine(),
        "data": f"bench/live.py's clip (seed {args.seed}, {args.seconds:g} s, 1280x720, 30 fps): the steady "
        "hold of each of its cards through the real finder; lk1-58 = sv3pt5-25 renumbered",
        "step_frames": args.step,
        "frames_fused": {
            str(k): {
                "reads": c["reads"],
                "right": round(c["right"] / max(c["reads"], 1), 4),
                "wrong": round(c["wrong"] / max(c["reads"], 1), 4),
                "fuse_ms_median": round(float(np.median(fuse_ms[k])), 2),
            }
            for k, c in counts.items()
        },
        "right_reads_per_card": {
            card_id: {str(k): f"{per_card[card_id][k]}/{reads_per_card[card_id]}" for k in ks} for card_id in per_card
        },
        "read_ms_median": round(float(np.median(read_ms)), 1),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
