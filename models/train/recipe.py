"""The training recipe: one typed object, defaults = the shipped model's recipe; TOML overrides."""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataRecipe(_Strict):
    train_views_per_card: int = 8
    eval_views_per_card: int = 2
    reference_views_per_card: int = 4  # as the reference bundle is built
    frame: tuple[int, int] = (1280, 720)
    #: Real photos of cards *not* in the catalogue (even-crc32 source photos) as extra negatives.
    ebay_negatives: bool = True
    render_workers: int = 2


class TeacherRecipe(_Strict):
    kind: Literal["lite2", "dinov2"] = "lite2"
    #: Local folder of a ``transformers`` DINOv2/DINOv3 checkpoint (``kind = "dinov2"``); never downloaded.
    path: Path | None = None
    input_side: int = 256
    freeze_through: int = 13
    last_block: int = 14
    grid: tuple[int, int] = (4, 3)
    dim: int = 768
    epochs: int = 8
    lr: float = 1e-3
    #: Learning-rate factor for the pretrained blocks (the head and proxies are new; the blocks are not).
    backbone_lr_scale: float = 0.05
    #: Learning-rate factor for the class proxies (initialised at each card's mean embedding).
    proxy_lr_scale: float = 5.0
    weight_decay: float = 1e-4
    #: Normalised-softmax (cosine classifier) scale over the training cards' proxies.
    scale: float = 24.0
    #: Additive cosine margin (CosFace) of the proxy loss.
    margin: float = 0.2
    batch_cards: int = 48
    views_per_card: int = 2


class StudentRecipe(_Strict):
    arch: Literal["efficientnet-lite0"] = "efficientnet-lite0"
    input_side: int = 176
    freeze_through: int = 8
    last_block: int = 10
    grid: tuple[int, int] = (4, 3)
    dim: int = 768


class DistillRecipe(_Strict):
    epochs: int = 6
    lr: float = 1e-3
    backbone_lr_scale: float = 0.1
    weight_decay: float = 1e-4
    alpha_kl: float = 0.7
    alpha_mse: float = 0.3
    temperature: float = 0.1
    batch_cards: int = 48
    views_per_card: int = 2


class HardNegativeRecipe(_Strict):
    epochs: int = 6
    lr: float = 3e-4
    backbone_lr_scale: float = 0.1
    weight_decay: float = 1e-4
    margin: float = 0.2
    positives: int = 2
    negatives: int = 8
    batch_cards: int = 32
    #: eBay fronts (not in the catalogue) added to each batch as negatives only.
    ebay_per_batch: int = 16


class Recipe(_Strict):
    name: str = "default"
    seed: int = 0
    data: DataRecipe = DataRecipe()
    teacher: TeacherRecipe = TeacherRecipe()
    student: StudentRecipe = StudentRecipe()
    distill: DistillRecipe = DistillRecipe()
    hard_negatives: HardNegativeRecipe = HardNegativeRecipe()

    @classmethod
    def tiny(cls) -> Recipe:
        """Seconds, not minutes: for tests of the plumbing (quality is not the point)."""
        return cls(
            name="tiny",
            data=DataRecipe(
                train_views_per_card=2,
                eval_views_per_card=1,
                reference_views_per_card=1,
                frame=(480, 270),
                ebay_negatives=False,
                render_workers=1,
            ),
            teacher=TeacherRecipe(input_side=64, dim=32, epochs=1, batch_cards=4),
            student=StudentRecipe(input_side=64, dim=32),
            distill=DistillRecipe(epochs=2, batch_cards=4),
            hard_negatives=HardNegativeRecipe(epochs=1, batch_cards=4, negatives=2, ebay_per_batch=0),
        )

    @classmethod
    def from_toml(cls, path: Path) -> Recipe:
        return cls.model_validate(tomllib.loads(path.read_text()))

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()[:16]
