"""Fusing the number strips of several frames: alignment, leaving out a frame that is off, averaging."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from app.camera.base import BGRImage
from app.ocr.fusion import MAX_SHIFT, NumberViews, fuse_strips, shift_onto
from app.ocr.reader import corner_columns, strip_from_card_image, warp_number_strip


@pytest.fixture(scope="module")
def strip(catalog_dir: Path) -> BGRImage:
    from models.sim.capture_sim import load_card_texture

    return strip_from_card_image(load_card_texture(catalog_dir / "images" / "sv3pt5" / "sv3pt5-25.jpg"))


def shifted(image: BGRImage, dx: float, dy: float) -> BGRImage:
    matrix = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]], np.float32)
    height, width = image.shape[:2]
    return np.asarray(
        cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE),
        np.uint8,
    )


def inner_error(a: BGRImage, b: BGRImage, margin: int = 12) -> float:
    """Mean absolute difference away from the borders (a shift replicates the edge rows)."""
    return float(
        np.mean(np.abs(a[margin:-margin, margin:-margin].astype(np.float32) - b[margin:-margin, margin:-margin]))
    )


def test_a_strip_a_few_pixels_off_is_moved_back_onto_the_newest(strip: BGRImage) -> None:
    off = shifted(strip, 3.5, -2.25)
    moved = shift_onto(strip, off)
    assert moved is not None
    assert inner_error(moved, strip) < 0.25 * inner_error(off, strip)


def test_a_strip_far_off_is_left_out_of_the_mean(strip: BGRImage) -> None:
    far = shifted(strip, 0.0, (MAX_SHIFT + 0.05) * strip.shape[0])
    assert shift_onto(strip, far) is None
    assert np.array_equal(fuse_strips([far, strip]), strip)


def test_the_mean_of_noisy_frames_is_closer_to_the_print_than_any_one_frame(strip: BGRImage) -> None:
    # The fused strip lines up with the newest frame (the reference) and is cleaner than it.
    clean_newest = strip
    rng = np.random.default_rng(3)
    offsets = [rng.uniform(-3, 3, 2) for _ in range(5)]
    frames = [
        np.clip(shifted(strip, *o).astype(np.float32) + rng.normal(0, 25, strip.shape), 0, 255).astype(np.uint8)
        for o in offsets[:-1]
    ] + [np.clip(strip.astype(np.float32) + rng.normal(0, 25, strip.shape), 0, 255).astype(np.uint8)]
    assert inner_error(fuse_strips(frames), clean_newest) < 0.6 * inner_error(frames[-1], clean_newest)


def test_strips_of_other_sizes_are_refused(strip: BGRImage) -> None:
    with pytest.raises(ValueError, match="differ in shape"):
        shift_onto(strip, strip[:, :-1])
    with pytest.raises(ValueError, match="no strips"):
        fuse_strips([])


def test_number_views_warp_each_frame_at_its_own_corners(catalog_dir: Path) -> None:
    from models.sim.capture_sim import load_card_texture

    card = load_card_texture(catalog_dir / "images" / "sv3pt5" / "sv3pt5-25.jpg")
    height, width = card.shape[:2]
    corners = np.array([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], np.float64)
    # The same card 20 px further right in a wider frame: its own corners there.
    frame = np.zeros((height, width + 40, 3), np.uint8)
    frame[:, 20 : 20 + width] = card
    views = ((card, corners), (frame, corners + np.array([20.0, 0.0])))
    whole = warp_number_strip(card, corners)
    both = NumberViews(views).strip()
    for side in ("left", "right"):
        start, end = corner_columns(side, whole.shape[1])
        # ~1 grey level of resampling; a view warped at corners 1 px off gives ~10, at the other frame's ~25.
        assert inner_error(both[:, start:end], whole[:, start:end]) < 2.0
    # Only the corners to be read are made: the middle, never read, is left black.
    middle = slice(corner_columns("left", whole.shape[1])[1], corner_columns("right", whole.shape[1])[0])
    assert not both[:, middle].any()
    left_only = NumberViews(views, ("left",)).strip()
    assert left_only.shape == whole.shape and not left_only[:, corner_columns("right", whole.shape[1])[0] :].any()
