"""Card-model evaluation: leave-one-set-out accuracy of every model side by side, and student speed.

    python bench/model_eval.py > bench/results/model_eval.json          # ~1 h on 2 cores (3 folds)
    python bench/model_eval.py --folds base1 --recipe tiny               # plumbing check
    python bench/model_eval.py --speed-only bench/results/model_eval.json  # re-time the speed only

For each shared set in turn: train teacher → stage 1 → stage 2 on the *other two* sets (the shipped
recipe, ``models/train``), export the student to ONNX and INT8, then identify simulated 1280×720
captures (capture simulator, finder-straightened; seeds unlike training) of every card against a
reference of all 538 cards (the bundle builder's 4 views per card):

- ``unseen``: cards of the held-out set (never seen in training) — what a user adding a new set gets;
- ``seen``: other views of the training cards;
- ``*_app_rule``: the same queries read as the app reads them — each crop embedded both ways up, the
  turned reading kept when it matches clearly better (``app.match.matcher.better_way_up``);
- ``*_well_straightened``: the same, only crops whose corners the finder placed within 3 % of the card
  diagonal (the simulator knows the truth) — the model's own accuracy, without the finder's misreads.

Models: (a) ImageNet EfficientNet-Lite0 grid features (``models/lite0_imagenet.onnx``), (b) the teacher,
(c) student stage 1, (d) student stage 2, (e) INT8 student (ONNX Runtime), (f) perceptual hash
(``imagehash.phash``, Hamming distance). Teacher and students run in PyTorch on the cached stem features
(the exported ONNX matches PyTorch to < 1e-3: see the export parity check); INT8 and ImageNet through
the app's ONNX Runtime backend. Prints one JSON object. Speed wants an otherwise idle machine: the
``speed.measured`` time says when it was taken (``--speed-only`` re-times it into an earlier report).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import CATALOG, EBAY, REPO, machine, timed


def topk(
    query: np.ndarray, q_labels: np.ndarray, ref: np.ndarray, ref_labels: np.ndarray, n_cards: int
) -> dict[str, float]:
    """Top-1/top-5 over cards: a card's score is its best reference view (as the matcher ranks)."""
    if len(query) == 0:
        return {"n": 0, "top1": float("nan"), "top5": float("nan")}
    sims = query @ ref.T
    card_sims = np.full((len(query), n_cards), -np.inf, np.float32)
    for card in np.unique(ref_labels):
        card_sims[:, card] = sims[:, ref_labels == card].max(axis=1)
    order = np.argsort(-card_sims, axis=1)[:, :5]
    return {
        "n": len(query),
        "top1": round(float(np.mean(order[:, 0] == q_labels)), 4),
        "top5": round(float(np.mean((order == q_labels[:, None]).any(axis=1))), 4),
    }


def phash_vectors(images: np.ndarray) -> np.ndarray:
    """64-bit pHash as ±1 vectors, so that dot product ranks like (64 − 2·Hamming distance)."""
    import imagehash
    from PIL import Image

    bits = [imagehash.phash(Image.fromarray(np.ascontiguousarray(im[..., ::-1]))).hash.flatten() for im in images]
    return (np.asarray(bits, np.float32) * 2 - 1) / 8.0


def onnx_vectors(model: Path, images: np.ndarray, batch: int = 32) -> np.ndarray:
    from app.embed.onnx_backend import OnnxEmbedder

    embedder = OnnxEmbedder(model, threads=2)
    return np.concatenate([embedder.embed(list(images[i : i + batch])) for i in range(0, len(images), batch)])


def speed(model: Path) -> dict[str, float]:
    from app.embed.onnx_backend import OnnxEmbedder

    embedder = OnnxEmbedder(model, threads=2)
    rng = np.random.default_rng(0)
    cards = [rng.integers(0, 255, (614, 440, 3), dtype=np.uint8) for _ in range(8)]
    return {
        "batch1_ms_per_card": timed(lambda: embedder.embed(cards[:1]), 50),
        "batch8_ms_per_card": round(timed(lambda: embedder.embed(cards), 15) / 8, 3),
    }


def teacher_speed(run_dir: Path) -> dict[str, Any]:
    """The shipped run's teacher, exported to ONNX like the student, for the compression table."""
    import tempfile

    import torch

    from models.export import export_embedding_model
    from models.train.nets import EmbeddingNet
    from models.train.recipe import TeacherRecipe
    from models.train.teachers import create_teacher

    state = torch.load(run_dir / "teacher.pt", map_location="cpu", weights_only=False)
    recipe = TeacherRecipe.model_validate(state["recipe"])
    teacher = create_teacher(recipe)
    teacher.head().load_state_dict(state["head"])
    net = EmbeddingNet(teacher.stem(), teacher.head()).eval()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "teacher.onnx"
        export_embedding_model(net, path, "teacher", (recipe.input_side, recipe.input_side), teacher.mean, teacher.std)
        return {
            "parameters": sum(p.numel() for p in net.parameters()),
            "onnx_bytes": path.stat().st_size,
            "input": recipe.input_side,
            **speed(path),
        }


def turned_stem_features(trained: Any, data: Any, recipe: Any, cache_dir: Path, d: Any) -> dict[str, Any]:
    from models.train.run import LITE_MEAN, LITE_STD, stem_features
    from models.train.views import ViewSet

    turned = ViewSet(
        data.eval.card_ids,
        data.eval.labels,
        {k: np.ascontiguousarray(v[:, ::-1, ::-1]) for k, v in data.eval.images.items()},
        data.eval.misses,
    )
    key = data.keys["eval"]
    t, s = recipe.teacher, recipe.student
    return {
        "teacher": stem_features(
            trained.teacher.stem(),
            turned,
            t.input_side,
            trained.teacher.mean,
            trained.teacher.std,
            cache_dir / f"feat-teacher-{t.kind}-{t.input_side}-{t.freeze_through}-eval-turned-{key}.pt",
            d,
        ),
        "student": stem_features(
            trained.student_stem,
            turned,
            s.input_side,
            LITE_MEAN,
            LITE_STD,
            cache_dir / f"feat-student-{s.arch}-{s.input_side}-{s.freeze_through}-eval-turned-{key}.pt",
            d,
        ),
    }


#: The ImageNet Lite0 baseline's input side (its sidecar); the views are rendered at the student's and
#: the teacher's sides, so it gets the larger of those resized (the app also shrinks the 440×614 crop).
IMAGENET_SIDE = 224


def squares_at(images: dict[int, np.ndarray], side: int) -> np.ndarray:
    """The views at ``side`` px: as rendered when that side was, else the nearest larger rendering shrunk."""
    if side in images:
        return images[side]
    source = images[min((s for s in images if s > side), default=max(images))]
    return np.stack([cv2.resize(im, (side, side), interpolation=cv2.INTER_AREA) for im in source])


def app_rule(upright: np.ndarray, turned: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """The app's reading of each crop: embedded both ways up, the turned one kept only when it matches
    clearly better (``app.match.matcher.better_way_up``) — what ``identify`` and the scanner do."""
    from app.match.matcher import FLIP_MARGIN

    use_turned = (turned @ ref.T).max(axis=1) > (upright @ ref.T).max(axis=1) + FLIP_MARGIN
    return np.where(use_turned[:, None], turned, upright)


def evaluate_fold(
    trained: Any, data: Any, held_out: str | None, int8_model: Path, side: int, turned_features: dict[str, Any]
) -> dict[str, Any]:
    from models.train.run import embed_features

    eval_sets = data.set_of(data.eval.labels)
    split_masks = (
        {"unseen": eval_sets == held_out, "seen": eval_sets != held_out}
        if held_out
        else {"seen": eval_sets == eval_sets}
    )
    # End to end (every crop the finder produced) and model-only (crops whose corners are within 3% of
    # the card diagonal of the truth: a card the finder read 90° off is the finder's error, not the model's).
    good = data.eval.well_straightened()
    masks = {**split_masks, **{f"{name}_well_straightened": m & good for name, m in split_masks.items()}}
    n_cards = len(data.cards)
    ql, rl = data.eval.labels, data.reference.labels
    turned_images = {k: np.ascontiguousarray(v[:, ::-1, ::-1]) for k, v in data.eval.images.items()}
    imagenet = REPO / "models" / "lite0_imagenet.onnx"
    heads = {
        "b_teacher": (trained.teacher_head, "teacher"),
        "c_student_stage1": (trained.stage1, "student"),
        "d_student_stage2": (trained.stage2, "student"),
    }
    # model → (queries as straightened, the same crops turned 180°, references)
    vectors: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {
        "a_imagenet_lite0": (
            onnx_vectors(imagenet, squares_at(data.eval.images, IMAGENET_SIDE)),
            onnx_vectors(imagenet, squares_at(turned_images, IMAGENET_SIDE)),
            onnx_vectors(imagenet, squares_at(data.reference.images, IMAGENET_SIDE)),
        ),
        **{
            name: (
                embed_features(head, trained.features[kind]["eval"]),
                embed_features(head, turned_features[kind]),
                embed_features(head, trained.features[kind]["reference"]),
            )
            for name, (head, kind) in heads.items()
        },
        "e_student_int8": (
            onnx_vectors(int8_model, data.eval.images[side]),
            onnx_vectors(int8_model, turned_images[side]),
            onnx_vectors(int8_model, data.reference.images[side]),
        ),
        "f_phash": (
            phash_vectors(data.eval.images[side]),
            phash_vectors(turned_images[side]),
            phash_vectors(data.reference.images[side]),
        ),
    }
    results: dict[str, Any] = {}
    for model, (q, q_turned, r) in vectors.items():
        read = app_rule(q, q_turned, r)
        results[model] = {split: topk(q[mask], ql[mask], r, rl, n_cards) for split, mask in masks.items()}
        results[model].update(
            {f"{split}_app_rule": topk(read[mask], ql[mask], r, rl, n_cards) for split, mask in split_masks.items()}
        )
    return results


def pooled(folds: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Fold results pooled (weighted by the number of captures)."""
    out: dict[str, Any] = {}
    for model in next(iter(folds.values())):
        out[model] = {}
        for split in (
            "unseen",
            "seen",
            "unseen_app_rule",
            "seen_app_rule",
            "unseen_well_straightened",
            "seen_well_straightened",
        ):
            parts = [f[model][split] for f in folds.values() if split in f[model] and f[model][split]["n"]]
            n = sum(p["n"] for p in parts)
            if n:
                out[model][split] = {
                    "n": n,
                    "top1": round(sum(p["top1"] * p["n"] for p in parts) / n, 4),
                    "top5": round(sum(p["top5"] * p["n"] for p in parts) / n, 4),
                }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="default")
    parser.add_argument("--folds", default="all", help="held-out set ids, comma-separated, or 'all'")
    parser.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "cardsight" / "train")
    parser.add_argument("--runs-dir", type=Path, default=Path("/tmp/cardsight-model-eval"))
    parser.add_argument(
        "--shipped", type=Path, default=REPO / "models" / "card" / "card_student.onnx", help="model timed for speed"
    )
    parser.add_argument(
        "--speed-only", type=Path, metavar="REPORT", help="re-time the speed section of REPORT (JSON) and print it"
    )
    args = parser.parse_args()
    if args.speed_only:
        json_out, sys.stdout = sys.stdout, sys.stderr
        try:
            earlier = json.loads(args.speed_only.read_text())
        except (OSError, ValueError) as error:
            raise SystemExit(f"bench/model_eval.py: cannot read report {args.speed_only}: {error}") from None
        if not isinstance(earlier, dict):
            raise SystemExit(f"bench/model_eval.py: {args.speed_only} is not a model_eval report")
        earlier["speed"] = shipped_speed(args.shipped)
        print(json.dumps(earlier, indent=2), file=json_out)
        return
    # The efficientnet-lite package prints "Loaded pretrained weights" on stdout: keep stdout for the JSON.
    json_out, sys.stdout = sys.stdout, sys.stderr

    import logging

    import torch

    from models.train.__main__ import load_recipe
    from models.train.export import export_student
    from models.train.loop import Dist
    from models.train.run import load_data, train_all

    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    torch.set_num_threads(2)
    recipe = load_recipe(args.recipe)
    d = Dist()
    started = time.monotonic()
    data = load_data(recipe, CATALOG, EBAY if (EBAY / "labels.csv").is_file() else None, args.cache_dir, d)
    all_sets = sorted({s for _, s, _ in data.cards})
    folds = all_sets if args.folds == "all" else args.folds.split(",")
    results: dict[str, dict[str, Any]] = {}
    training: dict[str, Any] = {}
    turned: dict[str, Any] = {}
    for held_out in folds:
        fold_dir = args.runs_dir / f"{recipe.name}-without-{held_out}"
        fold_start = time.monotonic()
        trained = train_all(recipe, data, fold_dir, args.cache_dir, d, [s for s in all_sets if s != held_out])
        export_student(trained, recipe, CATALOG, fold_dir, hailo_count=8)
        if not turned:  # the frozen stems' features of the crops turned 180° (the same in every fold)
            turned = turned_stem_features(trained, data, recipe, args.cache_dir, d)
        results[held_out] = evaluate_fold(
            trained, data, held_out, fold_dir / "card_student.int8.onnx", recipe.student.input_side, turned
        )
        training[held_out] = {
            "train_sets": [s for s in all_sets if s != held_out],
            "fold_seconds": round(time.monotonic() - fold_start, 1),
            "stage_seconds": {k: v["training"]["seconds"] for k, v in trained.lineage.items()},
        }
        print(f"fold without {held_out}: {json.dumps(results[held_out])}", file=sys.stderr)
    summary = pooled(results)
    stage2 = summary["d_student_stage2"]
    report: dict[str, Any] = {
        "benchmark": "model_eval",
        "machine": machine(),
        "data": {
            "catalogue": str(CATALOG.relative_to(REPO.parent)) if CATALOG.is_relative_to(REPO.parent) else str(CATALOG),
            "cards": len(data.cards),
            "sets": all_sets,
            "queries": f"{recipe.data.eval_views_per_card} simulated 1280x720 captures per card, finder-straightened",
            "reference": f"all {len(data.cards)} cards x {recipe.data.reference_views_per_card} bundle views",
            "finder_misses_rerendered": data.eval.misses,
        },
        "recipe": recipe.name,
        "folds": results,
        "training": training,
        "pooled": summary,
        "checks": {
            "stage2_unseen_top1": stage2.get("unseen", {}).get("top1"),
            "stage2_seen_top1": stage2.get("seen", {}).get("top1"),
            "stage2_unseen_top1_app_rule": stage2.get("unseen_app_rule", {}).get("top1"),
            "stage2_seen_top1_app_rule": stage2.get("seen_app_rule", {}).get("top1"),
            "stage2_unseen_top1_well_straightened": stage2.get("unseen_well_straightened", {}).get("top1"),
            "stage2_seen_top1_well_straightened": stage2.get("seen_well_straightened", {}).get("top1"),
            "crops_well_straightened": round(float(data.eval.well_straightened().mean()), 4),
            "int8_minus_fp32_unseen_top1_points": _points(summary, "e_student_int8", "d_student_stage2", "unseen"),
            "student_over_teacher_unseen_top1": _ratio(summary, "d_student_stage2", "b_teacher", "unseen"),
        },
        "targets": {
            "stage2_unseen_top1": 0.98,
            "stage2_seen_top1": 0.995,
            "int8_within_points": 0.5,
            "student_over_teacher": 0.95,
        },
        "seconds": round(time.monotonic() - started, 1),
    }
    if args.shipped.is_file():
        report["speed"] = shipped_speed(args.shipped)
    print(json.dumps(report, indent=2), file=json_out)


def shipped_speed(shipped: Path) -> dict[str, Any]:
    """ms per card of the shipped student (FP32, INT8) and its teacher, through the app's backend."""
    out: dict[str, Any] = {
        "model": shipped.name,
        "measured": time.strftime("%Y-%m-%d %H:%M:%S"),
        "fp32": {"onnx_bytes": shipped.stat().st_size, **speed(shipped)},
    }
    int8 = shipped.with_suffix(".int8.onnx")
    if int8.is_file():
        out["int8"] = {"onnx_bytes": int8.stat().st_size, **speed(int8)}
    if (shipped.parent / "teacher.pt").is_file():
        out["teacher"] = teacher_speed(shipped.parent)
    return out


def _points(summary: dict[str, Any], a: str, b: str, split: str) -> float | None:
    if split not in summary[a] or split not in summary[b]:
        return None
    return round((summary[a][split]["top1"] - summary[b][split]["top1"]) * 100, 2)


def _ratio(summary: dict[str, Any], a: str, b: str, split: str) -> float | None:
    if split not in summary[a] or split not in summary[b] or not summary[b][split]["top1"]:
        return None
    return round(summary[a][split]["top1"] / summary[b][split]["top1"], 4)


if __name__ == "__main__":
    main()
