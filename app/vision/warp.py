"""Perspective warp of a found card to the canonical upright portrait image (63:88, 440×614)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from app.camera.base import BGRImage
from app.vision.geometry import CANONICAL_SIZE, FloatArray, side_lengths, turned_180
from app.vision.orientation import DEFAULT_WEIGHTS, upright_score

logger = logging.getLogger(__name__)

#: A standard top-loader (76 × 101 mm, 3" × 4") around a 63 × 88 mm card: the share of the
#: top-loader's outline between its edge and the card's, across and along.
TOPLOADER_INSET = ((76.0 - 63.0) / 2 / 76.0, (101.0 - 88.0) / 2 / 101.0)


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
    # Only the card's box of the frame is read (the bilinear samples reach one pixel past the
    # corners; two of margin), and a colour picture is warped as four channels: OpenCV's bilinear
    # remap has a vectorised path for 4 channels, not for 3, which more than pays for the conversions.
    height, width = frame.shape[:2]
    limits = np.array([width, height])
    x0, y0 = (int(v) for v in np.clip(np.floor(corners.min(axis=0)) - 2, 0, limits - 1))
    x1, y1 = (int(v) for v in np.clip(np.ceil(corners.max(axis=0)) + 3, 1, limits))
    if x1 <= x0 or y1 <= y0:  # all of it outside the frame: the border pixels, replicated
        x0, y0, x1, y1 = 0, 0, width, height
    box = frame[y0:y1, x0:x1]
    matrix = cv2.getPerspectiveTransform((corners - np.array([x0, y0])).astype(np.float32), target)
    if box.ndim == 3 and box.shape[2] == 3:
        four = cv2.cvtColor(box, cv2.COLOR_BGR2BGRA)
        warped = cv2.warpPerspective(four, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return np.asarray(cv2.cvtColor(warped, cv2.COLOR_BGRA2BGR), np.uint8)
    return cv2.warpPerspective(box, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


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
        corners = turned_180(corners)
    return WarpedCard(image=image, corners=corners, upright_margin=abs(score), was_flipped=score < 0)


def inset_image(image: BGRImage, inset: tuple[float, float] = TOPLOADER_INSET) -> BGRImage:
    """The middle of a straightened crop, ``inset`` (fraction of the width, of the height) in from
    each side, scaled back to the crop's size: the card inside when the crop is a top-loader's outline."""
    height, width = image.shape[:2]
    x0, y0 = round(inset[0] * width), round(inset[1] * height)
    if 2 * x0 >= width or 2 * y0 >= height:
        raise ValueError(f"inset {inset} leaves nothing of a {width}×{height} crop")
    inner = image[y0 : height - y0, x0 : width - x0]
    return cv2.resize(inner, (width, height), interpolation=cv2.INTER_LINEAR)


def inset_corners(corners: FloatArray, inset: tuple[float, float] = TOPLOADER_INSET) -> FloatArray:
    """Frame corners (TL, TR, BR, BL) of the region :func:`inset_image` keeps, through the same
    perspective as the crop (a straight inset in the card's plane, not in the picture)."""
    unit = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float32)
    to_frame = cv2.getPerspectiveTransform(unit, np.asarray(corners, np.float32).reshape(4, 2))
    ix, iy = inset
    inner = np.array([[[ix, iy], [1 - ix, iy], [1 - ix, 1 - iy], [ix, 1 - iy]]], np.float32)
    return np.asarray(cv2.perspectiveTransform(inner, to_frame)[0], np.float64)
