"""The live scanner on a seeded, simulated 60-second clip at 1280×720 / 30 fps.

Clip: catalogue cards (shared pokemon-tcg scans, capture simulator, seed below) presented one after
another — slide in, held ~2 s with hand tremor, slide out — plus a look-alike pair: Pikachu sv3pt5-25
and the same scan re-rendered with another collector number ("058/102", added to the bundle as
``lk1-58``), which only the number strip tells apart.

Two passes over the same frames, with the app's default model and settings:

1. *paced* at 30 fps like a camera: latency from the track turning steady to its decision event
   (wall clock), CPU % (100 % = one core) and peak RSS;
2. *unpaced*: how many frames per second the capture side processes (finder + tracker + folding in
   results; the embedding runs on the pipeline's worker thread meanwhile).

Accuracy: each presentation's decision event vs the card shown (right / wrong / uncertain / unknown /
missed), and confident-wrong answers on the look-alike pair.

    python bench/live.py > bench/results/live.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.config import load_settings
from app.engine import Engine, load_engine
from app.pipeline import ScanEvent, ScanPipeline
from app.scanner import ScanListener, ScanLoop, choose_source
from bench.common import CATALOG, machine
from models.sim.capture_sim import CaptureSimulator, SimOptions, iter_clip, load_card_texture
from models.sim.lookalike import bundle_with_card, renumber_card

ENTER, HOLD, LEAVE, GAP = 0.8, 2.0, 0.7, 0.5
PER_CARD = ENTER + HOLD + LEAVE + GAP


def presentation_order(card_ids: list[str], seconds: float, seed: int) -> tuple[list[str], list[str]]:
    """(catalogue cards chosen, the order they are shown in, with the look-alike pair added)."""
    rng = np.random.default_rng(seed)
    ids = [c for c in card_ids if not c.startswith("lk")]
    count = int(seconds // PER_CARD)
    chosen = [ids[i] for i in rng.choice(len(ids), size=count - 2, replace=False)]
    order = [*chosen[: len(chosen) // 2], "sv3pt5-25", *chosen[len(chosen) // 2 :], "lk1-58"]
    return chosen, order


def build_scene(engine: Engine, seconds: float, seed: int) -> tuple[CaptureSimulator, list[str], Any]:
    chosen, order = presentation_order(engine.bundle.card_ids(), seconds, seed)
    textures = [load_card_texture(CATALOG / "images" / c.split("-")[0] / f"{c}.jpg") for c in chosen]
    original = load_card_texture(CATALOG / "images" / "sv3pt5" / "sv3pt5-25.jpg")
    assert engine.reader is not None, engine.ocr_status
    lookalike = renumber_card(original, "058/102", engine.reader)
    meta = {**engine.bundle.metadata["sv3pt5-25"], "set_id": "lk1", "number": "58", "printed_total": 102}
    meta["ptcgo_code"] = None
    bundle = bundle_with_card(engine.bundle, "lk1-58", lookalike, meta, engine.embedder)
    # A person holding cards to a scanner keeps them in focus and in light: no defocus/dim frames.
    sim = CaptureSimulator(
        [*textures, original, lookalike], SimOptions(size=(1280, 720), dim_prob=0.0, defocus_prob=0.0)
    )
    return sim, order, bundle


def clip_frames(sim: CaptureSimulator, order: list[str], fps: float, seed: int, card_ids: list[str]):
    indices = [card_ids.index(c) for c in order]
    return iter_clip(sim, np.random.default_rng(seed + 1), indices, fps, ENTER, HOLD, LEAVE, GAP)


def render_clip(engine: Engine, seconds: float, seed: int, fps: float) -> tuple[Path, Path, list[str]]:
    """The seeded clip as a video file, the bundle its cards are in (the catalogue and the look-alike)
    and the order they are shown in. Rendered once: every pass reads the file back like a camera
    stream. Cached per seed, length and the code that renders it (simulator, look-alike re-numbering)."""
    sim, order, scene_bundle = build_scene(engine, seconds, seed)
    card_ids = [c for c in order if c not in ("sv3pt5-25", "lk1-58")] + ["sv3pt5-25", "lk1-58"]
    digest = hashlib.sha1()
    for module in ("models/sim/capture_sim.py", "models/sim/lookalike.py", "bench/live.py"):
        digest.update((Path(__file__).resolve().parent.parent / module).read_bytes())
    name = f"cardsight-live-{seed}-{int(seconds)}s-{digest.hexdigest()[:10]}.mp4"
    clip = Path(tempfile.gettempdir()) / name
    bundle_dir = clip.with_suffix(".bundle")
    scene_bundle.save(bundle_dir, thumbs_from=engine.bundle.path / "thumbs" if engine.bundle.path else None)
    if not clip.is_file():
        # Written under another name and renamed when whole: a run stopped mid-render must not leave a
        # cut clip that the next run takes from the cache.
        partial = clip.with_name(f"{clip.stem}.partial-{os.getpid()}.mp4")
        writer = cv2.VideoWriter(str(partial), cv2.VideoWriter.fourcc(*"mp4v"), fps, (1280, 720))
        try:
            for clip_frame in clip_frames(sim, order, fps, seed, card_ids):
                writer.write(clip_frame.image)
        finally:
            writer.release()
        partial.replace(clip)
    return clip, bundle_dir, order


def score(events: list[ScanEvent], order: list[str]) -> dict[str, Any]:
    decisions = [e for e in events if e.event in ("identified", "uncertain", "unknown", "card_back")]
    outcome: dict[str, int] = {"right": 0, "wrong": 0, "uncertain": 0, "unknown": 0, "card_back": 0, "missed": 0}
    extra = 0
    lookalike_wrong = 0
    per_presentation: list[list[ScanEvent]] = [[] for _ in order]
    for event in decisions:
        k = int(event.t // PER_CARD)
        if 0 <= k < len(order) and event.t - k * PER_CARD <= ENTER + HOLD + LEAVE + 0.8:
            per_presentation[k].append(event)
        else:
            extra += 1
    for truth, found in zip(order, per_presentation, strict=True):
        if not found:
            outcome["missed"] += 1
            continue
        extra += len(found) - 1
        event = found[0]
        if event.event == "identified":
            right = event.card_id == truth
            outcome["right" if right else "wrong"] += 1
            if not right and truth in ("sv3pt5-25", "lk1-58"):
                lookalike_wrong += 1
        else:
            outcome[event.event] += 1
    identified = outcome["right"] + outcome["wrong"]
    return {
        "presentations": len(order),
        "outcomes": outcome,
        "extra_events": extra,
        "identified_right_fraction": round(outcome["right"] / max(identified, 1), 4),
        "presentations_identified_right": round(outcome["right"] / len(order), 4),
        "lookalike_confident_wrong": lookalike_wrong,
    }


def run_pass(pipeline: ScanPipeline, clip: Path, paced: bool) -> dict[str, Any]:
    """Feed the clip through the app's scan loop and a real video source (``paced``: at the file's
    frame rate, like a camera)."""
    events: list[ScanEvent] = []
    process_s: list[float] = []
    source = choose_source(str(clip), load_settings(), paced=paced).source
    listener = ScanListener(on_frame=lambda result: process_s.append(result.process_s), on_event=events.append)
    cpu0 = time.process_time()
    wall0 = time.perf_counter()
    ScanLoop(source, listener=listener).scan(pipeline)
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    latencies = [e.latency_s * 1000 for e in events if e.latency_s is not None and e.event != "lost"]
    return {
        "events": events,
        "frames": len(process_s),
        "process_ms_median": round(float(np.median(process_s)) * 1000, 2),
        "process_ms_p95": round(float(np.percentile(process_s, 95)) * 1000, 2),
        "capture_side_fps": round(len(process_s) / sum(process_s), 1),
        "wall_s": round(wall, 1),
        "cpu_percent": round(100 * cpu / wall, 1),
        "steady_to_event_ms": {
            "median": round(float(np.median(latencies)), 1) if latencies else None,
            "p95": round(float(np.percentile(latencies, 95)), 1) if latencies else None,
            "max": round(float(np.max(latencies)), 1) if latencies else None,
        },
    }


def latency_summary(events: list[ScanEvent]) -> dict[str, Any]:
    def stats(values: list[float]) -> dict[str, float | None]:
        if not values:
            return {"median": None, "p95": None, "max": None, "n": 0}
        return {
            "median": round(float(np.median(values)), 1),
            "p95": round(float(np.percentile(values, 95)), 1),
            "max": round(float(np.max(values)), 1),
            "n": len(values),
        }

    decided = [e for e in events if e.latency_s is not None and e.event != "lost"]
    return {
        "all_decisions": stats([e.latency_s * 1000 for e in decided if e.latency_s is not None]),
        "identified_on_the_picture_alone": stats(
            [
                e.latency_s * 1000
                for e in decided
                if e.event == "identified" and e.ocr is None and e.latency_s is not None
            ]
        ),
        "needing_the_number_strip_or_a_person": stats(
            [
                e.latency_s * 1000
                for e in decided
                if (e.ocr is not None or e.event != "identified") and e.latency_s is not None
            ]
        ),
    }


def peak_rss_mb() -> float:
    """This process's peak RSS. VmHWM, not ru_maxrss: Linux carries ru_maxrss over fork + exec, so a
    child started by a big parent would report the parent's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def one_pass(kind: str, clip: Path, bundle: Path, seconds: float, seed: int) -> dict[str, Any]:
    """Run one pass in this process (a fresh one per pass, so peak RSS is the scanner's own: the app's
    engine loading the bench's bundle — the catalogue plus the look-alike — from disk)."""
    settings = load_settings()
    engine = load_engine(settings, bundle=str(bundle))
    _chosen, order = presentation_order(engine.bundle.card_ids(), seconds, seed)
    pipeline = engine.pipeline(settings, realtime=kind != "replay")
    result = run_pass(pipeline, clip, paced=kind == "paced")
    events = result.pop("events")
    result.pop("steady_to_event_ms")
    result["steady_to_event_ms"] = latency_summary(events)
    result["accuracy"] = score(events, order)
    result["peak_rss_mb"] = peak_rss_mb()
    engine.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--only", choices=["paced", "unpaced", "replay"], help=argparse.SUPPRESS)
    parser.add_argument("--clip", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--bundle", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.only:
        print(json.dumps(one_pass(args.only, args.clip, args.bundle, args.seconds, args.seed)))
        return
    settings = load_settings()
    engine = load_engine(settings)
    clip, bundle_dir, order = render_clip(engine, args.seconds, args.seed, args.fps)
    passes = {}
    for kind in ("paced", "unpaced", "replay"):
        command = [sys.executable, __file__, "--only", kind, "--clip", str(clip), "--bundle", str(bundle_dir)]
        command += ["--seconds", str(args.seconds)]
        command += ["--seed", str(args.seed)]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        passes[kind] = json.loads(done.stdout.strip().splitlines()[-1])
    report = {
        "benchmark": "live scanner (app/pipeline.py) on a simulated clip",
        "machine": machine(),
        "clip": {
            "seconds": args.seconds,
            "fps": args.fps,
            "size": "1280x720",
            "seed": args.seed,
            "presentations": order,
            "data": "shared/data/pokemon-tcg scans through models/sim/capture_sim.py; lk1-58 = sv3pt5-25 renumbered",
        },
        "model": {"name": engine.embedder.sidecar.name, "backend": engine.embedder.description},
        "ocr": engine.ocr_status,
        "paced_30fps": passes["paced"],
        "unpaced": passes["unpaced"],
        "file_replay_deterministic": passes["replay"],
        "notes": "each pass runs in its own process: peak_rss_mb is the scanner's own "
        "(engine, bundle, OCR, video decode)",
        "targets": {"capture_side_fps": 60, "steady_to_event_p95_ms": 250, "peak_rss_mb": 400, "right": 0.99},
    }
    print(json.dumps(report, indent=2))
    engine.close()


if __name__ == "__main__":
    main()
