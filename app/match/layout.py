"""The layout check: does the straightened card match its best reference *all over*, not only in the
artwork?

The embedding is dominated by the artwork, so a card outside the catalogue that shares its artwork with
a catalogue card (a 1999 Base Set card and its 2016 Evolutions reprint) scores as high as a blurred,
glared capture of the catalogue card itself — the accept threshold has to sit above both. The frame
around the artwork (name bar, HP, attack text, weakness row) is what differs between such printings,
and it is where a real match lines up stroke for stroke. So an ``uncertain`` match is ``identified``
when the crop and the reference thumbnail agree cell by cell over the whole card
(``layout_agreement``): a grid of local normalised cross-correlations, each cell free to shift a few
pixels (the finder's corners are good to about 1 % of the diagonal), summarised by a low quantile so
that the art cells alone cannot carry it. Measured by ``bench/openset.py``: catalogue captures median
0.97, eBay fronts (cards outside the catalogue, some sharing its artwork) ≤ 0.73.

Printings that differ only in the collector number (same artwork *and* frame) are not told apart
here — the number check (``app/ocr``) does that — so a close same-name alternative blocks the upgrade.
This module measures; when the measure upgrades a match is ``app.match.decision``'s rule.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from app.camera.base import BGRImage
from app.imageio import ImageReadError, read_image_bgr
from app.match.bundle import ReferenceBundle
from app.match.decision import Decision, MatchThresholds, Rules, confirm_by_layout, layout_may_confirm

logger = logging.getLogger(__name__)

FloatImage = npt.NDArray[np.float32]

#: Width, height the comparison runs at: the shipped thumbnails' size (text strokes ~1 px).
SIGNATURE_SIZE = (150, 209)
#: Cells across and down.
GRID = (5, 7)
#: How far each cell may shift to find its match, in signature pixels (~3 % of the width).
SEARCH_PX = 5
#: The quantile of the cell scores that is reported: ~a quarter of the card may disagree (glare, a
#: finger, a holo sparkle), the rest has to line up.
QUANTILE = 0.25
#: Below this agreement the crop is realigned onto the reference (a homography, ECC) and compared
#: again: a finder corner a few per cent off shifts whole rows of cells out of their search area.
REALIGN_BELOW = 0.9
#: A realignment that moves a corner further than this (fraction of the width) found something else.
MAX_REALIGN_SHIFT = 0.25


def layout_signature(image: BGRImage) -> FloatImage:
    """Grey, at ``SIGNATURE_SIZE``, lightly smoothed, with the slow shading (light falloff, glare
    haze, print colour) taken out so that only edges and strokes remain."""
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    grey = cv2.resize(image.astype(np.float32), SIGNATURE_SIZE, interpolation=cv2.INTER_AREA)
    grey = cv2.GaussianBlur(grey, (0, 0), 1.0)
    return np.asarray(grey - cv2.GaussianBlur(grey, (0, 0), 8.0), np.float32)


def cell_agreement(query: FloatImage, reference: FloatImage, search_px: int = SEARCH_PX) -> npt.NDArray[np.float32]:
    """[rows, cols] of the best normalised cross-correlation of each query cell within ``search_px``
    of its place in the reference (−1…1; a featureless cell scores 0)."""
    if query.shape != reference.shape:
        raise ValueError(f"signatures differ in shape: {query.shape} vs {reference.shape}")
    height, width = query.shape
    cols, rows = GRID
    cell_w, cell_h = width // cols, height // rows
    inset = 3  # the template is a little smaller than its cell, so it can move inside the search area
    out = np.zeros((rows, cols), np.float32)
    for j in range(rows):
        for i in range(cols):
            x0, y0 = i * cell_w + inset, j * cell_h + inset
            x1, y1 = (i + 1) * cell_w - inset, (j + 1) * cell_h - inset
            template = query[y0:y1, x0:x1]
            if float(template.std()) < 1e-3:
                continue
            top, left = max(0, y0 - search_px), max(0, x0 - search_px)
            area = reference[top : min(height, y1 + search_px), left : min(width, x1 + search_px)]
            out[j, i] = float(cv2.matchTemplate(area, template, cv2.TM_CCOEFF_NORMED).max())
    return out


def layout_agreement(query: FloatImage, reference: FloatImage) -> float:
    """One number for "the whole card lines up": the ``QUANTILE`` of the cell scores — as cropped,
    or after realigning the crop onto the reference when that lines up better."""
    agreement = float(np.quantile(cell_agreement(query, reference), QUANTILE))
    if agreement >= REALIGN_BELOW:
        return agreement
    realigned = realign(query, reference)
    if realigned is None:
        return agreement
    return max(agreement, float(np.quantile(cell_agreement(realigned, reference), QUANTILE)))


def realign(query: FloatImage, reference: FloatImage) -> FloatImage | None:
    """``query`` warped onto ``reference`` by the homography that best aligns them (OpenCV's ECC,
    ~15 ms here); None when it does not converge or moves a corner implausibly far."""
    warp = np.eye(3, dtype=np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 50, 1e-4)
    try:
        _, warp = cv2.findTransformECC(reference, query, warp, cv2.MOTION_HOMOGRAPHY, criteria, None, 1)
    except cv2.error:  # "the algorithm stopped before its convergence" and singular steps
        return None
    height, width = query.shape
    corners = np.array([[[0, 0]], [[width, 0]], [[width, height]], [[0, height]]], np.float32)
    moved = cv2.perspectiveTransform(corners, warp.astype(np.float64))
    if not np.all(np.isfinite(moved)) or float(np.abs(moved - corners).max()) > MAX_REALIGN_SHIFT * width:
        return None
    flags = cv2.INTER_LINEAR + cv2.WARP_INVERSE_MAP
    return np.asarray(cv2.warpPerspective(query, warp, (width, height), flags=flags), np.float32)


class LayoutCheck:
    """Compares crops with a bundle's thumbnails (read on demand, a few signatures kept)."""

    def __init__(self, bundle: ReferenceBundle, cache_size: int = 32) -> None:
        self.bundle = bundle
        self.cache_size = cache_size
        self._signatures: OrderedDict[str, FloatImage | None] = OrderedDict()

    def reference_signature(self, card_id: str) -> FloatImage | None:
        """None when the bundle has no readable thumbnail of the card (then nothing is upgraded)."""
        if card_id in self._signatures:
            self._signatures.move_to_end(card_id)
            return self._signatures[card_id]
        signature = None
        path = self.bundle.thumb_path(card_id)
        if path is not None:
            try:
                signature = layout_signature(read_image_bgr(path))
            except ImageReadError as error:
                logger.warning("Layout check skipped for %s: %s", card_id, error)
        self._signatures[card_id] = signature
        if len(self._signatures) > self.cache_size:
            self._signatures.popitem(last=False)
        return signature

    def agreement(self, crop: BGRImage, card_id: str) -> float | None:
        reference = self.reference_signature(card_id)
        if reference is None:
            return None
        return layout_agreement(layout_signature(crop), reference)

    def confirm(
        self,
        match: Decision,
        crop: BGRImage,
        thresholds: MatchThresholds,
        metadata: dict[str, dict[str, Any]],
        lookalike_within: float,
    ) -> Decision:
        """``match`` as ``identified`` when the rule allows it (``app.match.decision.confirm_by_layout``)
        and the crop — the straightened card the way up it was matched — lines up with the reference."""
        rules = Rules(thresholds, metadata, lookalike_within)
        if not layout_may_confirm(match, rules):
            return match
        assert match.card_id is not None
        return confirm_by_layout(match, self.agreement(crop, match.card_id), rules)
