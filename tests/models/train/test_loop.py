from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from models.train.loop import Dist, fit


def toy_problem() -> tuple[nn.Module, object, object]:
    torch.manual_seed(0)
    model = nn.Linear(4, 1)
    x = torch.randn(64, 4, generator=torch.Generator().manual_seed(1))
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])

    def plan(epoch: int) -> list[np.ndarray]:
        order = np.random.default_rng(epoch).permutation(64)
        return [order[i : i + 16] for i in range(0, 64, 16)]

    def step(m: nn.Module, idx: np.ndarray) -> tuple[torch.Tensor, dict[str, float]]:
        return nn.functional.mse_loss(m(x[idx]), y[idx]), {}

    return model, plan, step


def test_an_interrupted_run_resumes_to_the_same_weights_as_an_uninterrupted_one(tmp_path: Path) -> None:
    model, plan, step = toy_problem()
    straight = fit("toy", model, step, plan, 4, 0.05, 0.0, tmp_path / "a.ckpt", "r1", Dist())  # type: ignore[arg-type]
    reference = {k: v.clone() for k, v in model.state_dict().items()}

    model, plan, step = toy_problem()
    first = fit("toy", model, step, plan, 4, 0.05, 0.0, tmp_path / "b.ckpt", "r1", Dist(), stop_after=1)  # type: ignore[arg-type]
    assert first.epochs_run == 1
    model, plan, step = toy_problem()  # a fresh process: nothing but the checkpoint survives
    resumed = fit("toy", model, step, plan, 4, 0.05, 0.0, tmp_path / "b.ckpt", "r1", Dist())  # type: ignore[arg-type]
    assert resumed.resumed_from_epoch == 1 and resumed.epochs_run == 3
    for key, value in model.state_dict().items():
        assert torch.allclose(value, reference[key], atol=1e-6)
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3, 4]
    assert straight.history[-1]["loss"] < straight.history[0]["loss"]


def test_a_checkpoint_of_another_recipe_is_not_resumed(tmp_path: Path) -> None:
    model, plan, step = toy_problem()
    fit("toy", model, step, plan, 2, 0.05, 0.0, tmp_path / "c.ckpt", "recipe-a", Dist())  # type: ignore[arg-type]
    model, plan, step = toy_problem()
    result = fit("toy", model, step, plan, 2, 0.05, 0.0, tmp_path / "c.ckpt", "recipe-b", Dist())  # type: ignore[arg-type]
    assert result.resumed_from_epoch == 0 and result.epochs_run == 2
