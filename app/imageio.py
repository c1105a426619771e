"""Reading user images: EXIF orientation, PNG alpha, HEIC when Pillow's plugin is present."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from app.camera.base import BGRImage

logger = logging.getLogger(__name__)

_heif_registered: bool | None = None


class ImageReadError(ValueError):
    """The file is missing, not an image, or truncated."""


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


def read_image_bgr(path: str | Path) -> BGRImage:
    """Load an image as BGR uint8, upright per its EXIF orientation, alpha composited onto white."""
    path = Path(path)
    if path.suffix.lower() in {".heic", ".heif"}:
        _register_heif()
    if not path.is_file():
        raise ImageReadError(f"not found: {path}")
    try:
        with Image.open(path) as opened:
            opened.load()
            image = ImageOps.exif_transpose(opened)
            if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
                rgba = image.convert("RGBA")
                white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                image = Image.alpha_composite(white, rgba)
            rgb = np.asarray(image.convert("RGB"))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise ImageReadError(f"cannot read {path.name} as an image ({error})") from error
    if rgb.ndim != 3 or rgb.shape[0] < 8 or rgb.shape[1] < 8:
        raise ImageReadError(f"{path.name} is too small to hold a card ({rgb.shape[1]}×{rgb.shape[0]})")
    return np.ascontiguousarray(rgb[:, :, ::-1])
