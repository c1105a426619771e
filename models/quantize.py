"""INT8 static quantisation of an embedding model (ONNX Runtime, QDQ, per-channel weights).

Calibration images are what the app embeds at run time: simulated captures of catalogue cards
(``models/sim/capture_sim.py``) straightened by the real card finder. The report gives the cosine
similarity between FP32 and INT8 embeddings on held-out crops, and the INT8 model gets a sidecar that
names its FP32 parent's sha256, the recipe and the calibration data.

    python -m models.quantize --model models/lite0_imagenet.onnx --out models/lite0_imagenet.int8.onnx
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from app.camera.base import BGRImage
from app.embed.onnx_backend import OnnxEmbedder
from app.embed.preprocess import prepare_batch
from app.embed.sidecar import ModelSidecar, load_model_sidecar, sha256_file, sidecar_path_for
from app.vision.finder import CardFinder
from models.sim.capture_sim import CaptureSimulator, SimOptions, catalogue_image_paths, load_card_texture

logger = logging.getLogger(__name__)


def simulated_crops(catalog: Path, count: int, seed: int) -> list[BGRImage]:
    """Straightened cards as the finder delivers them from simulated camera frames."""
    paths = catalogue_image_paths(catalog)
    rng = np.random.default_rng(seed)
    # More crops than cards (small catalogues): cards repeat, each in its own simulated frame.
    chosen = [paths[i] for i in rng.choice(len(paths), size=count, replace=count > len(paths))]
    sim = CaptureSimulator([load_card_texture(p) for p in chosen], SimOptions(size=(1280, 720)))
    finder = CardFinder()
    crops: list[BGRImage] = []
    for index in range(len(chosen)):
        finder.reset()
        found = finder.find_cards(sim.render(rng, card_index=index).image)
        if found:
            crops.append(found[0].warped.image)
    return crops


class _Calibration:
    """onnxruntime.quantization.CalibrationDataReader over preprocessed crops."""

    def __init__(self, batches: list[npt.NDArray[np.float32]], input_name: str) -> None:
        self._iter: Iterator[npt.NDArray[np.float32]] = iter(batches)
        self.input_name = input_name

    def get_next(self) -> dict[str, npt.NDArray[np.float32]] | None:
        batch = next(self._iter, None)
        return None if batch is None else {self.input_name: batch}

    def rewind(self) -> None:  # part of the reader protocol in newer ORT versions
        pass


def quantize(model: Path, out: Path, catalog: Path, calibration: int, heldout: int, seed: int) -> dict[str, Any]:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    sidecar = load_model_sidecar(model)
    crops = simulated_crops(catalog, calibration + heldout, seed)
    calib, test = crops[:calibration], crops[calibration:]
    if not calib or not test:
        raise ValueError(
            f"the finder straightened only {len(crops)} simulated captures; need calibration and held-out crops"
        )
    batches = [prepare_batch([c], sidecar) for c in calib]
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(model), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared),
            str(out),
            _Calibration(batches, sidecar.input_name),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
        )
    recipe: dict[str, object] = {
        "quantisation": "onnxruntime.quantization.quantize_static, QDQ, "
        "per-channel QInt8 weights, QUInt8 activations, MinMax",
        "calibration": f"{len(calib)} simulated 1280x720 captures of catalogue cards ({catalog.name}), "
        f"straightened by the card finder, seed {seed}",
    }
    int8_sidecar = ModelSidecar(
        **{
            **sidecar.model_dump(),
            "name": f"{sidecar.name}-int8",
            "sha256": sha256_file(out),
            "model_file": out.name,
            "parent_sha256": sidecar.sha256,
            "recipe": {**sidecar.recipe, "int8": recipe},
        }
    )
    int8_sidecar.write(sidecar_path_for(out))
    fp32 = OnnxEmbedder(model, threads=2)
    int8 = OnnxEmbedder(out, threads=2)
    a, b = fp32.embed(test), int8.embed(test)
    cosine = np.sum(a * b, axis=1)
    report = {
        "fp32": {"file": model.name, "sha256": sidecar.sha256[:16]},
        "int8": {"file": out.name, "sha256": int8_sidecar.sha256[:16], "bytes": out.stat().st_size},
        "calibration_crops": len(calib),
        "heldout_crops": len(test),
        "cosine_fp32_int8": {
            "mean": round(float(cosine.mean()), 4),
            "min": round(float(cosine.min()), 4),
            "p05": round(float(np.percentile(cosine, 5)), 4),
        },
    }
    int8_sidecar.recipe["int8"] = {**recipe, "cosine_fp32_int8_mean": report["cosine_fp32_int8"]["mean"]}  # type: ignore[index]
    int8_sidecar.write(sidecar_path_for(out))
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=Path("models/lite0_imagenet.onnx"))
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--catalog", type=Path, default=Path("../shared/data/pokemon-tcg"))
    parser.add_argument("--calibration", type=int, default=200)
    parser.add_argument("--heldout", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    out = args.out or args.model.with_name(args.model.stem + ".int8.onnx")
    print(json.dumps(quantize(args.model, out, args.catalog, args.calibration, args.heldout, args.seed), indent=2))


if __name__ == "__main__":
    main()
