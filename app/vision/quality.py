"""Per-card quality signals: is this crop worth identifying? (pure functions)"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from app.camera.base import BGRImage
from app.imageops import area_downscale
from app.vision.geometry import FloatArray, mean_corner_error, quad_diagonal

#: The size sharpness is measured at (half the canonical crop).
SHARPNESS_SIZE = (220, 307)
#: The size glare is measured at.
GLARE_SIZE = (55, 77)


def sharpness(card: BGRImage) -> float:
    """Variance of the Laplacian at a fixed size, so values compare across card sizes in the frame.
    Sharp scans give several hundred; a visibly blurred card gives < 50."""
    grey = cv2.cvtColor(area_downscale(card, SHARPNESS_SIZE), cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_32F).var())


def glare_fraction(card: BGRImage, value_min: int = 245, saturation_max: int = 40) -> float:
    """Share of the card that is blown-out white (specular glare on holo foil or a sleeve)."""
    small = area_downscale(card, GLARE_SIZE)
    hsv = cv2.cvtColor(small, cv2.COLOR_BGR2HSV)
    glare = (hsv[..., 2] >= value_min) & (hsv[..., 1] <= saturation_max)
    return float(glare.mean())


def quad_motion(previous: Sequence[FloatArray], quad: FloatArray) -> float:
    """How far the card moved since the last frame: mean corner shift of the nearest previous quad,
    as a fraction of the card's diagonal (0 = still; 1.0 when it was not seen before)."""
    if not previous:
        return 1.0
    diagonal = max(quad_diagonal(quad), 1e-6)
    centre = quad.mean(axis=0)
    nearest = min(previous, key=lambda q: float(np.linalg.norm(q.mean(axis=0) - centre)))
    return min(1.0, mean_corner_error(nearest, quad) / diagonal)
