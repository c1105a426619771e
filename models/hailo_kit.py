"""Inputs for the Hailo Dataflow Compiler (DFC): calibration set and model script for one ONNX model.

The DFC itself (``hailo`` CLI, Hailo AI Software Suite) does not install here; this writes everything it
reads, and ``packaging/hailo/compile.sh`` runs it on a machine that has it:

    python -m models.hailo_kit --model models/lite0_imagenet.onnx --out build/hailo
    packaging/hailo/compile.sh build/hailo          # on the DFC machine → <model>.hef + <model>.hef.json

- ``calib_set.npy``: uint8 [N, H, W, 3] RGB, the layout ``hailo optimize --calib-set-path`` reads —
  straightened cards from simulated captures (the same crops the app embeds), resized whole;
- ``model.alls``: the model script; normalisation (the sidecar's mean/std) is folded into the network
  so the HEF takes raw uint8 pixels;
- ``kit.json``: the ONNX file, its sha256 (copied into ``<model>.hef.json`` so the runtime can refuse a
  HEF compiled from another model), input/output node names and the target.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from app.embed.preprocess import resize_whole_card, to_model_colour
from app.embed.sidecar import load_model_sidecar
from models.quantize import simulated_crops


def write_kit(model: Path, out: Path, catalog: Path, count: int, seed: int, hw_arch: str = "hailo8l") -> dict[str, Any]:
    sidecar = load_model_sidecar(model)
    if sidecar.layout != "NCHW" or sidecar.normalised_in_graph:
        raise ValueError("the kit expects an NCHW model without in-graph normalisation (the exporter's default)")
    out.mkdir(parents=True, exist_ok=True)
    crops = simulated_crops(catalog, count, seed)
    calib = np.stack(
        [to_model_colour(resize_whole_card(c, sidecar.input_size), sidecar.colour_order) for c in crops]
    ).astype(np.uint8)
    np.save(out / "calib_set.npy", calib)
    mean = ", ".join(f"{v:g}" for v in sidecar.mean)
    std = ", ".join(f"{v:g}" for v in sidecar.std)
    (out / "model.alls").write_text(
        "# Model script for the Hailo DFC, written by models/hailo_kit.py from the model's sidecar.\n"
        "# Fold the input normalisation into the network: the HEF takes raw uint8 RGB pixels.\n"
        f"normalization1 = normalization([{mean}], [{std}])\n"
        "# Embeddings are compared by cosine: keep the last layers at 16 bit for accuracy.\n"
        "model_optimization_config(calibration, batch_size=8, calibset_size="
        f"{len(calib)})\n"
        "model_optimization_flavor(optimization_level=2, compression_level=0)\n"
    )
    shutil.copy2(model, out / model.name)
    kit = {
        "onnx": model.name,
        "onnx_sha256": sidecar.sha256,
        "model_name": sidecar.name,
        "input_node": sidecar.input_name,
        "output_node": sidecar.output_name,
        "input_size": list(sidecar.input_size),
        "dim": sidecar.dim,
        "hw_arch": hw_arch,
        "calibration": {"file": "calib_set.npy", "shape": list(calib.shape), "dtype": "uint8", "seed": seed},
        "normalisation_in_hef": True,
    }
    (out / "kit.json").write_text(json.dumps(kit, indent=2) + "\n")
    return kit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=Path("models/lite0_imagenet.onnx"))
    parser.add_argument("--out", type=Path, default=Path("build/hailo"))
    parser.add_argument("--catalog", type=Path, default=Path("../shared/data/pokemon-tcg"))
    parser.add_argument("--count", type=int, default=1024, help="calibration images (the DFC default uses 64+)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--hw-arch", default="hailo8l")
    args = parser.parse_args()
    print(json.dumps(write_kit(args.model, args.out, args.catalog, args.count, args.seed, args.hw_arch), indent=2))


if __name__ == "__main__":
    main()
