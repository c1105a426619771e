from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch

from models.train.recipe import TeacherRecipe
from models.train.teachers import create_teacher


def tiny_dinov2(folder: Path) -> Path:
    """A randomly initialised, tiny DINOv2 saved in the transformers layout: the plumbing, not quality."""
    from transformers import Dinov2Config, Dinov2Model

    config = Dinov2Config(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, image_size=28, patch_size=14
    )
    torch.manual_seed(0)
    Dinov2Model(config).save_pretrained(folder)
    return folder


def test_dinov2_teacher_loads_from_a_local_folder_and_embeds_to_the_recipe_dimension(tmp_path: Path) -> None:
    folder = tiny_dinov2(tmp_path / "dinov2-tiny")
    teacher = create_teacher(TeacherRecipe(kind="dinov2", path=folder, input_side=28, dim=24))
    images = torch.randn(3, 3, 28, 28)
    with torch.no_grad():
        features = teacher.stem()(images)
        emb = teacher.head()(features)
    assert features.shape == (3, 64)  # CLS ⊕ mean patch token
    assert emb.shape == (3, 24)
    assert torch.allclose(emb.norm(dim=1), torch.ones(3), atol=1e-5)
    assert not any(p.requires_grad for p in teacher.stem().parameters())  # the backbone stays frozen
    assert all(p.requires_grad for p in teacher.head().parameters())
    weights = next(folder.glob("*.safetensors"))
    assert teacher.parent()["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert teacher.name == "dinov2-card-teacher"


def test_dinov2_teacher_without_a_local_folder_says_what_it_needs(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="local transformers checkpoint"):
        create_teacher(TeacherRecipe(kind="dinov2", path=tmp_path / "nothing-here"))


def test_lite2_teacher_freezes_its_stem_and_trains_its_head() -> None:
    teacher = create_teacher(TeacherRecipe(input_side=64, dim=16))
    with torch.no_grad():
        emb = teacher.head()(teacher.stem()(torch.randn(2, 3, 64, 64)))
    assert emb.shape == (2, 16)
    assert not any(p.requires_grad for p in teacher.stem().parameters())
    assert teacher.parent()["file"].endswith(".pth") or teacher.parent()["sha256"]


def test_unknown_teacher_kind_is_refused_by_the_recipe() -> None:
    with pytest.raises(ValueError):
        TeacherRecipe(kind="resnet")  # type: ignore[arg-type]
