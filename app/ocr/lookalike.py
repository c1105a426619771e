"""Look-alike printings for tests and benchmarks: the same artwork with another collector number.

Real catalogues hold such pairs (Base Set vs Evolutions reprints, reverse-holo variants); the shared
sets have none, so this re-renders a scan's number strip: find the printed number with OCR, paint it
out with the strip's own background colour and print the new number in its place.
"""

from __future__ import annotations

import logging
import zlib
from typing import Any

import cv2
import numpy as np

from app.camera.base import BGRImage
from app.catalog.build import reference_views
from app.embed.base import EmbedderBackend
from app.match.bundle import ReferenceBundle
from app.ocr.number import parse_collector_number
from app.ocr.reader import STRIP_ROWS, NumberReader

logger = logging.getLogger(__name__)


class NumberNotFound(ValueError):
    """OCR found no collector number on the card to replace."""


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
        font = cv2.FONT_HERSHEY_SIMPLEX
        box_h = y1 - y0
        font_scale = cv2.getFontScaleFromHeight(font, max(int(box_h * 0.7), 4), 1)
        thickness = max(1, round(box_h / 9))
        cv2.putText(
            out,
            new_text,
            (x0, y1 - max(1, box_h // 6)),
            font,
            font_scale,
            tuple(float(v) for v in ink),
            thickness,
            cv2.LINE_AA,
        )
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
