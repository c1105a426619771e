"""Fast area downscaling (pure functions).

OpenCV's INTER_AREA is ~10× faster for exact 2× reductions than for arbitrary ratios; halving until
within 2× of the target and finishing with one area resize gives nearly the same pixels at a
fraction of the cost (measured: 440×614 → 44×62 in 0.2 ms instead of 0.9 ms).
"""

from __future__ import annotations

from typing import TypeVar

import cv2
import numpy as np
import numpy.typing as npt

ArrayT = TypeVar("ArrayT", bound=npt.NDArray[np.generic])


def area_downscale(image: ArrayT, size: tuple[int, int]) -> ArrayT:
    """Resize to ``size`` (width, height), averaging pixels when shrinking."""
    width, height = size
    out = image
    while out.shape[1] >= 1.9 * width and out.shape[0] >= 1.9 * height:
        h2, w2 = out.shape[0] // 2, out.shape[1] // 2
        out = cv2.resize(out[: 2 * h2, : 2 * w2], (w2, h2), interpolation=cv2.INTER_AREA)
    if out.shape[1] == width and out.shape[0] == height:
        return out
    shrinking = out.shape[1] > width or out.shape[0] > height
    return cv2.resize(out, size, interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def shrink_by_odd_factor(image: ArrayT, factor: int) -> ArrayT:
    """``cv2.resize(..., INTER_AREA)`` by a whole, odd ``factor`` (both sides divisible by it), as a box
    filter sampled every ``factor`` pixels. The same pixels: the mean of an odd number of whole grey
    levels is never exactly halfway between two, so both round alike (an even factor's ties round
    differently). Faster: 1280×720 → 256×144 took 1.4–1.5 ms instead of 1.7–2.4 on 40 simulated frames
    on this machine (a throwaway timing; 0.9 instead of 1.8 ms on one frame that stays in the cache)."""
    height, width = image.shape[:2]
    if factor < 1 or factor % 2 == 0 or height % factor or width % factor:
        raise ValueError(f"need an odd factor dividing both sides, got {factor} for {width}×{height}")
    if factor == 1:
        return image
    summed = cv2.boxFilter(image, -1, (factor, factor), anchor=(0, 0), normalize=True, borderType=cv2.BORDER_REPLICATE)
    return np.ascontiguousarray(summed[::factor, ::factor])  # type: ignore[return-value]
