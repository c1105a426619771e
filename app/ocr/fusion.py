"""One number strip from several frames of a steady card (pure functions, no OCR engine).

Each frame's strip is warped to the card's own coordinates (``warp_number_strip``), shifted onto the
newest one by phase correlation (the corners found in each frame differ by a few pixels), and the
strips are averaged. Sensor noise and JPEG blocking change from frame to frame while the print does
not, so the mean shows the ~5–10 px digits of a card in a 720p frame more cleanly than any one frame
does: ``bench/number_frames.py`` measures how much more often the number is read exactly.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from app.camera.base import BGRImage
from app.ocr.reader import STRIP_CARD_WIDTH, corner_columns, strip_rows, warp_number_strip
from app.vision.geometry import FloatArray

logger = logging.getLogger(__name__)

#: A strip further than this (fraction of the strip's height) from the newest is not the same view of
#: the card — a corner found wrong in that frame — and is left out rather than smeared in.
MAX_SHIFT = 0.15


@functools.lru_cache(maxsize=8)
def _window(width: int, height: int) -> npt.NDArray[np.float32]:
    return np.asarray(cv2.createHanningWindow((width, height), cv2.CV_32F), np.float32)


def _fft_friendly(size: int) -> int:
    """The largest length ≤ ``size`` that the DFT handles fast (a 157-row strip is prime: 2× slower)."""
    return next(n for n in range(size, 0, -1) if cv2.getOptimalDFTSize(n) == n)


def _correlation_view(strip: BGRImage) -> npt.NDArray[np.float32]:
    """Grey, cut to a DFT-friendly size (at half resolution the shift came out up to a pixel off)."""
    grey = cv2.cvtColor(strip, cv2.COLOR_BGR2GRAY)
    height, width = _fft_friendly(grey.shape[0]), _fft_friendly(grey.shape[1])
    return np.ascontiguousarray(grey[:height, :width], np.float32)


def shift_onto(reference: BGRImage, strip: BGRImage, max_shift: float = MAX_SHIFT) -> BGRImage | None:
    """``strip`` translated (sub-pixel) to line up with ``reference``, or None when the best shift is
    larger than ``max_shift`` of the height."""
    if strip.shape != reference.shape:
        raise ValueError(f"strips differ in shape: {strip.shape} vs {reference.shape}")
    height, width = reference.shape[:2]
    ref_view, view = _correlation_view(reference), _correlation_view(strip)
    (dx, dy), _response = cv2.phaseCorrelate(ref_view, view, _window(ref_view.shape[1], ref_view.shape[0]))
    if max(abs(dx), abs(dy)) > max_shift * height:
        logger.debug("Strip %.1f, %.1f px off the newest: left out", dx, dy)
        return None
    matrix = np.array([[1.0, 0.0, -dx], [0.0, 1.0, -dy]], np.float32)
    moved = cv2.warpAffine(strip, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return np.asarray(moved, np.uint8)


def fuse_strips(strips: Sequence[BGRImage], max_shift: float = MAX_SHIFT) -> BGRImage:
    """The mean of ``strips`` (oldest first), each shifted onto the last (the newest)."""
    if not strips:
        raise ValueError("no strips to fuse")
    reference = strips[-1]
    total = reference.astype(np.float32)
    count = 1
    for strip in strips[:-1]:
        moved = shift_onto(reference, strip, max_shift)
        if moved is not None:
            total += moved
            count += 1
    return np.asarray(np.clip(total / count + 0.5, 0, 255), np.uint8)


@dataclass(frozen=True)
class NumberViews:
    """One card's number strip in several frames, oldest first: each a frame and the card's corners
    there (TL, TR, BR, BL of the card the way up its number is read). The OCR thread warps and fuses
    them (``strip``), so the capture thread never spends the time."""

    views: tuple[tuple[BGRImage, FloatArray], ...]
    #: The corners of the strip that will be read (``read_strip``'s ``corners``): only those are made.
    sides: tuple[str, ...] = ("left", "right")

    def strip(self, card_width: int = STRIP_CARD_WIDTH) -> BGRImage:
        """A full-width strip with the ``sides`` corners fused (the rest black, never read)."""
        top, bottom = strip_rows(card_width)
        strip = np.zeros((bottom - top, card_width, 3), np.uint8)
        for side in dict.fromkeys(self.sides):
            start, end = corner_columns(side, card_width)
            strip[:, start:end] = fuse_strips(
                [warp_number_strip(frame, corners, card_width, (start, end)) for frame, corners in self.views]
            )
        return strip
