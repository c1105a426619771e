from __future__ import annotations

import cv2
import numpy as np
import pytest

from app.imageops import shrink_by_odd_factor


@pytest.mark.parametrize("factor", [1, 3, 5, 7, 9])
@pytest.mark.parametrize("channels", [1, 3])
def test_shrinking_by_an_odd_factor_gives_opencvs_area_resize_pixel_for_pixel(factor: int, channels: int) -> None:
    rng = np.random.default_rng(factor * 10 + channels)
    for _ in range(5):
        height, width = factor * int(rng.integers(10, 90)), factor * int(rng.integers(10, 160))
        shape = (height, width, channels) if channels > 1 else (height, width)
        image = rng.integers(0, 256, shape, dtype=np.uint8)  # noise: every rounding case shows up
        expected = cv2.resize(image, (width // factor, height // factor), interpolation=cv2.INTER_AREA)
        shrunk = shrink_by_odd_factor(image, factor)
        assert shrunk.shape == expected.shape and shrunk.flags["C_CONTIGUOUS"]
        assert np.array_equal(shrunk, expected)


@pytest.mark.parametrize(("factor", "shape"), [(2, (40, 60, 3)), (4, (40, 80, 3)), (3, (40, 60, 3)), (0, (9, 9, 3))])
def test_an_even_or_non_dividing_factor_is_refused(factor: int, shape: tuple[int, int, int]) -> None:
    with pytest.raises(ValueError, match="odd factor"):
        shrink_by_odd_factor(np.zeros(shape, np.uint8), factor)
