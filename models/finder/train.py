"""Train CardSegNet on simulated captures and export it to ONNX for the finder.

    python -m models.finder.train --catalog ../shared/data/pokemon-tcg --ebay ../shared/data/ebay-photos \
        --samples 6000 --minutes 12 --out models/finder/cardseg.onnx

Needs the ``train`` extra (PyTorch). Seeded; the sidecar JSON records the recipe and data.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import multiprocessing as mp
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

_SIMS: Any = None
_MULTI: Any = None
_MULTI_SHARE = 0.0


def _init_worker(catalog: str, ebay: str, max_catalogue: int, multi_share: float) -> None:
    global _SIMS, _MULTI, _MULTI_SHARE
    import cv2

    from models.finder.data import load_textures, make_simulators
    from models.sim.multicard import MultiCardSimulator

    cv2.setNumThreads(1)
    textures = load_textures(Path(catalog), Path(ebay), max_catalogue)
    _SIMS = make_simulators(textures)
    _MULTI = MultiCardSimulator(textures) if multi_share > 0 else None
    _MULTI_SHARE = multi_share


def _render(seed: int) -> tuple[np.ndarray, np.ndarray]:
    from models.finder.data import render_sample

    x, y = render_sample(_SIMS, np.random.default_rng(seed), _MULTI, _MULTI_SHARE)
    return x.astype(np.float16), y


def generate(
    catalog: Path, ebay: Path, samples: int, seed: int, workers: int, max_catalogue: int, multi_share: float = 0.0
) -> list[tuple[np.ndarray, np.ndarray]]:
    seeds = [seed * 1_000_003 + i for i in range(samples)]
    init = (str(catalog), str(ebay), max_catalogue, multi_share)
    with mp.get_context("fork").Pool(workers, _init_worker, init) as pool:
        return pool.map(_render, seeds, chunksize=16)


def parent_lineage(resume: str | None) -> list[dict[str, Any]]:
    """The checkpoints this run grew from, newest first: each one's sha256 and recipe, read from the
    sidecar beside it, so a resumed model names its parents even after their files are overwritten."""
    if not resume:
        return []
    checkpoint = Path(resume)
    digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    entry: dict[str, Any] = {"checkpoint": str(checkpoint), "sha256": digest}
    sidecar = checkpoint.with_suffix(".json")
    if not sidecar.is_file():
        return [entry]
    try:
        meta = json.loads(sidecar.read_text())
    except (OSError, ValueError) as error:
        logger.warning("Sidecar %s of the resumed checkpoint is unreadable (%s): lineage stops there", sidecar, error)
        return [entry]
    entry["onnx_sha256"] = meta.get("sha256")
    entry["recipe"] = meta.get("recipe")
    return [entry, *meta.get("lineage", [])]


def train(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from models.finder.net import CardSegNet

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    t0 = time.time()
    data = generate(
        Path(args.catalog), Path(args.ebay), args.samples, args.seed, args.workers, args.max_catalogue, args.multi_share
    )
    logger.info("Rendered %d scenes in %.0f s", len(data), time.time() - t0)
    buckets: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for i, (x, _) in enumerate(data):
        buckets[x.shape].append(i)
    model = CardSegNet(args.width)
    lineage = parent_lineage(args.resume)
    if args.resume:
        model.load_state_dict(torch.load(args.resume, map_location="cpu"))
        logger.info("Resumed from %s", args.resume)
    device = torch.device(args.device)
    model.to(device)
    optimiser = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    rng = np.random.default_rng(args.seed)
    deadline = time.time() + args.minutes * 60
    total_steps = args.max_steps
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=args.lr, total_steps=total_steps, pct_start=0.1)
    pos_weight = torch.tensor([1.0, 4.0], device=device).view(1, 2, 1, 1)
    step = 0
    losses: list[float] = []
    model.train()
    while step < total_steps and time.time() < deadline:
        shape = list(buckets)[int(rng.choice(len(buckets), p=[len(v) / len(data) for v in buckets.values()]))]
        idx = rng.choice(buckets[shape], size=min(args.batch, len(buckets[shape])), replace=False)
        x_batch = torch.from_numpy(np.stack([data[i][0] for i in idx]).astype(np.float32))
        y_batch = torch.from_numpy(np.stack([data[i][1] for i in idx]).astype(np.float32))
        x_batch, y_batch = x_batch.to(device), y_batch.to(device)
        if rng.random() < 0.5:  # mirror: cards are not mirror images, but outlines are
            x_batch, y_batch = x_batch.flip(3), y_batch.flip(3)
        logits = model(x_batch)
        bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, y_batch, pos_weight=pos_weight)
        prob = torch.sigmoid(logits[:, 0])
        dice = 1 - (2 * (prob * y_batch[:, 0]).sum() + 1) / (prob.sum() + y_batch[:, 0].sum() + 1)
        loss = bce + 0.5 * dice
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        scheduler.step()
        losses.append(float(loss.detach()))
        step += 1
        if step % 100 == 0:
            logger.info("step %d loss %.4f (%.0f s)", step, float(np.mean(losses[-100:])), time.time() - t0)
    model.eval()
    model.to("cpu")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), out.with_suffix(".pt"))
    dummy = torch.zeros(1, 3, 144, 256)
    torch.onnx.export(
        model,
        (dummy,),
        str(out),
        input_names=["image"],
        output_names=["logits"],
        dynamic_axes={"image": {2: "height", 3: "width"}, "logits": {2: "h2", 3: "w2"}},
        opset_version=17,
        dynamo=False,
    )
    sha = hashlib.sha256(out.read_bytes()).hexdigest()
    from app.vision.segment import INPUT_LONG_SIDE, MEAN, STD

    sidecar = {
        "model": "CardSegNet",
        "sha256": sha,
        "input": "image",
        "layout": "NCHW",
        "colour_order": "BGR",
        "input_long_side": INPUT_LONG_SIDE,
        "pad_to_multiple": 16,
        "map_pixel_centre_offset": 0.5,
        "mean": MEAN,
        "std": STD,
        "outputs": {"logits": ["card surface", "card outline band"], "resolution": "half of input"},
        "recipe": {
            "samples": args.samples,
            "steps": step,
            "batch": args.batch,
            "lr": args.lr,
            "width": args.width,
            "seed": args.seed,
            "multi_share": args.multi_share,
            "device": args.device,
            "resumed_from": args.resume,
            "final_loss": float(np.mean(losses[-100:])) if losses else None,
            "train_seconds": round(time.time() - t0),
        },
        "lineage": lineage,
        "data": {
            "catalogue": f"{args.catalog} (up to {args.max_catalogue} scans, seeded choice)",
            "ebay": f"{args.ebay} card crops, source photos with even crc32 only (odd ones held out)",
            "scenes": "capture simulator (models/sim/capture_sim.py): single, close-up, binder, multi, empty; "
            "sleeves 30 %, top-loaders 20 % of cards (models/finder/data.py); "
            f"{args.multi_share:.0%} multi-card scenes (models/sim/multicard.py: binder pages 2x2/3x3/4x3, "
            "top-loader rows, touching cards, cards cut by the frame)",
        },
    }
    out.with_suffix(".json").write_text(json.dumps(sidecar, indent=2) + "\n")
    logger.info("Wrote %s (%s)", out, sha[:12])
    return sidecar


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--catalog", default="../shared/data/pokemon-tcg")
    parser.add_argument("--ebay", default="../shared/data/ebay-photos")
    parser.add_argument("--samples", type=int, default=6000)
    parser.add_argument("--max-catalogue", type=int, default=240)
    parser.add_argument("--minutes", type=float, default=12.0)
    parser.add_argument("--max-steps", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=4e-3)
    parser.add_argument("--width", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", default="models/finder/cardseg.onnx")
    parser.add_argument("--resume", help="start from this state-dict checkpoint (.pt)")
    parser.add_argument(
        "--multi-share", type=float, default=0.0, help="share of multi-card scenes (models/sim/multicard.py), 0..1"
    )
    parser.add_argument("--device", default="cpu", help="torch device to train on (cpu, cuda)")
    args = parser.parse_args(argv)
    if args.resume and not Path(args.resume).is_file():
        parser.error(f"--resume: no checkpoint at {args.resume}")
    if not 0.0 <= args.multi_share <= 1.0:
        parser.error(f"--multi-share must be between 0 and 1, got {args.multi_share}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    train(args)


if __name__ == "__main__":
    main()
