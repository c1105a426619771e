"""Where each era prints the collector number on the catalogue's scans, and whether the reader's window
holds it: ``NUMBER_CENTRE``, ``STRIP_ROWS`` and ``CORNER_COLUMNS`` in ``app/ocr/reader.py``.

Every scan of the catalogue is read twice by the real reader (every text line recognised):

1. the whole bottom of the card (``PRINTED_NUMBER_ROWS`` of its height, the half of its width where its
   era prints the number): the line that parses as the card's own number gives where the number is
   printed — its centre and its extent, as fractions of the card's width and height — and whether the
   reader's window holds all of it;
2. the reader's own window (the strip warped as the scanner warps it, the corner's columns): whether the
   line nearest to ``NUMBER_CENTRE`` is the number.

Prints JSON (≈ 3 minutes on 2 cores).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.camera.base import BGRImage
from app.catalog.pokemontcg import read_catalog
from app.ocr.number import CollectorNumber, metadata_number, numbers_agree, parse_collector_number
from app.ocr.reader import (
    CORNER_COLUMNS,
    NUMBER_CENTRE,
    STRIP_CARD_WIDTH,
    STRIP_ROWS,
    NumberReader,
    TextLine,
    corner_columns,
    number_corners,
    number_row_first,
    strip_from_card_image,
)
from bench.common import CATALOG, machine
from models.sim.capture_sim import load_card_texture
from models.sim.lookalike import PRINTED_NUMBER_ROWS

#: The half of the card searched in the first read.
SEARCH_COLUMNS = {"left": (0.0, 0.5), "right": (0.5, 1.0)}


def quantiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    return {
        "min": round(float(np.min(values)), 4),
        **{f"q{q}": round(float(np.percentile(values, q)), 4) for q in (5, 50, 95)},
        "max": round(float(np.max(values)), 4),
    }


def own_number(lines: list[TextLine], number: CollectorNumber) -> TextLine | None:
    for line in lines:
        read = parse_collector_number(line.text)
        if read is not None and numbers_agree(read, number):
            return line
    return None


def bottom_of_card(texture: BGRImage, side: str) -> tuple[BGRImage, int, int]:
    """The whole bottom of the card's ``side`` half at the reader's resolution, and its top-left
    corner in a ``STRIP_CARD_WIDTH``-wide card."""
    width = STRIP_CARD_WIDTH
    height = round(width * 88 / 63)
    card = cv2.resize(texture, (width, height), interpolation=cv2.INTER_CUBIC)
    top, bottom = (round(height * r) for r in PRINTED_NUMBER_ROWS)
    start, end = (round(width * c) for c in SEARCH_COLUMNS[side])
    return np.ascontiguousarray(card[top:bottom, start:end]), start, top


def main() -> None:
    reader = NumberReader(threads=2)
    width = STRIP_CARD_WIDTH
    card_height = round(width * 88 / 63)
    printed: dict[str, dict[str, list[float]]] = {}
    scans: dict[str, int] = {}
    inside_window: dict[str, int] = {}
    read_in_window: dict[str, int] = {}
    nearest_is_number: dict[str, int] = {}
    lines_in_window: dict[str, list[int]] = {}
    for card in read_catalog(CATALOG).cards:
        number = metadata_number(card.metadata())
        if card.image_path is None or number is None:
            continue
        side = number_corners([card.series or ""])[0]
        texture = load_card_texture(card.image_path)
        scans[side] = scans.get(side, 0) + 1

        # 1. Where the number is printed.
        region, x_start, y_start = bottom_of_card(texture, side)
        line = own_number(reader.recognise(region), number)
        if line is not None:
            xs = (line.box[:, 0] + x_start) / width
            ys = (line.box[:, 1] + y_start) / card_height
            record = printed.setdefault(side, {k: [] for k in ("x", "y", "x0", "x1", "y0", "y1")})
            for key, value in zip(
                ("x", "y", "x0", "x1", "y0", "y1"),
                (xs.mean(), ys.mean(), xs.min(), xs.max(), ys.min(), ys.max()),
                strict=True,
            ):
                record[key].append(float(value))
            columns, rows = CORNER_COLUMNS[side], STRIP_ROWS
            inside = bool(
                columns[0] <= xs.min() and xs.max() <= columns[1] and rows[0] <= ys.min() and ys.max() <= rows[1]
            )
            inside_window[side] = inside_window.get(side, 0) + inside

        # 2. The reader's window, as the scanner reads it.
        strip = strip_from_card_image(texture)
        start, end = corner_columns(side, strip.shape[1])
        window = np.ascontiguousarray(strip[:, start:end])
        boxes = reader.detect_lines(window)
        lines_in_window.setdefault(side, []).append(len(boxes))
        own = own_number(reader.recognise_lines(window, boxes), number)
        if own is None:
            continue
        read_in_window[side] = read_in_window.get(side, 0) + 1
        x, y = NUMBER_CENTRE[side]
        row, _rest = number_row_first(boxes, (x * width - start, (y - STRIP_ROWS[0]) * card_height))
        nearest_is_number[side] = nearest_is_number.get(side, 0) + bool(np.allclose(row[0], own.box))
    report: dict[str, Any] = {
        "benchmark": "collector-number position on the catalogue scans (app/ocr/reader.py NUMBER_CENTRE, "
        "STRIP_ROWS, CORNER_COLUMNS)",
        "machine": machine(),
        "data": str(CATALOG),
        "in_code": {
            "number_centre": {side: list(centre) for side, centre in NUMBER_CENTRE.items()},
            "strip_rows": list(STRIP_ROWS),
            "corner_columns": {side: list(columns) for side, columns in CORNER_COLUMNS.items()},
        },
        "corners": {
            side: {
                "scans": scans[side],
                "printed_number": {
                    "found": len(printed.get(side, {}).get("x", [])),
                    **{key: quantiles(values) for key, values in printed.get(side, {}).items()},
                    "inside_the_read_window": inside_window.get(side, 0),
                },
                "read_window": {
                    "number_read": read_in_window.get(side, 0),
                    "nearest_line_is_the_number": nearest_is_number.get(side, 0),
                    "lines": {"min": min(lines_in_window[side]), "max": max(lines_in_window[side])},
                },
            }
            for side in sorted(scans)
        },
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
