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
from app.match.vectors import as_dense
from app.ocr.number import parse_collector_number
from app.ocr.reader import NumberReader

logger = logging.getLogger(__name__)

#: The band of a scan (fractions of its height) searched for the printed number to replace: the
#: whole bottom of the card, wider than the reader's window (a scan's number is where it is printed).
PRINTED_NUMBER_ROWS = (0.905, 0.99)


class NumberNotFound(ValueError):
    """OCR found no collector number on the card to replace."""


#: A bold oblique sans, like the printed numbers (Debian: fonts-dejavu-core); Hershey if missing.
_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-BoldOblique.ttf")


def _text_coverage(
    text: str, width: int, height: int, stroke: int = 0, supersample: int = 4
) -> npt.NDArray[np.float32]:
    """Ink coverage (0..1) of ``text`` stretched to fill a width × height box (its glyphs' own extent,
    not the font's line height), rendered at 4× with ``stroke`` extra weight (4× pixels) and reduced."""
    big_w, big_h = width * supersample, height * supersample
    if _FONT.is_file():
        from PIL import Image, ImageDraw, ImageFont

        font = ImageFont.truetype(str(_FONT), size=big_h * 2)
        probe = ImageDraw.Draw(Image.new("L", (1, 1)))
        left, top, right, bottom = probe.textbbox((0, 0), text, font=font, stroke_width=stroke)
        canvas = Image.new("L", (int(right - left) + 2, int(bottom - top) + 2), 0)
        ImageDraw.Draw(canvas).text(
            (1 - left, 1 - top), text, fill=255, font=font, stroke_width=stroke, stroke_fill=255
        )
        glyphs = np.asarray(canvas, np.float32) / 255.0
        # Stroke weight is set at the final size: scale it with the glyph height.
        mask = cv2.resize(glyphs, (big_w, big_h), interpolation=cv2.INTER_AREA)
    else:
        mask = np.zeros((big_h, big_w), np.float32)
        font_face = cv2.FONT_HERSHEY_SIMPLEX
        scale = cv2.getFontScaleFromHeight(font_face, big_h, 1)
        cv2.putText(mask, text, (0, big_h - 1), font_face, scale, 1.0, max(1, big_h // 9 + stroke), cv2.LINE_AA)
    return np.asarray(cv2.resize(mask, (width, height), interpolation=cv2.INTER_AREA), np.float32)


def _matched_coverage(text: str, width: int, height: int, ink_mass: float) -> npt.NDArray[np.float32]:
    """``text`` over the printed number's extent, in the stroke weight whose total ink is closest to the
    printed number's (``ink_mass``, in pixels): a thinner number than the print blurs away sooner, and a
    look-alike must be exactly as legible as the card it imitates."""
    best: npt.NDArray[np.float32] | None = None
    for stroke in range(0, 4 * height):
        coverage = _text_coverage(text, width, height, stroke=stroke)
        if best is None or abs(coverage.sum() - ink_mass) < abs(best.sum() - ink_mass):
            best = coverage
        if coverage.sum() >= ink_mass:
            break
    assert best is not None
    return best


def renumber_card(card: BGRImage, new_text: str, reader: NumberReader) -> BGRImage:
    """``card`` (a straightened card image) with its printed collector number replaced by ``new_text``,
    in the printed digits' height, width, ink colour and weight; the old digits are inpainted away."""
    height, width = card.shape[:2]
    top, bottom = round(height * PRINTED_NUMBER_ROWS[0]), round(height * PRINTED_NUMBER_ROWS[1])
    strip = card[top:bottom]
    scale = 1320 / width
    big = cv2.resize(strip, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    for box, text, _score in reader.read_boxes(big):
        if parse_collector_number(text) is None:
            continue
        x0, y0 = np.maximum((box.min(axis=0) / scale).astype(int) - 1, 0)
        x1, y1 = np.ceil(box.max(axis=0) / scale).astype(int) + 1
        y0, y1 = y0 + top, min(y1 + top, height)
        x1 = min(x1, width)
        region = card[y0:y1, x0:x1].astype(np.float32)
        border = np.concatenate([region[0], region[-1], region[:, 0], region[:, -1]], axis=0)
        background = np.median(border, axis=0)
        distance = np.linalg.norm(region - background, axis=2)
        level, _ = cv2.threshold(
            np.clip(distance, 0, 255).astype(np.uint8), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU
        )
        ink_mask = distance > max(level, 30.0)
        if ink_mask.sum() < 4:
            continue
        # The ink's own colour: the strongest third of its pixels (the rest are anti-aliased edges).
        strong = distance >= np.quantile(distance[ink_mask], 0.67)
        ink = region[ink_mask & strong].mean(axis=0)
        # Soft ink share per pixel (anti-aliased edges count partly), for the weight to match.
        share = np.clip(distance / max(float(np.linalg.norm(ink - background)), 1.0), 0.0, 1.0)
        rows, cols = np.nonzero(ink_mask)
        iy0, iy1, ix0, ix1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
        coverage = _matched_coverage(new_text, int(ix1 - ix0), int(iy1 - iy0), float(share[ink_mask].sum()))
        out = card.copy()
        erase = np.zeros((height, width), np.uint8)
        erase[y0:y1, x0:x1] = cv2.dilate(ink_mask.astype(np.uint8), np.ones((3, 3), np.uint8))
        out = cv2.inpaint(out, erase, 3, cv2.INPAINT_TELEA)
        ay0, ax0 = y0 + iy0, x0 + ix0
        patch = out[ay0 : ay0 + coverage.shape[0], ax0 : ax0 + coverage.shape[1]].astype(np.float32)
        patch = patch * (1 - coverage[..., None]) + ink[None, None, :] * coverage[..., None]
        out[ay0 : ay0 + coverage.shape[0], ax0 : ax0 + coverage.shape[1]] = np.clip(patch, 0, 255).astype(np.uint8)
        return np.asarray(out, np.uint8)
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
        np.vstack([as_dense(bundle.embeddings), vectors]).astype(np.float32),
        bundle.row_card_ids + [card_id] * len(vectors),
        {**bundle.metadata, card_id: {"card_id": card_id, **metadata}},
        bundle.path,
    )
