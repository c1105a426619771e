"""A card as the finder straightens it when it outlines a top-loader's rim instead of the card."""

from __future__ import annotations

import cv2
import numpy as np

from app.camera.base import BGRImage
from app.vision.geometry import CANONICAL_SIZE
from app.vision.warp import TOPLOADER_INSET


def card_in_a_toploader(card: BGRImage, seed: int = 1) -> BGRImage:
    """``card`` small inside a plastic margin that shows the (blurred, busy) table through it."""
    width, height = CANONICAL_SIZE
    rng = np.random.default_rng(seed)
    crop = cv2.GaussianBlur(rng.integers(0, 256, (height, width, 3)).astype(np.uint8), (0, 0), 6)
    crop = cv2.normalize(crop, None, 30, 220, cv2.NORM_MINMAX)
    x0, y0 = round(TOPLOADER_INSET[0] * width), round(TOPLOADER_INSET[1] * height)
    inner = (width - 2 * x0, height - 2 * y0)
    crop[y0 : height - y0, x0 : width - x0] = cv2.resize(card, inner, interpolation=cv2.INTER_AREA)
    return crop
