"""Which way up is a straightened card? A linear classifier on a small layout descriptor.

The descriptor is antisymmetric by construction — ``score(rot180(card)) == -score(card)`` — so the
decision is only ever "this way up or the other". Weights are fitted by ridge regression
(``python -m models.finder.orientation``) and shipped in ``models/finder/orientation.npz``.
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

logger = logging.getLogger(__name__)

DEFAULT_WEIGHTS = PROJECT_ROOT / "models" / "finder" / "orientation.npz"
_GRID = (22, 31)  # width, height of each descriptor channel


def _descriptor_grids(card: BGRImage) -> list[npt.NDArray[np.float32]]:
    """Edge energy, saturation, brightness and B, G, R on a coarse grid, each standardised."""
    small = area_downscale(card, (44, 62))
    grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY).astype(np.float32)
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1)
    hsv = cv2.cvtColor(small, cv2.COLOR_BGR2HSV)
    channels = [cv2.magnitude(gx, gy), hsv[..., 1], hsv[..., 2], small[..., 0], small[..., 1], small[..., 2]]
    grids = []
    for channel in channels:
        c = cv2.resize(channel.astype(np.float32), _GRID, interpolation=cv2.INTER_AREA)
        grids.append((c - c.mean()) / (c.std() + 1e-6))
    return grids


def layout_descriptor(card: BGRImage) -> npt.NDArray[np.float32]:
    return np.concatenate(_descriptor_grids(card), axis=None).astype(np.float32)


def orientation_feature(card: BGRImage) -> npt.NDArray[np.float32]:
    """descriptor(card) − descriptor(card turned 180°). Every channel is a per-pixel quantity whose
    value does not change when the image turns, so the turned descriptor is the grids turned."""
    grids = _descriptor_grids(card)
    return np.concatenate([g - g[::-1, ::-1] for g in grids], axis=None).astype(np.float32)


@lru_cache(maxsize=4)
def _load_weights(path: str) -> npt.NDArray[np.float32]:
    with np.load(path) as data:
        return np.asarray(data["weights"], np.float32)


def upright_score(card: BGRImage, weights_path: str | Path = DEFAULT_WEIGHTS) -> float:
    """> 0: the card is upright as given; < 0: it is upside down."""
    weights = _load_weights(str(weights_path))
    return float(np.dot(orientation_feature(card), weights))
