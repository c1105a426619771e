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


def declared_size_png(path: Path, width: int, height: int) -> Path:
    """A tiny PNG whose header declares ``width``×``height`` gray pixels (the data is one short row:
    enough to open, never enough to decode)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )
    return path


def test_a_huge_declared_picture_is_refused_before_decoding_with_its_size(tmp_path: Path) -> None:
    path = declared_size_png(tmp_path / "bomb.png", 16000, 12000)
    with pytest.raises(ImageReadError, match=r"bomb\.png is 16000×12000 = 192 MP, above the 100 MP limit"):
        read_image_bgr(path)


def test_the_pixel_limit_is_our_own_not_pillows(tmp_path: Path) -> None:
    """Pillow only warns between its limit (~89 MP) and twice it; 110 MP is refused here all the same,
    and Pillow's own setting is left as it was."""
    pillow_limit = Image.MAX_IMAGE_PIXELS
    path = declared_size_png(tmp_path / "large.png", 11000, 10000)
    with pytest.raises(ImageReadError, match=r"11000×10000 = 110 MP"):
        read_image_bgr(path)
    assert pillow_limit == Image.MAX_IMAGE_PIXELS


def test_a_picture_at_the_limit_is_refused_only_above_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import app.imageio

    path = tmp_path / "small.png"
    Image.new("RGB", (100, 50), (10, 20, 30)).save(path)
    monkeypatch.setattr(app.imageio, "MAX_PIXELS", 5000)
    assert read_image_bgr(path).shape == (50, 100, 3)
    monkeypatch.setattr(app.imageio, "MAX_PIXELS", 4999)
    with pytest.raises(ImageReadError, match=r"100×50 = 0\.01 MP"):
        read_image_bgr(path)


def two_halves(mode: str, left: object, right: object) -> Image.Image:
    image = Image.new(mode, (16, 16), left)  # type: ignore[arg-type]
    image.paste(Image.new(mode, (8, 16), right), (8, 0))  # type: ignore[arg-type]
    return image


def palette_halves(mode: str) -> Image.Image:
    """Palette index 0 red, 1 blue: red left half, blue right half."""
    image = Image.new("P", (16, 16), 0)
    image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    image.paste(1, (8, 0, 16, 16))
    if mode == "PA":
        image = image.convert("PA")
    return image


RED, BLUE, WHITE, BLACK = (255, 0, 0), (0, 0, 255), (255, 255, 255), (0, 0, 0)

#: mode, how to make a two-halves picture in it, the file type that keeps the mode (None: in memory
#: only), and the RGB each half must read as.
MODE_CASES = [
    ("1", lambda: two_halves("1", 0, 1), "png", BLACK, WHITE),
    ("L", lambda: two_halves("L", 40, 200), "png", (40,) * 3, (200,) * 3),
    ("LA", lambda: two_halves("LA", (40, 255), (40, 0)), "png", (40,) * 3, WHITE),
    ("P", lambda: palette_halves("P"), "png", RED, BLUE),
    ("PA", lambda: palette_halves("PA"), "tif", RED, BLUE),
    ("RGB", lambda: two_halves("RGB", RED, BLUE), "png", RED, BLUE),
    ("RGBA", lambda: two_halves("RGBA", (255, 0, 0, 255), (0, 0, 255, 0)), "png", RED, WHITE),
    ("CMYK", lambda: two_halves("CMYK", (0, 255, 255, 0), (0, 0, 0, 255)), "tif", RED, BLACK),
    ("YCbCr", lambda: two_halves("YCbCr", (76, 85, 255), (255, 128, 128)), "tif", RED, WHITE),
    ("LAB", lambda: two_halves("RGB", RED, WHITE).convert("LAB"), "tif", RED, WHITE),
    ("HSV", lambda: two_halves("HSV", (0, 255, 255), (170, 255, 255)), None, RED, BLUE),
    # 16-bit: 4096 and 49152 of 65535 are 16 and 191 of 255 (never clipped to white).
    ("I;16", lambda: Image.fromarray(np.hstack([np.full((16, 8), 4096, "<u2"), np.full((16, 8), 49152, "<u2")])),
     "png", (16,) * 3, (191,) * 3),
    ("I;16B", lambda: two_halves("I;16B", 4096, 49152), "tif", (16,) * 3, (191,) * 3),
    ("I", lambda: two_halves("I", 4096, 49152), "tif", (16,) * 3, (191,) * 3),
    ("F", lambda: two_halves("F", 0.25, 0.75), "tif", (64,) * 3, (191,) * 3),
]  # fmt: skip


@pytest.mark.parametrize(("mode", "make", "kind", "left", "right"), MODE_CASES, ids=[c[0] for c in MODE_CASES])
def test_every_pillow_mode_reads_as_the_right_picture(
    tmp_path: Path, mode: str, make, kind: str | None, left: tuple[int, ...], right: tuple[int, ...]
) -> None:  # type: ignore[no-untyped-def]
    from app.imageio import to_rgb8

    image = make()
    assert image.mode == mode
    if kind is None:
        rgb = to_rgb8(image)
    else:
        path = tmp_path / f"picture.{kind}"
        image.save(path)
        with Image.open(path) as reopened:
            assert reopened.mode == mode  # the file really holds this mode
        rgb = read_image_bgr(path)[:, :, ::-1]
    assert rgb.shape == (16, 16, 3) and rgb.dtype == np.uint8
    # A few levels of slack for the colour-space conversions (Lab, YCbCr) and 16-bit rounding.
    assert np.abs(rgb[:, :8].astype(int) - left).max() <= 6
    assert np.abs(rgb[:, 8:].astype(int) - right).max() <= 6


def test_a_16_bit_gray_photo_keeps_its_tones(tmp_path: Path) -> None:
    ramp = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (32, 1))
    path = tmp_path / "ramp16.png"
    Image.fromarray(ramp).save(path)
    gray = read_image_bgr(path)[:, :, 0].astype(int)
    assert gray[0, 0] == 0 and gray[0, -1] == 255
    assert np.all(np.diff(gray[0]) >= 0) and len(np.unique(gray[0])) > 50


def test_float_data_outside_0_to_1_is_scaled_by_its_own_range() -> None:
    from app.imageio import to_rgb8

    rgb = to_rgb8(two_halves("F", -5.0, 5.0))
    assert rgb[0, 0, 0] == 0 and rgb[0, 15, 0] == 255


def test_a_decoder_crash_on_a_corrupt_file_is_an_image_read_error(tmp_path: Path) -> None:
    path = tmp_path / "cut.png"
    Image.new("RGB", (64, 64), RED).save(path)
    path.write_bytes(path.read_bytes()[:60])
    with pytest.raises(ImageReadError, match=r"cut\.png"):
        read_image_bgr(path)
