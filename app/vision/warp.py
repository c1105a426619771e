"""Perspective warp of a found card to the canonical upright portrait image (63:88, 440×614)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from app.camera.base import BGRImage
from app.vision.geometry import CANONICAL_SIZE, FloatArray, side_lengths
from app.vision.orientation import DEFAULT_WEIGHTS, upright_score

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WarpedCard:
    image: BGRImage
    #: Corners in the frame of the card's own TL, TR, BR, BL (after turning it upright).
    corners: FloatArray
    #: Orientation classifier margin: large = sure it is upright now.
    upright_margin: float
    #: True when the card lay upside down (or sideways the other way) in the frame.
    was_flipped: bool


def portrait_corners(quad: FloatArray) -> FloatArray:
    """Clockwise corners reordered so the first side is one of the card's short sides."""
    sides = side_lengths(quad)
    if sides[0] + sides[2] <= sides[1] + sides[3]:
        return quad.copy()
    return np.roll(quad, 1, axis=0)


def warp_to(frame: BGRImage, corners: FloatArray, size: tuple[int, int] = CANONICAL_SIZE) -> BGRImage:
    """Warp so that ``corners`` (TL, TR, BR, BL) land on the corners of a ``size`` image."""
    w, h = size
    target = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    matrix = cv2.getPerspectiveTransform(corners.astype(np.float32), target)
    return cv2.warpPerspective(frame, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def warp_card(
    frame: BGRImage,
    quad: FloatArray,
    size: tuple[int, int] = CANONICAL_SIZE,
    orientation_weights: str | Path = DEFAULT_WEIGHTS,
) -> WarpedCard:
    """The whole card, straightened and upright. Never cropped: name and number strip stay in."""
    corners = portrait_corners(np.asarray(quad, np.float64).reshape(4, 2))
    image = warp_to(frame, corners, size)
    score = upright_score(image, orientation_weights)
    if score < 0:
        image = cv2.rotate(image, cv2.ROTATE_180)
        corners = np.roll(corners, 2, axis=0)
    return WarpedCard(image=image, corners=corners, upright_margin=abs(score), was_flipped=score < 0)
