"""Fit the card-edge scorer the finder uses to move a side that sits on the wrong edge.

    python -m models.finder.sides --catalog ../shared/data/pokemon-tcg --ebay ../shared/data/ebay-photos

The finder (without this step) is run on simulated captures — single cards, and a binder page every
fourth scene — and each found card is matched to its true outline. For each side, the straight edges
near it are found as the finder finds them (:func:`app.vision.sides.edge_candidates`) and labelled by
how far they lie from the true side: within 1.2 % of the card's depth at both ends +1, beyond 2.5 %
−1 (in between: left out). So that the scorer also sees the sides the finder gets wrong more rarely,
each single card's true outline is added twice more, once with one side moved 3–12 % of the card's
depth in or out and once with one end of a side moved 5–30 % (:func:`displaced_ends`). A
one-hidden-layer network (numpy, logistic loss, Adam) is fitted on scenes of four fifths of the
catalogue scans and the training eBay crops; the figures are measured on scenes of the other fifth
and the held-out eBay crops (which never train anything), with the finder's own decision rule:
located cards (mean corner error ≤ 5 % of the diagonal) and mean corner error, before and after the
sides are corrected. The shipped weights are that fit. Prints JSON;
writes ``sides.npz`` and a sidecar ``sides.json`` with the recipe and the figures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from app import PROJECT_ROOT
from app.camera.base import BGRImage
from app.vision.detect import CardDetector, DetectorSettings
from app.vision.geometry import (
    FloatArray,
    intersect_lines,
    line_through,
    mean_corner_error,
    order_clockwise,
    quad_diagonal,
    quad_iou,
)
from app.vision.sides import (
    DEFAULT_WEIGHTS,
    EdgeScorer,
    corrected_sides,
    edge_candidates,
    edge_features,
    on_frame_border,
    search_signature,
    side_geometry,
)
from models.finder.data import split_textures
from models.sim.capture_sim import CaptureSimulator, SimOptions

logger = logging.getLogger(__name__)

NEAR, FAR = 0.012, 0.025


def offsets_to(quad: FloatArray, i: int, line: FloatArray) -> tuple[float, float] | None:
    """Where ``line`` crosses the outward normals at side ``i``'s two ends (pixels; None: parallel)."""
    side = side_geometry(quad, i)
    crossings = []
    for point in (side.start, side.end):
        towards = float(line[0] * side.normal[0] + line[1] * side.normal[1])
        if abs(towards) < 1e-9:
            return None
        crossings.append(-float(line @ np.array([point[0], point[1], 1.0])) / towards)
    return crossings[0], crossings[1]


def matched_truth(found: FloatArray, truths: list[FloatArray]) -> FloatArray | None:
    """The true outline ``found`` outlines (IoU > 0.5), its corners in ``found``'s order."""
    best = max(truths, key=lambda t: quad_iou(found, t), default=None)
    if best is None or quad_iou(found, best) <= 0.5:
        return None
    turns = [np.roll(order_clockwise(best), k, axis=0) for k in range(4)]
    return min(turns, key=lambda t: float(np.abs(t - found).sum()))


def labelled_sides(
    frame: BGRImage, found: FloatArray, truth: FloatArray
) -> tuple[list[npt.NDArray[np.float32]], list[float]]:
    rows: list[npt.NDArray[np.float32]] = []
    labels: list[float] = []
    height, width = frame.shape[:2]
    for i in range(4):
        side = side_geometry(found, i)
        if side.length < 8 or side.depth < 8 or on_frame_border(side, width, height):
            continue
        true = offsets_to(found, i, line_through(truth[i], truth[(i + 1) % 4]))
        candidates = edge_candidates(frame, side)
        if true is None or not candidates:
            continue
        features = edge_features(frame, side, candidates)
        for candidate, row in zip(candidates, features, strict=True):
            off = max(abs(candidate.start_offset - true[0]), abs(candidate.end_offset - true[1])) / side.depth
            if off <= NEAR or off >= FAR:
                rows.append(row)
                labels.append(1.0 if off <= NEAR else -1.0)
    return rows, labels


def displaced(quad: FloatArray, i: int, start_shift: float, end_shift: float) -> FloatArray:
    """``quad`` with side ``i``'s ends moved along its outward normal by these shares of the card's
    depth (a side the finder put on another edge, or between edges)."""
    side = side_geometry(quad, i)
    lines = [line_through(quad[k], quad[(k + 1) % 4]) for k in range(4)]
    lines[i] = line_through(
        side.start + start_shift * side.depth * side.normal, side.end + end_shift * side.depth * side.normal
    )
    corners = [intersect_lines(lines[(k - 1) % 4], lines[k]) for k in range(4)]
    return quad if any(c is None for c in corners) else np.array(corners, np.float64)


def displaced_ends(moves: np.random.Generator) -> list[tuple[float, float]]:
    """How far to move a true side's two ends (shares of the card's depth, outward +) for the two ways
    the finder puts a side off the card's edge: the whole side on a parallel edge 3–12 % in or out (an
    art window, a sleeve), and one end 5–30 % off with the other in place (a corner bitten by a finger
    or drawn out to an object beside the card)."""
    shift = float(moves.choice([-1.0, 1.0]) * moves.uniform(0.03, 0.12))
    parallel = (shift + moves.normal(0, 0.01), shift + moves.normal(0, 0.01))
    far, near = float(moves.choice([-1.0, 1.0]) * moves.uniform(0.05, 0.3)), float(moves.normal(0, 0.01))
    turned = (far, near) if moves.random() < 0.5 else (near, far)
    return [parallel, turned]


def scenes(
    detector: CardDetector, textures: list[BGRImage], count: int, seed: int, displace: bool = False
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float64], list[tuple[BGRImage, FloatArray, FloatArray]]]:
    """Features and labels of the sides of the cards the finder finds in ``count`` scenes, and the
    (frame, found, truth) triples for measuring the decision. ``displace``: also the sides of each
    single card's true outline with one side moved off it (:func:`displaced_ends`)."""
    sim = CaptureSimulator(textures, SimOptions(size=(960, 540)))
    rng = np.random.default_rng(seed)
    moves = np.random.default_rng(seed + 1000)  # its own stream: the scenes stay the same either way
    rows: list[npt.NDArray[np.float32]] = []
    labels: list[float] = []
    cards: list[tuple[BGRImage, FloatArray, FloatArray]] = []
    for scene in range(count):
        capture = sim.render_binder_page(rng, int(rng.integers(2, 7))) if scene % 4 == 3 else sim.render(rng)
        truths = [np.asarray(q, np.float64) for q in capture.quads]
        for quad in detector.find_quads(capture.image):
            truth = matched_truth(quad.corners, truths)
            if truth is None:
                continue
            r, y = labelled_sides(capture.image, quad.corners, truth)
            rows += r
            labels += y
            if scene % 4 != 3:
                cards.append((capture.image, quad.corners, truth))
        if displace and scene % 4 != 3:
            truth = order_clockwise(truths[0])
            for ends in displaced_ends(moves):
                r, y = labelled_sides(capture.image, displaced(truth, int(moves.integers(4)), *ends), truth)
                rows += r
                labels += y
        if scene % 500 == 0:
            logger.info("scene %d/%d: %d sides' edges", scene, count, len(labels))
    return np.array(rows, np.float32), np.array(labels, np.float64), cards


def fit(x: npt.NDArray[np.float32], y: npt.NDArray[np.float64], hidden: int, epochs: int, seed: int) -> EdgeScorer:
    """Logistic loss, Adam, minibatches of 2,048; standardised features."""
    rng = np.random.default_rng(seed)
    mean = x.mean(axis=0)
    scale = x.std(axis=0) + 1e-6
    z = ((x - mean) / scale).astype(np.float64)
    target = (y > 0).astype(np.float64)
    params = [
        rng.normal(0.0, 1.0 / np.sqrt(z.shape[1]), (z.shape[1], hidden)),
        np.zeros(hidden),
        rng.normal(0.0, 1.0 / np.sqrt(hidden), hidden),
        np.zeros(1),
    ]
    first = [np.zeros_like(p) for p in params]
    second = [np.zeros_like(p) for p in params]
    rate, decay, step = 3e-3, 1e-4, 0
    for _ in range(epochs):
        order = rng.permutation(len(z))
        for start in range(0, len(z), 2048):
            batch = order[start : start + 2048]
            h = np.tanh(z[batch] @ params[0] + params[1])
            p = 1.0 / (1.0 + np.exp(-(h @ params[2] + params[3][0])))
            g = (p - target[batch]) / len(batch)
            gh = np.outer(g, params[2]) * (1.0 - h**2)
            grads = [
                z[batch].T @ gh + decay * params[0],
                gh.sum(axis=0),
                h.T @ g + decay * params[2],
                np.array([g.sum()]),
            ]
            step += 1
            for k, (param, grad) in enumerate(zip(params, grads, strict=True)):
                first[k] = 0.9 * first[k] + 0.1 * grad
                second[k] = 0.999 * second[k] + 0.001 * grad**2
                param -= rate * (first[k] / (1 - 0.9**step)) / (np.sqrt(second[k] / (1 - 0.999**step)) + 1e-8)
    return EdgeScorer(
        mean.astype(np.float32),
        scale.astype(np.float32),
        params[0].astype(np.float32),
        params[1].astype(np.float32),
        params[2].astype(np.float32),
        float(params[3][0]),
    )


def edge_rates(scorer: EdgeScorer, x: npt.NDArray[np.float32], y: npt.NDArray[np.float64]) -> dict[str, float]:
    score = scorer.score(x)
    return {
        "card_edges_called_card_edge": round(float(np.mean(score[y > 0] > 0)), 4),
        "other_edges_called_other": round(float(np.mean(score[y < 0] < 0)), 4),
        "edges": len(y),
    }


def decision_figures(
    cards: list[tuple[BGRImage, FloatArray, FloatArray]], weights: Path, detector: CardDetector
) -> dict[str, float]:
    """Located share and mean corner error of single cards, as the finder found them and corrected
    with its settings."""
    s = detector.settings
    before, after = [], []
    for frame, found, truth in cards:
        corrected, _ = corrected_sides(
            frame,
            found,
            weights,
            min_score=s.edge_min_score,
            passes=s.edge_passes,
            acceptable=detector.plausible_shape,
            min_view=s.edge_min_view,
        )
        before.append(mean_corner_error(found, truth) / quad_diagonal(truth))
        after.append(mean_corner_error(corrected, truth) / quad_diagonal(truth))
    b, a = np.array(before), np.array(after)
    return {
        "cards": len(cards),
        "located_before": round(float(np.mean(b <= 0.05)), 4),
        "located_after": round(float(np.mean(a <= 0.05)), 4),
        "mean_error_before": round(float(b[b <= 0.05].mean()), 4),
        "mean_error_after": round(float(a[a <= 0.05].mean()), 4),
    }


def shown_path(path: Path) -> str:
    """``path`` relative to the project when it lies in it (the sidecar is committed)."""
    resolved = path.resolve()
    return str(resolved.relative_to(PROJECT_ROOT)) if resolved.is_relative_to(PROJECT_ROOT) else str(path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--catalog", type=Path, default=Path("../shared/data/pokemon-tcg"))
    parser.add_argument("--ebay", type=Path, default=Path("../shared/data/ebay-photos"))
    parser.add_argument("--scenes", type=int, default=4000, help="simulated scenes to fit on")
    parser.add_argument("--heldout-scenes", type=int, default=800)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=80)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument(
        "--displaced",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also fit on true outlines with one side moved off the card edge (the shipped fit does)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_WEIGHTS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    started = time.time()
    try:
        textures = split_textures(args.catalog, args.ebay, args.seed)
    except FileNotFoundError as error:
        parser.error(str(error))
    # The finder as it runs, less this step: the scorer learns the edges it is shown there.
    detector = CardDetector(replace(DetectorSettings(), edge_check=False))
    logger.info("Rendering %d + %d scenes and finding their cards", args.scenes, args.heldout_scenes)
    x_fit, y_fit, _ = scenes(detector, textures.fit, args.scenes, args.seed, args.displaced)
    x_held, y_held, held_cards = scenes(detector, textures.heldout, args.heldout_scenes, args.seed + 1)
    scorer = fit(x_fit, y_fit, args.hidden, args.epochs, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    recipe = {
        "scenes": args.scenes,
        "heldout_scenes": args.heldout_scenes,
        "hidden": args.hidden,
        "epochs": args.epochs,
        "seed": args.seed,
        "displaced": "each single card's true outline, one side moved parallel 3-12 % and one side's end 5-30 %"
        if args.displaced
        else False,
        "search": dict(zip(("reach", "turn", "candidates", "samples"), search_signature().tolist(), strict=True)),
        "labels": f"edge within {NEAR} of the card's depth of the true side at both ends +1, beyond {FAR} -1",
    }
    scorer.save(args.out, {"recipe": recipe})
    report: dict[str, object] = {
        "heldout_edges": edge_rates(scorer, x_held, y_held),
        "fit_edges": edge_rates(scorer, x_fit, y_fit),
        "heldout_single_cards": decision_figures(held_cards, args.out, detector),
        "weights": shown_path(args.out),
        "sha256": hashlib.sha256(args.out.read_bytes()).hexdigest(),
        "recipe": recipe,
        "data": {
            **textures.provenance(args.catalog, args.ebay),
            "scenes": "simulated 960x540 captures (a binder page every fourth), cards found by the finder "
            "without this step",
        },
        "seconds": round(time.time() - started),
    }
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
