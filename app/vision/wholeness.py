"""Is a straightened crop a whole card, or a piece of one? A linear classifier on a layout descriptor.

The network sometimes takes a strong printed line — the art window's lower border, across the
middle of the card — for a card outline and cuts the card in two; each half is card-shaped turned
90° (63 × ~44 mm), so shape checks pass it. Straightened, a half shows the card's layout turned on
its side: text runs across the long side, the name bar and the border are not where a card has
them. The descriptor keeps the horizontal and the vertical edge energy apart for that reason.

The descriptor is symmetric under a half turn (the finder decides which way up later), and the
weights are fitted by ridge regression on simulated captures (``python -m models.finder.wholeness``,
shipped in ``models/finder/wholeness.npz``).
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from app import PROJECT_ROOT
from app.camera.base import BGRImage
from app.imageops import area_downscale
from app.vision.geometry import FloatArray, order_clockwise
from app.vision.warp import portrait_corners, warp_to

logger = logging.getLogger(__name__)

DEFAULT_WEIGHTS = PROJECT_ROOT / "models" / "finder" / "wholeness.npz"
#: The straightened crop the classifier reads (width, height): enough for a 22×31 grid.
CROP_SIZE = (88, 124)
_GRID = (22, 31)


def wholeness_feature(card: BGRImage) -> npt.NDArray[np.float32]:
    """Horizontal and vertical edge energy, saturation, brightness and B, G, R on a coarse grid,
    each standardised, plus its half-turned self (so the card's way up does not matter)."""
    small = area_downscale(card, (44, 62))
    grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY).astype(np.float32)
    hsv = cv2.cvtColor(small, cv2.COLOR_BGR2HSV)
    channels = [
        np.abs(cv2.Sobel(grey, cv2.CV_32F, 1, 0)),
        np.abs(cv2.Sobel(grey, cv2.CV_32F, 0, 1)),
        hsv[..., 1],
        hsv[..., 2],
        small[..., 0],
        small[..., 1],
        small[..., 2],
    ]
    grids = []
    for channel in channels:
        grid = cv2.resize(channel.astype(np.float32), _GRID, interpolation=cv2.INTER_AREA)
        grid = (grid - grid.mean()) / (grid.std() + 1e-6)
        grids.append(grid + grid[::-1, ::-1])
    return np.concatenate(grids, axis=None).astype(np.float32)


#: Length of :func:`wholeness_feature`: seven channels on the grid.
FEATURE_LENGTH = 7 * _GRID[0] * _GRID[1]


@lru_cache(maxsize=4)
def load_weights(path: str) -> tuple[npt.NDArray[np.float32], float]:
    """The classifier's weights and bias; a clear error when the file is missing or not for this
    descriptor (weights fitted for another one would score every crop wrongly)."""
    if not Path(path).is_file():
        raise FileNotFoundError(
            f"Whole-card classifier missing: {path} (rebuild with: python -m models.finder.wholeness)"
        )
    try:
        with np.load(path) as data:
            weights, bias = np.asarray(data["weights"], np.float32).ravel(), float(data["bias"])
    except (OSError, KeyError, ValueError) as error:
        raise ValueError(f"Whole-card classifier {path} is unreadable ({error}); rebuild it") from error
    if weights.shape != (FEATURE_LENGTH,):
        raise ValueError(
            f"Whole-card classifier {path} has {weights.size} weights, this descriptor {FEATURE_LENGTH}; rebuild it"
        )
    return weights, bias


def wholeness_score(card: BGRImage, weights_path: str | Path = DEFAULT_WEIGHTS) -> float:
    """> 0: a whole card (either way up); < 0: a piece of one, or two cards side by side."""
    weights, bias = load_weights(str(weights_path))
    return float(np.dot(wholeness_feature(card), weights) + bias)


def straightened_for_wholeness(frame: BGRImage, quad: FloatArray) -> BGRImage:
    """The small portrait crop of ``quad`` that :func:`wholeness_score` reads (the trainer cuts its
    crops with this too)."""
    return warp_to(frame, portrait_corners(order_clockwise(quad)), CROP_SIZE)


def quad_wholeness(frame: BGRImage, quad: FloatArray, weights_path: str | Path = DEFAULT_WEIGHTS) -> float:
    """:func:`wholeness_score` of what ``quad`` outlines in ``frame``."""
    return wholeness_score(straightened_for_wholeness(frame, quad), weights_path)
