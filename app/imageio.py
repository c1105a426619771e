"""Reading user images: EXIF orientation, PNG alpha, every Pillow mode (16-bit and float included),
HEIC when Pillow's plugin is present, and a pixel limit checked before anything is decoded."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps

if TYPE_CHECKING:
    # Only for the annotation: at run time app.camera imports this module (the image-folder source).
    from app.camera.base import BGRImage

logger = logging.getLogger(__name__)

#: Pictures above this many pixels are refused before decoding: a small file can declare a huge
#: picture (a 212 KB PNG of 16000×12000), and no camera photo of a card needs more.
MAX_PIXELS = 100_000_000

#: Modes whose samples do not fit in a byte: scaled to 0–255 by their own range, never clipped.
_WIDE_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I", "F"})
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})

_heif_registered: bool | None = None
#: Pillow's own bomb check is a module global; it is lifted only while a header is read here.
_open_lock = threading.Lock()


class ImageReadError(ValueError):
    """The file is missing, not an image, truncated, or too large to decode."""


def _register_heif() -> None:
    global _heif_registered
    if _heif_registered is not None:
        return
    try:
        from pillow_heif import register_heif_opener
    except ImportError:
        _heif_registered = False
        logger.debug("pillow-heif not installed: HEIC images cannot be read")
        return
    register_heif_opener()
    _heif_registered = True


def _open_header(path: Path) -> Image.Image:
    """The image with only its header read. Pillow's decompression-bomb check is off for this call:
    the size is judged by :func:`_check_size`, with a message that says what the picture is."""
    with _open_lock:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            return Image.open(path)
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1e6:.2f}".rstrip("0").rstrip(".")


def _check_size(image: Image.Image, path: Path) -> None:
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise ImageReadError(
            f"{path.name} is {width}×{height} = {_megapixels(width * height)} MP, "
            f"above the {_megapixels(MAX_PIXELS)} MP limit"
        )


def _wide_to_uint8(samples: npt.NDArray[np.generic], mode: str) -> npt.NDArray[np.uint8]:
    """16-bit, 32-bit integer or float samples as 0–255. ``I;16*`` is 16-bit by definition; the
    ``I`` and ``F`` containers say nothing of their range, so the smallest usual one that holds the
    data is taken (0–1 for floats, then 0–255, then 0–65535), else the data's own minimum–maximum.
    Float32, in place: a 100 MP picture stays within a few hundred MB."""
    values = samples.astype(np.float32)
    np.nan_to_num(values, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if mode.startswith("I;16"):
        scale_low, scale_high = 0.0, 65535.0
    elif mode == "F" and low >= 0.0 and high <= 1.0:
        scale_low, scale_high = 0.0, 1.0
    elif low >= 0.0 and high <= 255.0:
        scale_low, scale_high = 0.0, 255.0
    elif low >= 0.0 and high <= 65535.0:
        scale_low, scale_high = 0.0, 65535.0
    else:
        scale_low, scale_high = low, max(high, low + 1e-6)
    values -= scale_low
    values *= 255.0 / (scale_high - scale_low)
    np.rint(values, out=values)
    np.clip(values, 0, 255, out=values)
    return values.astype(np.uint8)


def _on_white(image: Image.Image) -> Image.Image:
    rgba = image.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba)


def to_rgb8(image: Image.Image) -> npt.NDArray[np.uint8]:
    """Any Pillow mode as an H×W×3 RGB uint8 array: transparency over white, wide samples scaled."""
    if image.mode in _WIDE_MODES:
        gray = _wide_to_uint8(np.asarray(image), image.mode)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if image.mode in _ALPHA_MODES or (image.mode == "P" and "transparency" in image.info):
        image = _on_white(image)
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def read_image_bgr(path: str | Path) -> BGRImage:
    """Load an image as BGR uint8, upright per its EXIF orientation, alpha composited onto white.
    Raises :class:`ImageReadError` (one line naming the file) for anything it cannot read."""
    path = Path(path)
    if path.suffix.lower() in {".heic", ".heif"}:
        _register_heif()
    if not path.is_file():
        raise ImageReadError(f"not found: {path}")
    try:
        with _open_header(path) as opened:
            _check_size(opened, path)
            opened.load()
            rgb = to_rgb8(ImageOps.exif_transpose(opened))
    except ImageReadError:
        raise
    except Exception as error:
        # Pillow's decoders report corrupt data with many exception types (OSError, SyntaxError,
        # EOFError, struct.error, IndexError, ValueError …): each means "not a readable image".
        detail = str(error) or type(error).__name__
        raise ImageReadError(f"cannot read {path.name} as an image ({detail})") from error
    if rgb.ndim != 3 or rgb.shape[0] < 8 or rgb.shape[1] < 8:
        raise ImageReadError(f"{path.name} is too small to hold a card ({rgb.shape[1]}×{rgb.shape[0]})")
    return np.ascontiguousarray(rgb[:, :, ::-1])
