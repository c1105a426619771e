"""Runs of two finders over the same simulated captures, for the tests that pin what one step adds."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from app.vision.detect import CardDetector, DetectorSettings
from app.vision.geometry import mean_corner_error, quad_diagonal
from models.sim.capture_sim import CaptureSimulator, SimOptions, catalogue_image_paths


def errors_with_and_without(
    catalog_dir: Path, without: DetectorSettings, seed: int, n: int, size: tuple[int, int] = (960, 540)
) -> tuple[np.ndarray, np.ndarray]:
    """Corner errors (shares of the diagonal; inf unless exactly one card is found) over the first ``n``
    simulated captures of ``bench/detect.py --seed SEED --size WxH``, of the default finder and of one
    with the ``without`` settings, on the same network output."""
    sim = CaptureSimulator.from_paths(catalogue_image_paths(catalog_dir), SimOptions(size=size))
    default = CardDetector()
    other = CardDetector(without, segmenter=default.segmenter)
    rng = np.random.default_rng(seed)
    errors: dict[str, list[float]] = {"default": [], "without": []}
    for _ in range(n):
        capture = sim.render(rng)
        truth = capture.quads[0]
        seg = default.segmenter.segment(capture.image)
        for name, detector in (("default", default), ("without", other)):
            quads = detector.quads_from_segmentation(capture.image, seg)
            best = min((mean_corner_error(q.corners, truth) for q in quads), default=np.inf)
            errors[name].append(best / quad_diagonal(truth) if len(quads) == 1 else np.inf)
    return np.array(errors["default"]), np.array(errors["without"])
