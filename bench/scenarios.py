"""The live scanner on scenarios built from real material (``models/sim/scenarios.py``): expected vs
got, per scenario.

Material: real catalogue scans (shared/data/pokemon-tcg) and real eBay photos of card fronts and backs
(shared/data/ebay-photos, cropped to their labelled card box; backs from source photos the default
bundle's back references were not built from), rendered by the capture simulator into 30 fps clips
(written as mp4 and read back through the app's video source, as ``cardsight scan --source clip.mp4``
does). Catalogue cards are a seeded sample of cards whose name is unique in the bundle (a look-alike
printing is a question for the number reader, not for presentations).

Each scenario's *presentations* are the tracks that got a decision, each counted by its last decision
(a presentation decided ``uncertain`` that later became ``identified`` counts as identified), in the
order they were first decided; a scenario holds when those equal the expected events (in order, or as
a multiset for cards in view together) and no presentation was identified twice.

    python bench/scenarios.py > bench/results/scenarios.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.config import load_settings
from app.engine import load_engine
from bench.common import CATALOG, EBAY, machine
from models.sim.scenarios import (
    Material,
    judge,
    longest_unseen_run,
    scan_clip,
    seeded_suite,
    write_clip,
)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--only", nargs="*", help="scenario names to run (default: all)")
    parser.add_argument("--clips", type=Path, default=Path(tempfile.gettempdir()) / "cardsight-scenarios")
    args = parser.parse_args(argv)
    size = tuple(int(v) for v in args.size.split("x"))
    assert len(size) == 2
    settings = load_settings()
    engine = load_engine(settings)
    material = Material(CATALOG, EBAY)
    args.clips.mkdir(parents=True, exist_ok=True)
    results = {}
    try:
        for scenario in seeded_suite(engine.bundle, material, args.seed):
            if args.only and scenario.name not in args.only:
                continue
            clip = write_clip(scenario, material, args.clips, args.seed, (size[0], size[1]))
            started = time.perf_counter()
            events, seen = scan_clip(engine, settings, clip)
            results[scenario.name] = {
                "description": scenario.description,
                "frames": scenario.frames,
                **judge(scenario, events),
                "longest_unseen_run_frames": longest_unseen_run(scenario, seen),
                "scan_s": round(time.perf_counter() - started, 1),
            }
            print(f"{scenario.name}: {'holds' if results[scenario.name]['holds'] else 'FAILS'}", file=sys.stderr)
    finally:
        engine.close()
    held = sum(1 for r in results.values() if r["holds"])
    print(
        json.dumps(
            {
                "bench": "scenarios",
                "data": "shared/data/pokemon-tcg scans and shared/data/ebay-photos fronts/backs through "
                "models/sim/scenarios.py (capture simulator), 30 fps mp4 clips read by app.camera.video_file",
                "seed": args.seed,
                "size": args.size,
                "machine": machine(),
                "settings": {"live": settings.live.model_dump(), "network_every": settings.finder.network_every},
                "scenarios_holding": f"{held}/{len(results)}",
                "scenarios": results,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
