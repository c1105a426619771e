"""``cardsight-train``: train the card model end to end (or resume an interrupted run).

    cardsight-train --out models/card                      # the shipped recipe on all catalogue sets
    cardsight-train --recipe tiny --out /tmp/tiny           # seconds: checks the plumbing
    torchrun --nproc_per_node 2 -m models.train --out ...   # the same run under DDP (gloo, CPU)

Writes teacher.pt, stage1.pt, stage2.pt (each with a lineage .json), and with ``--export`` the
student as ONNX FP32 + INT8 with sidecars and the Hailo compile-kit inputs.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tomllib
from pathlib import Path

from pydantic import ValidationError

from models.train.recipe import Recipe

logger = logging.getLogger(__name__)

DEFAULT_CACHE = Path.home() / ".cache" / "cardsight" / "train"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="cardsight-train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--recipe", default="default", help="'default', 'tiny' or a TOML file")
    p.add_argument("--catalog", type=Path, default=Path("../shared/data/pokemon-tcg"))
    p.add_argument(
        "--ebay", type=Path, default=Path("../shared/data/ebay-photos"), help="eBay photos folder (negatives)"
    )
    p.add_argument("--sets", default="", help="comma-separated set ids to train on (default: all)")
    p.add_argument("--out", type=Path, required=True, help="run folder for checkpoints and artefacts")
    p.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help="rendered views and frozen features")
    p.add_argument("--export", action="store_true", help="also write student ONNX FP32/INT8 and the Hailo kit inputs")
    p.add_argument("--stop-after-epochs", type=int, default=None, help="end after N epochs of this run (resume later)")
    p.add_argument("--threads", type=int, default=0, help="torch threads per process (0: cores / processes)")
    return p.parse_args(argv)


def load_recipe(spec: str) -> Recipe:
    if spec == "default":
        return Recipe()
    if spec == "tiny":
        return Recipe.tiny()
    path = Path(spec)
    if not path.is_file():
        raise SystemExit(f"cardsight-train: no recipe file {spec!r} (use 'default', 'tiny' or a TOML path)")
    try:
        return Recipe.from_toml(path)
    except (tomllib.TOMLDecodeError, ValidationError) as exc:
        raise SystemExit(f"cardsight-train: recipe {spec} is not valid: {exc}") from None


def main(argv: list[str] | None = None) -> int:
    import os

    import torch

    from models.train.export import export_student
    from models.train.loop import init_distributed
    from models.train.run import TrainingStopped, load_data, train_all

    args = parse_args(argv)
    d = init_distributed()
    logging.basicConfig(level=logging.INFO if d.main else logging.WARNING, format=f"[rank {d.rank}] %(message)s")
    torch.set_num_threads(args.threads or max(1, (os.cpu_count() or 1) // d.world))
    recipe = load_recipe(args.recipe)
    if not (args.catalog / "sets.json").is_file():
        print(f"cardsight-train: no pokemontcg.io catalogue at {args.catalog} (sets.json missing)", file=sys.stderr)
        return 2
    ebay = args.ebay if (args.ebay / "labels.csv").is_file() else None
    sets = [s for s in args.sets.split(",") if s] or None
    try:
        data = load_data(recipe, args.catalog, ebay, args.cache_dir, d)
        trained = train_all(recipe, data, args.out, args.cache_dir, d, sets, args.stop_after_epochs)
    except (ValueError, FileNotFoundError) as exc:
        print(f"cardsight-train: {exc}", file=sys.stderr)
        return 2
    except TrainingStopped as stopped:
        if d.main:
            print(f"stopped during {stopped}; rerun the same command to resume", file=sys.stderr)
        return 3
    if args.export and d.main:
        report = export_student(trained, recipe, args.catalog, args.out)
        print(json.dumps(report, indent=2))
    if d.world > 1:
        import torch.distributed as dist

        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
