"""The number-strip reader: rapidocr-onnxruntime (PP-OCRv4 det + rec, models inside the wheel) on
the two bottom corners of a straightened card, where every modern Pokémon card prints its number.

Runs on demand only (an ambiguous embedding, a look-alike in the top-k) — far too costly per frame.
A read is the text detector over a small window of the corner where the era prints the number, then
the recogniser over its lines (each ~20–30 ms on one core): the line where the number is printed, and
the lines on its row (the set code), are recognised first, the rest of the window only when those hold
no number.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from app.camera.base import BGRImage
from app.config import OcrConfig, default_of
from app.ocr.number import CollectorNumber, parse_collector_number, parse_set_code
from app.ocr.spotting import LogProbs, log_probs_from
from app.vision.geometry import FloatArray

logger = logging.getLogger(__name__)

#: Card width the strip is warped to before OCR. The text detector misses the ~10 px digits of a
#: 660 px card from a 720p frame; at twice that it finds them (measured on simulated captures).
STRIP_CARD_WIDTH = 1320
#: The number strip as fractions of the card height (top, bottom), and the columns of each corner
#: that are read, as fractions of its width. On the shared scans the number line spans 0.941–0.971 of
#: the height and 0.160–0.330 (left) or 0.806–0.957 (right) of the width (``bench/number_position.py``:
#: all of it inside this window on every scan whose number was read); the window leaves 1.6–1.9 % of
#: the height and 4–10 % of the width around that for an outline that is a little off. A window
#: tighter than the corner's whole bottom (0.905–0.99 × 0–0.42, before) holds fewer other lines for the
#: detector and fewer pixels to warp and fuse: a read took 41 ms instead of 64 (medians in
#: ``bench/number_frames.py``, with as many exact reads within the run-to-run spread).
STRIP_ROWS = (0.925, 0.99)
CORNER_COLUMNS: dict[str, tuple[float, float]] = {"left": (0.08, 0.40), "right": (0.70, 1.0)}


class OcrUnavailable(RuntimeError):
    """rapidocr-onnxruntime is not installed (or its models failed to load)."""


@dataclass(frozen=True)
class StripReading:
    number: CollectorNumber | None
    set_code: str | None
    #: Every text line read, with its score: kept for logs and for the user.
    lines: tuple[tuple[str, float], ...]
    #: The recogniser's per-step log-probabilities of each line that shows a digit, and its alphabet
    #: (character → column): a known number's fit can be measured against them (``app.ocr.spotting``).
    line_log_probs: tuple[LogProbs, ...] = field(default=(), repr=False, compare=False)
    alphabet: Mapping[str, int] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class TextLine:
    #: 4 corners in the image read.
    box: FloatArray
    text: str
    score: float
    #: The recogniser's (steps × characters) softmax output for this line (``log_probs_from`` turns
    #: it into what ``app.ocr.spotting`` weighs; only lines with a digit need that).
    probs: npt.NDArray[np.float32] = field(repr=False, compare=False)


#: Where each era prints the collector number: the centre of its text line, as fractions of the card's
#: width and height. ``bench/number_position.py`` on the shared scans (bench/results/number_position.json):
#: 5–95 % of the left corner's (Scarlet & Violet, Sword & Shield) within 0.217–0.234 of the width, the
#: right corner's (XY) within 0.854–0.886, both within 0.2 % of the height; the line nearest to it was
#: the number on every scan whose number was read (425 of 425 left, 99 of 113 right).
NUMBER_CENTRE: dict[str, tuple[float, float]] = {"left": (0.218, 0.958), "right": (0.859, 0.959)}
#: Lines whose vertical extents overlap the number line's by this share of the shorter one are on its
#: row (the set code and language, ``MEW EN``, print left of the number).
SAME_ROW_OVERLAP = 0.5


#: Series that print the collector number bottom-left (with the set code); older ones print it bottom-right.
LEFT_NUMBER_SERIES = frozenset({"Scarlet & Violet", "Sword & Shield", "Mega Evolution"})


def number_corners(series: list[str]) -> tuple[str, ...]:
    """Where to read, given the series of the candidate cards: one corner when they agree (half the
    OCR time), both (left first) when they do not or are unknown."""
    sides = {"left" if s in LEFT_NUMBER_SERIES else "right" for s in series if s}
    if sides == {"left"}:
        return ("left",)
    if sides == {"right"}:
        return ("right",)
    return ("left", "right")


def number_row_first(boxes: list[FloatArray], centre: tuple[float, float]) -> tuple[list[FloatArray], list[FloatArray]]:
    """(the line nearest to ``centre``, where the number should be, then the other lines on its row;
    the other lines). Boxes are 4 corners in the image read; the order given is kept otherwise."""
    if not boxes:
        return [], []
    nearest = min(range(len(boxes)), key=lambda i: float(np.hypot(*(boxes[i].mean(axis=0) - centre))))
    top, bottom = float(boxes[nearest][:, 1].min()), float(boxes[nearest][:, 1].max())

    def on_row(box: FloatArray) -> bool:
        low, high = float(box[:, 1].min()), float(box[:, 1].max())
        overlap = min(bottom, high) - max(top, low)
        return overlap >= SAME_ROW_OVERLAP * max(min(bottom - top, high - low), 1e-6)

    row = [nearest] + [i for i in range(len(boxes)) if i != nearest and on_row(boxes[i])]
    return [boxes[i] for i in row], [b for i, b in enumerate(boxes) if i not in row]


def looks_like_a_number(text: str) -> bool:
    """A line that parses as a collector number, or is mostly digits (``0257165``: the slash read as a
    7) — the number line found, so the rest of the corner need not be read. ``©2023 Pokémon`` is not."""
    if parse_collector_number(text) is not None:
        return True
    characters = [c for c in text if not c.isspace()]
    digits = sum(c.isdigit() for c in characters)
    return digits >= 3 and digits >= 0.6 * len(characters)


def strip_rows(card_width: int) -> tuple[int, int]:
    """The rows [top, bottom) of a ``card_width``-wide straightened card that its number strip spans."""
    card_height = round(card_width * 88 / 63)
    top, bottom = (round(card_height * r) for r in STRIP_ROWS)
    return top, bottom


def corner_columns(side: str, width: int) -> tuple[int, int]:
    """The columns [start, end) of a ``width``-wide strip where its ``side`` corner is read."""
    start, end = CORNER_COLUMNS[side]
    return round(width * start), round(width * end)


def warp_number_strip(
    frame: BGRImage, corners: FloatArray, card_width: int = STRIP_CARD_WIDTH, columns: tuple[int, int] | None = None
) -> BGRImage:
    """Straighten only the bottom strip of the card (TL, TR, BR, BL corners in ``frame``) at a
    resolution OCR can read; much cheaper than warping the whole card large. ``columns``: only those
    [start, end) of the strip (one corner)."""
    card_height = round(card_width * 88 / 63)
    top, bottom = strip_rows(card_width)
    start, end = columns or (0, card_width)
    target = np.array(
        [[0, -top], [card_width - 1, -top], [card_width - 1, card_height - 1 - top], [0, card_height - 1 - top]],
        np.float32,
    ) - np.array([start, 0], np.float32)
    matrix = cv2.getPerspectiveTransform(np.asarray(corners, np.float32), target)
    strip = cv2.warpPerspective(frame, matrix, (end - start, bottom - top), flags=cv2.INTER_CUBIC)
    return np.asarray(strip, np.uint8)


def strip_from_card_image(card: BGRImage, card_width: int = STRIP_CARD_WIDTH) -> BGRImage:
    """The number strip of an already straightened card image (a scan, a crop)."""
    height, width = card.shape[:2]
    corners = np.array([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], np.float64)
    return warp_number_strip(card, corners, card_width)


class NumberReader:
    """Reads collector number and set code from a number strip. Thread-safe (one lock)."""

    def __init__(self, threads: int = default_of(OcrConfig, "threads")) -> None:
        try:
            from rapidocr_onnxruntime import RapidOCR
        except ImportError as error:  # the wheel is optional: identification works without it
            raise OcrUnavailable(
                f"rapidocr-onnxruntime is not installed ({error}); collector-number re-ranking is off"
            ) from error
        # "max" keeps the detector at the strip's own size (the default upsamples to 736 px: 5× slower).
        self._engine: Any = RapidOCR(
            det_limit_type="max",
            det_limit_side_len=640,
            use_cls=False,
            intra_op_num_threads=threads,
            inter_op_num_threads=1,
        )
        self._lock = threading.Lock()
        self._alphabet: dict[str, int] | None = None

    def read_boxes(self, image: BGRImage) -> list[tuple[FloatArray, str, float]]:
        """Every text line: its box (4 corners in ``image``), text and score."""
        return [(line.box, line.text, line.score) for line in self.recognise(image)]

    @property
    def alphabet(self) -> dict[str, int]:
        """The recogniser's characters → their column in its output (0 is CTC's blank)."""
        if self._alphabet is None:
            characters = list(self._engine.text_rec.postprocess_op.character)
            self._alphabet = {c: i for i, c in enumerate(characters) if i > 0}
        return self._alphabet

    def recognise(self, image: BGRImage) -> list[TextLine]:
        """Every text line rapidocr would return (same detector, crops, normalisation, batch padding,
        greedy decoding and score filter as rapidocr-onnxruntime 1.4.4's ``RapidOCR.__call__``), with
        the recogniser's per-step probabilities kept: the second choices its greedy decoder throws
        away are what ``app.ocr.spotting`` weighs."""
        return self.recognise_lines(image, self.detect_lines(image))

    def detect_lines(self, image: BGRImage) -> list[FloatArray]:
        """The text detector's line boxes (4 corners each, in ``image``), top to bottom."""
        with self._lock:
            boxes, _elapsed = self._engine(image, use_rec=False, use_cls=False)
        return [np.asarray(box, np.float32) for box in boxes or []]

    def recognise_lines(self, image: BGRImage, boxes: list[FloatArray]) -> list[TextLine]:
        """The lines at ``boxes`` in ``image``: one recogniser pass for all of them."""
        if not boxes:
            return []
        engine = self._engine
        with self._lock:
            crops = engine.get_crop_img_list(image, boxes)
            _channels, height, width = engine.text_rec.rec_image_shape
            ratio = max([width / height, *(c.shape[1] / max(c.shape[0], 1) for c in crops)])
            batch = np.stack([engine.text_rec.resize_norm_img(c, ratio) for c in crops]).astype(np.float32)
            probs = engine.text_rec.session(batch)[0]
            decoded = engine.text_rec.postprocess_op(probs)
            min_score = float(engine.text_score)
        return [
            TextLine(box.astype(np.float64), str(text), float(score), line_probs)
            for box, (text, score, *_), line_probs in zip(boxes, decoded, probs, strict=True)
            if float(score) >= min_score
        ]

    def read_strip(
        self,
        strip: BGRImage,
        min_score: float = 0.6,
        corners: tuple[str, ...] = ("left", "right"),
        set_code: bool = True,
    ) -> StripReading:
        """``corners``: where to look, in order — ``number_corners`` knows where each era prints it.
        ``set_code``: also read the lines on the number's row, where the set code is printed; not
        needed (and a recogniser pass saved) when the candidates' numbers all differ."""
        width = strip.shape[1]
        # The strip is the card's full width: its rows start at STRIP_ROWS[0] of a 63:88 card.
        card_height = width * 88 / 63
        lines: list[tuple[str, float]] = []
        number: CollectorNumber | None = None
        code: str | None = None
        log_probs: list[LogProbs] = []
        for side in corners:
            start, end = corner_columns(side, width)
            region = np.ascontiguousarray(strip[:, start:end])
            x, y = NUMBER_CENTRE[side]
            centre = (x * width - start, (y - STRIP_ROWS[0]) * card_height)
            row, rest = number_row_first(self.detect_lines(region), centre)
            found = self.recognise_lines(region, row[:1])
            if not any(line.score >= min_score and looks_like_a_number(line.text) for line in found):
                found += self.recognise_lines(region, row[1:] + rest)
            elif set_code:
                found += self.recognise_lines(region, row[1:])
            for line in found:
                text, score = line.text, line.score
                lines.append((text, score))
                if any(c.isdigit() for c in text):
                    log_probs.append(log_probs_from(line.probs))
                if score < min_score:
                    continue
                number = number or parse_collector_number(text)
                code = code or parse_set_code(text)
            if number is not None:
                break
        logger.debug("OCR strip: %s → number %s set %s", lines, number, code)
        return StripReading(number, code, tuple(lines), tuple(log_probs), self.alphabet)
