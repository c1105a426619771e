"""Look-alike printings for tests and benchmarks: the same artwork with another collector number.

Real catalogues hold such pairs (Base Set vs Evolutions reprints, reverse-holo variants); the shared
sets have none, so this re-renders a scan's number strip: find the printed number with OCR, paint it
out with the strip's own background colour and print the new number in its place.
"""

from __future__ import annotations

import logging
import zlib
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from app.camera.base import BGRImage
from app.catalog.build import reference_views
from app.embed.base import EmbedderBackend
from app.match.bundle import ReferenceBundle
from app.ocr.number import parse_collector_number
from app.ocr.reader import STRIP_ROWS, NumberReader

logger = logging.getLogger(__name__)


class NumberNotFound(ValueError):
    """OCR found no collector number on the card to replace."""


#: A bold oblique sans, like the printed numbers (Debian: fonts-dejavu-core); Hershey if missing.
_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-BoldOblique.ttf")


def _text_coverage(text: str, width: int, height: int, supersample: int = 4) -> npt.NDArray[np.float32]:
    """Ink coverage (0..1) of ``text`` filling a width × height box, rendered at 4× and reduced."""
    big_w, big_h = width * supersample, height * supersample
    if _FONT.is_file():
        from PIL import Image, ImageDraw, ImageFont

        font = ImageFont.truetype(str(_FONT), size=int(big_h * 0.8))
        canvas = Image.new("L", (big_w, big_h), 0)
        draw = ImageDraw.Draw(canvas)
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        scale = min(1.0, big_w / max(right - left, 1))
        if scale < 1.0:
            font = ImageFont.truetype(str(_FONT), size=max(4, int(big_h * 0.8 * scale)))
            left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        draw.text((-left, (big_h - (bottom - top)) // 2 - top), text, fill=255, font=font)
        mask = np.asarray(canvas, np.float32) / 255.0
    else:
        mask = np.zeros((big_h, big_w), np.float32)
        font_face = cv2.FONT_HERSHEY_SIMPLEX
        scale = cv2.getFontScaleFromHeight(font_face, int(big_h * 0.7), 1)
        cv2.putText(mask, text, (0, int(big_h * 0.85)), font_face, scale, 1.0, max(1, big_h // 9), cv2.LINE_AA)
    return np.asarray(cv2.resize(mask, (width, height), interpolation=cv2.INTER_AREA), np.float32)


def renumber_card(card: BGRImage, new_text: str, reader: NumberReader) -> BGRImage:
    """``card`` (a straightened card image) with its printed collector number replaced by ``new_text``."""
    height, width = card.shape[:2]
    top, bottom = round(height * STRIP_ROWS[0]), round(height * STRIP_ROWS[1])
    strip = card[top:bottom]
    scale = 1320 / width
    big = cv2.resize(strip, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    for box, text, _score in reader.read_boxes(big):
        if parse_collector_number(text) is None:
            continue
        x0, y0 = (box.min(axis=0) / scale).astype(int)
        x1, y1 = np.ceil(box.max(axis=0) / scale).astype(int)
        y0, y1 = y0 + top, y1 + top
        out = card.copy()
        pad = 2
        ring = np.concatenate([out[max(y0 - pad, 0), x0:x1], out[min(y1 + pad, height - 1), x0:x1]], axis=0).reshape(
            -1, 3
        )
        background = np.median(ring, axis=0)
        region = out[y0:y1, x0:x1].reshape(-1, 3).astype(np.float32)
        ink = region[np.argsort(region.sum(axis=1))[: max(1, len(region) // 20)]].mean(axis=0)
        if np.abs(ink - background).sum() < 60:  # light text on a dark strip
            ink = region[np.argsort(-region.sum(axis=1))[: max(1, len(region) // 20)]].mean(axis=0)
        cv2.rectangle(out, (x0, y0), (x1, y1), tuple(float(v) for v in background), -1)
        coverage = _text_coverage(new_text, x1 - x0, y1 - y0)
        patch = out[y0:y1, x0:x1].astype(np.float32)
        patch = patch * (1 - coverage[..., None]) + ink[None, None, :] * coverage[..., None]
        out[y0:y1, x0:x1] = np.clip(patch, 0, 255).astype(np.uint8)
        return out
    raise NumberNotFound("no collector number found on the card's bottom strip")


def bundle_with_card(
    bundle: ReferenceBundle,
    card_id: str,
    card: BGRImage,
    metadata: dict[str, Any],
    embedder: EmbedderBackend,
    views: int | None = None,
) -> ReferenceBundle:
    """A copy of ``bundle`` (in memory) with one more reference card, embedded the way the builder
    embeds catalogue cards."""
    count = views or max(1, bundle.manifest.views_per_card)
    vectors = embedder.embed(reference_views(card, count, seed=zlib.crc32(card_id.encode())))
    manifest = bundle.manifest.model_copy(
        update={
            "card_count": bundle.manifest.card_count + 1,
            "vector_count": bundle.manifest.vector_count + len(vectors),
        }
    )
    return ReferenceBundle(
        manifest,
        np.vstack([bundle.embeddings, vectors]).astype(np.float32),
        bundle.row_card_ids + [card_id] * len(vectors),
        {**bundle.metadata, card_id: {"card_id": card_id, **metadata}},
        bundle.path,
    )
