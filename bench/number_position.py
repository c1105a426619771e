"""Where each era prints the collector number on the catalogue's scans (``NUMBER_CENTRE`` in
``app/ocr/reader.py``), and whether the line nearest to it is the number.

Every scan of the catalogue is straightened to the card model's canonical size, its number strip warped
as the scanner warps it, and the corner its era prints the number in read whole by the real reader
(every text line recognised). The line that parses as the card's own number gives the centre, as
fractions of the card's width and height. Prints JSON (≈ 1.5 minutes on 2 cores).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.catalog.pokemontcg import read_catalog
from app.ocr.number import metadata_number, numbers_agree, parse_collector_number
from app.ocr.reader import (
    NUMBER_CENTRE,
    STRIP_ROWS,
    NumberReader,
    corner_columns,
    number_corners,
    number_row_first,
    strip_from_card_image,
)
from app.vision.capture_sim import load_card_texture
from bench.common import CATALOG, machine


def quantiles(values: list[float]) -> dict[str, float]:
    return {f"q{q}": round(float(np.percentile(values, q)), 4) for q in (5, 50, 95)} if values else {}


def main() -> None:
    reader = NumberReader(threads=2)
    found: dict[str, dict[str, list[float]]] = {}
    scans: dict[str, int] = {}
    nearest_is_number: dict[str, int] = {}
    lines_per_corner: dict[str, list[int]] = {}
    for card in read_catalog(CATALOG).cards:
        number = metadata_number(card.metadata())
        if card.image_path is None or number is None:
            continue
        side = number_corners([card.series or ""])[0]
        strip = strip_from_card_image(load_card_texture(card.image_path))
        width = strip.shape[1]
        card_height = width * 88 / 63
        start, end = corner_columns(side, width)
        region = np.ascontiguousarray(strip[:, start:end])
        boxes = reader.detect_lines(region)
        lines = reader.recognise_lines(region, boxes)
        scans[side] = scans.get(side, 0) + 1
        lines_per_corner.setdefault(side, []).append(len(boxes))
        own = [
            line.box
            for line in lines
            if (read := parse_collector_number(line.text)) is not None and numbers_agree(read, number)
        ]
        if not own:
            continue
        centre = own[0].mean(axis=0)
        record = found.setdefault(side, {"x": [], "y": []})
        record["x"].append((float(centre[0]) + start) / width)
        record["y"].append(STRIP_ROWS[0] + float(centre[1]) / card_height)
        x, y = NUMBER_CENTRE[side]
        row, _rest = number_row_first(boxes, (x * width - start, (y - STRIP_ROWS[0]) * card_height))
        nearest_is_number[side] = nearest_is_number.get(side, 0) + bool(np.allclose(row[0], own[0]))
    report: dict[str, Any] = {
        "benchmark": "collector-number position on the catalogue scans (app/ocr/reader.py NUMBER_CENTRE)",
        "machine": machine(),
        "data": str(CATALOG),
        "number_centre_in_code": {side: list(centre) for side, centre in NUMBER_CENTRE.items()},
        "corners": {
            side: {
                "scans": scans[side],
                "number_read": len(found.get(side, {}).get("x", [])),
                "centre_x": quantiles(found.get(side, {}).get("x", [])),
                "centre_y": quantiles(found.get(side, {}).get("y", [])),
                "nearest_line_is_the_number": nearest_is_number.get(side, 0),
                "lines_in_the_corner": {"min": min(lines_per_corner[side]), "max": max(lines_per_corner[side])},
            }
            for side in sorted(scans)
        },
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
