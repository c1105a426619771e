from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.imageio import ImageReadError, read_image_bgr


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    image = Image.new("RGB", (40, 20), (255, 0, 0))
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    path = tmp_path / "rotated.jpg"
    image.save(path, exif=exif)
    bgr = read_image_bgr(path)
    assert bgr.shape == (40, 20, 3)
    assert bgr[10, 10, 2] > 200 and bgr[10, 10, 0] < 60  # red, in BGR order


def test_png_alpha_is_composited_onto_white(tmp_path: Path) -> None:
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[:8, :, :] = (0, 0, 255, 255)  # opaque blue top half, transparent bottom half
    path = tmp_path / "alpha.png"
    Image.fromarray(rgba, "RGBA").save(path)
    bgr = read_image_bgr(path)
    assert tuple(bgr[2, 2]) == (255, 0, 0)
    assert tuple(bgr[12, 2]) == (255, 255, 255)


@pytest.mark.parametrize("content", [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n\x00\x00"])
def test_unreadable_files_raise_a_clear_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.png"
    path.write_bytes(content)
    with pytest.raises(ImageReadError, match=r"broken\.png"):
        read_image_bgr(path)


def test_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ImageReadError, match="not found"):
        read_image_bgr(tmp_path / "missing.jpg")
