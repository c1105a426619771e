"""The training loop every stage shares: AdamW + cosine schedule, checkpoint after every epoch
(an interrupted run resumes where it stopped), and DDP when launched under ``torchrun``.

Under DDP each rank takes every ``world``-th batch of the same seeded epoch plan, so the ranks see
disjoint data and the plan does not depend on the number of processes.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
from torch import nn

logger = logging.getLogger(__name__)

Batch = Any
StepFn = Callable[[nn.Module, Batch], tuple[torch.Tensor, dict[str, float]]]
PlanFn = Callable[[int], Sequence[Batch]]  # epoch → the epoch's batches (all ranks)


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(timeout_s: float = 600.0) -> Dist:
    """Join the process group when started by ``torchrun`` (gloo: CPU); a plain run is rank 0 of 1."""
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    if not dist.is_initialized():
        dist.init_process_group("gloo", timeout=timedelta(seconds=timeout_s))
    return Dist(dist.get_rank(), dist.get_world_size())


def barrier(d: Dist) -> None:
    if d.world > 1:
        import torch.distributed as dist

        dist.barrier()


@dataclass
class FitResult:
    epochs_run: int
    resumed_from_epoch: int
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)


def fit(
    name: str,
    model: nn.Module,
    step: StepFn,
    plan: PlanFn,
    epochs: int,
    lr: float,
    weight_decay: float,
    checkpoint: Path,
    digest: str,
    dist_info: Dist,
    stop_after: int | None = None,
    lr_scale: Callable[[str], float] | None = None,
) -> FitResult:
    """Train ``model`` (its parameters with ``requires_grad``) for ``epochs``; resume from ``checkpoint``
    when it was written by the same recipe (``digest``). ``stop_after`` ends early after that many
    epochs of *this* run (tests; splitting a long run). ``lr_scale(name)`` scales the learning rate
    per parameter (pretrained blocks learn slower than a fresh head)."""
    groups: dict[float, list[nn.Parameter]] = {}
    for param_name, p in model.named_parameters():
        if p.requires_grad:
            groups.setdefault(lr * (lr_scale(param_name) if lr_scale else 1.0), []).append(p)
    optimiser = torch.optim.AdamW(
        [{"params": ps, "lr": group_lr} for group_lr, ps in groups.items()], lr=lr, weight_decay=weight_decay
    )
    steps_per_epoch = max(1, len(plan(0)) // dist_info.world)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=max(1, epochs * steps_per_epoch))
    start_epoch = 0
    history: list[dict[str, float]] = []
    elapsed_before = 0.0
    if checkpoint.is_file():
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)
        if state.get("digest") == digest:
            model.load_state_dict(state["model"])
            optimiser.load_state_dict(state["optimiser"])
            schedule.load_state_dict(state["schedule"])
            start_epoch = int(state["epoch"])
            history = list(state.get("history", []))
            elapsed_before = float(state.get("seconds", 0.0))
            logger.info("%s: resuming after epoch %d from %s", name, start_epoch, checkpoint)
        else:
            logger.warning("%s: %s is from another recipe; starting over", name, checkpoint)
    trained: nn.Module = model
    if dist_info.world > 1:
        trained = nn.parallel.DistributedDataParallel(model)
    start = time.monotonic()
    run = 0
    for epoch in range(start_epoch, epochs):
        if stop_after is not None and run >= stop_after:
            break
        trained.train()
        batches = plan(epoch)
        # Every rank must take the same number of steps (each one all-reduces): cycle through the
        # plan when it has fewer batches than processes.
        mine = (
            [batches[(dist_info.rank + dist_info.world * i) % len(batches)] for i in range(steps_per_epoch)]
            if batches
            else []
        )
        totals: dict[str, float] = {}
        for batch in mine:
            loss, stats = step(trained, batch)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            for key, value in {"loss": float(loss.detach()), **stats}.items():
                totals[key] = totals.get(key, 0.0) + value
        record = {k: round(v / max(len(mine), 1), 5) for k, v in totals.items()}
        record["epoch"] = epoch + 1
        history.append(record)
        run += 1
        logger.info("%s epoch %d/%d: %s", name, epoch + 1, epochs, record)
        if dist_info.main:
            checkpoint.parent.mkdir(parents=True, exist_ok=True)
            tmp = checkpoint.with_suffix(".tmp")
            torch.save(
                {
                    "digest": digest,
                    "epoch": epoch + 1,
                    "model": model.state_dict(),
                    "optimiser": optimiser.state_dict(),
                    "schedule": schedule.state_dict(),
                    "history": history,
                    "seconds": elapsed_before + time.monotonic() - start,
                },
                tmp,
            )
            tmp.replace(checkpoint)
        barrier(dist_info)
    model.eval()
    return FitResult(
        epochs_run=run,
        resumed_from_epoch=start_epoch,
        seconds=round(elapsed_before + time.monotonic() - start, 1),
        history=history,
    )
