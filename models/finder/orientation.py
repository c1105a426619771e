"""Fit the upright/upside-down classifier used by the warp step.

    python -m models.finder.orientation --catalog ../shared/data/pokemon-tcg --ebay ../shared/data/ebay-photos

Ridge regression on the antisymmetric layout descriptor of jittered catalogue scans and the eBay
front crops of the training split (odd-crc32 source photos stay held out); prints held-out accuracy.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from app.vision.orientation import DEFAULT_WEIGHTS, orientation_feature
from models.finder.data import is_heldout_ebay_photo

logger = logging.getLogger(__name__)


def jitter(image: npt.NDArray[np.uint8], rng: np.random.Generator) -> npt.NDArray[np.uint8]:
    """Imperfect corners and lighting, as after a real warp."""
    h, w = image.shape[:2]
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    dst = (src + rng.normal(0, 0.015, (4, 2)) * [w, h]).astype(np.float32)
    warped = cv2.warpPerspective(image, cv2.getPerspectiveTransform(src, dst), (w, h), borderMode=cv2.BORDER_REPLICATE)
    noisy = warped.astype(np.float32) * rng.uniform(0.5, 1.3) + rng.normal(0, 6, warped.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def ebay_fronts(ebay: Path) -> list[tuple[npt.NDArray[np.uint8], bool]]:
    boxes = {}
    with open(ebay / "boxes.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["class"] == "Card":
                boxes[row["filename"]] = row
    out = []
    with open(ebay / "labels.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            box = boxes.get(row["file"])
            if row["side"] != "front" or box is None:
                continue
            image = cv2.imread(str(ebay / "images" / row["file"]))
            if image is None:
                continue
            crop = image[int(box["ymin"]) : int(box["ymax"]), int(box["xmin"]) : int(box["xmax"])]
            out.append((crop, is_heldout_ebay_photo(row["source_photo"])))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--catalog", type=Path, default=Path("../shared/data/pokemon-tcg"))
    parser.add_argument("--ebay", type=Path, default=Path("../shared/data/ebay-photos"))
    parser.add_argument("--ridge", type=float, default=1000.0)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--out", type=Path, default=DEFAULT_WEIGHTS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    rng = np.random.default_rng(args.seed)
    scans = [cv2.imread(str(p)) for p in sorted((args.catalog / "images").glob("*/*.jpg"))]
    order = rng.permutation(len(scans))
    held_scans = {int(i) for i in order[: len(scans) // 5]}
    fronts = ebay_fronts(args.ebay)

    def fit(train_images: list[npt.NDArray[np.uint8]]) -> npt.NDArray[np.float64]:
        rows = []
        for image in train_images:
            for _ in range(4):
                rows.append(orientation_feature(jitter(image, rng)))
        x = np.array(rows, np.float64)
        x = np.vstack([x, -x])
        y = np.concatenate([np.ones(len(rows)), -np.ones(len(rows))])
        return np.linalg.solve(x.T @ x + args.ridge * np.eye(x.shape[1]), x.T @ y)

    def accuracy(weights: npt.NDArray[np.float64], images: list[npt.NDArray[np.uint8]]) -> float:
        return float(np.mean([np.dot(orientation_feature(jitter(im, rng)), weights) > 0 for im in images]))

    # Held-out figures first (a fit without the held-out cards and photos) ...
    weights = fit([s for i, s in enumerate(scans) if i not in held_scans] + [im for im, held in fronts if not held])
    report: dict[str, object] = {
        "heldout_catalogue_cards": accuracy(weights, [scans[i] for i in sorted(held_scans)]),
        "heldout_ebay_fronts": accuracy(weights, [im for im, held in fronts if held]),
    }
    # ... then the shipped weights, fitted on everything that is not an eBay held-out photo.
    weights = fit(scans + [im for im, held in fronts if not held])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, weights=weights.astype(np.float32))
    report["written"] = str(args.out)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
