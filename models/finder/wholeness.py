"""Fit the whole-card / piece-of-a-card classifier the finder uses to rejoin a card cut in two.

    python -m models.finder.wholeness --catalog ../shared/data/pokemon-tcg --ebay ../shared/data/ebay-photos

Crops are cut from simulated captures (the capture simulator: backgrounds, sleeves, fingers, glare,
blur, noise), straightened as the finder straightens them (``straightened_for_wholeness``):

* +1 — the whole card, corners jittered by ~1 % of its diagonal (refined corners are about that good);
* −1 — each half of the card cut across at 35–65 % of its height: the network's mistake this
  classifier is for (a printed line, usually the art window's lower border, taken for an outline);
* −1 — two neighbouring cards of a binder page outlined as one.

Ridge regression on :func:`app.vision.wholeness.wholeness_feature`. Held-out figures first (a fit
without a fifth of the catalogue scans and without the held-out eBay photos' crops, which never train
anything), then the shipped fit on every scan and the training eBay crops. Prints JSON; writes the
weights (``.npz``) and a sidecar with the recipe and the held-out figures (``.json``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt

from app.vision.geometry import FloatArray, join_across_facing_sides, order_clockwise
from app.vision.wholeness import DEFAULT_WEIGHTS, straightened_for_wholeness, wholeness_feature
from models.finder.data import split_textures
from models.sim.capture_sim import CaptureSimulator, SimOptions

logger = logging.getLogger(__name__)


def halves(card: FloatArray, cut: float) -> tuple[FloatArray, FloatArray]:
    """An upright card's corners (TL, TR, BR, BL) cut across its long sides at ``cut`` of its height."""
    tl, tr, br, bl = np.asarray(card, np.float64)
    left, right = tl + cut * (bl - tl), tr + cut * (br - tr)
    return np.array([tl, tr, right, left]), np.array([left, right, br, bl])


def labelled_crops(
    textures: list[npt.NDArray[np.uint8]], scenes: int, seed: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Features and labels (+1 whole, −1 not) of ``scenes`` single-card captures and a binder page
    every third scene."""
    sim = CaptureSimulator(textures, SimOptions(size=(960, 540)))
    rng = np.random.default_rng(seed)
    rows: list[npt.NDArray[np.float32]] = []
    labels: list[float] = []

    def add(image: npt.NDArray[np.uint8], quad: FloatArray, label: float, jitter: bool = True) -> None:
        if jitter:
            quad = quad + rng.normal(0.0, 0.01 * float(np.linalg.norm(quad[2] - quad[0])), quad.shape)
        rows.append(wholeness_feature(straightened_for_wholeness(image, quad)))
        labels.append(label)

    for scene in range(scenes):
        capture = sim.render(rng)
        card = capture.quads[0]
        add(capture.image, card, 1.0)
        for half in halves(card, float(rng.uniform(0.35, 0.65))):
            add(capture.image, half, -1.0)
        if scene % 3 == 0:
            page = sim.render_binder_page(rng, int(rng.integers(2, 7)))
            for i, quad in enumerate(page.quads):
                centre = quad.mean(axis=0)
                nearest = min(
                    (j for j in range(len(page.quads)) if j != i),
                    key=lambda j: float(np.linalg.norm(page.quads[j].mean(axis=0) - centre)),
                )
                _, pair = join_across_facing_sides(order_clockwise(quad), order_clockwise(page.quads[nearest]))
                add(page.image, pair, -1.0, jitter=False)
                add(page.image, quad, 1.0)
    return np.array(rows, np.float64), np.array(labels, np.float64)


def fit(x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], ridge: float) -> tuple[npt.NDArray[np.float64], float]:
    """Ridge regression of the labels on the features, with a bias that is (all but) not penalised."""
    a = np.hstack([x, np.ones((len(x), 1))])
    penalty = ridge * np.eye(a.shape[1])
    penalty[-1, -1] = 1e-6
    solution = np.asarray(np.linalg.solve(a.T @ a + penalty, a.T @ y), np.float64)
    return solution[:-1], float(solution[-1])


def rates(
    weights: npt.NDArray[np.float64], bias: float, x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]
) -> dict[str, float]:
    score = x @ weights + bias
    return {
        "whole_called_whole": round(float(np.mean(score[y > 0] > 0)), 4),
        "pieces_and_pairs_called_not_whole": round(float(np.mean(score[y < 0] < 0)), 4),
        "crops": len(y),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--catalog", type=Path, default=Path("../shared/data/pokemon-tcg"))
    parser.add_argument("--ebay", type=Path, default=Path("../shared/data/ebay-photos"))
    parser.add_argument("--scenes", type=int, default=2500, help="simulated single-card scenes to fit on")
    parser.add_argument("--heldout-scenes", type=int, default=500)
    parser.add_argument("--ridge", type=float, default=1000.0)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--out", type=Path, default=DEFAULT_WEIGHTS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    started = time.time()
    try:
        textures = split_textures(args.catalog, args.ebay, args.seed)
    except FileNotFoundError as error:
        parser.error(str(error))
    logger.info("Rendering %d + %d scenes", args.scenes, args.heldout_scenes)
    x_fit, y_fit = labelled_crops(textures.fit, args.scenes, args.seed)
    x_held, y_held = labelled_crops(textures.heldout, args.heldout_scenes, args.seed + 1)
    weights, bias = fit(x_fit, y_fit, args.ridge)
    report: dict[str, object] = {"heldout": rates(weights, bias, x_held, y_held)}
    logger.info("Held-out: %s", report["heldout"])
    # The shipped weights: every scan (the held-out eBay photos stay out).
    x_all, y_all = labelled_crops(textures.everything, args.scenes, args.seed + 2)
    weights, bias = fit(x_all, y_all, args.ridge)
    report["fit"] = rates(weights, bias, x_all, y_all)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, weights=weights.astype(np.float32), bias=np.float32(bias))
    report.update(
        {
            "weights": str(args.out),
            "sha256": hashlib.sha256(args.out.read_bytes()).hexdigest(),
            "recipe": {
                "scenes": args.scenes,
                "heldout_scenes": args.heldout_scenes,
                "ridge": args.ridge,
                "seed": args.seed,
            },
            "data": {
                **textures.provenance(args.catalog, args.ebay),
                "crops": "simulated 960x540 captures: whole card +1; its halves cut at 35-65 % of its height -1; "
                "two neighbouring binder cards as one -1",
            },
            "seconds": round(time.time() - started),
        }
    )
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
