"""The number-strip reader: which lines it recognises, and that it still reads the number."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.camera.base import BGRImage
from app.ocr.number import CollectorNumber
from app.ocr.reader import TextLine, looks_like_a_number, number_row_first, strip_from_card_image
from app.vision.geometry import FloatArray


def box(x0: float, y0: float, x1: float, y1: float) -> FloatArray:
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)


def test_number_row_first_takes_the_line_nearest_the_number_and_the_lines_on_its_row() -> None:
    illustrator = box(79, 23, 327, 57)
    set_code = box(127, 64, 207, 107)  # MEW EN, left of the number and taller
    number = box(218, 83, 358, 113)
    copyright_line = box(391, 133, 553, 156)
    first, rest = number_row_first([illustrator, set_code, number, copyright_line], (288.0, 97.0))
    assert [b.tolist() for b in first] == [number.tolist(), set_code.tolist()]  # the nearest first
    assert [b.tolist() for b in rest] == [illustrator.tolist(), copyright_line.tolist()]


def test_number_row_first_with_nothing_detected() -> None:
    assert number_row_first([], (288.0, 97.0)) == ([], [])


@pytest.mark.parametrize(
    ("text", "number_like"),
    [
        ("025/165", True),
        ("0257165", True),
        ("美0257165", True),
        ("099/162★★", True),
        ("©2023 Pokémon", False),
        ("Illus. Yuu Nishida", False),
        ("MEW EN", False),
        ("G", False),
    ],
)
def test_looks_like_a_number(text: str, number_like: bool) -> None:
    assert looks_like_a_number(text) is number_like


class SpyReader:
    """Wraps the real reader's recogniser to record how many lines each call recognised."""

    def __init__(self) -> None:
        from app.ocr.reader import NumberReader

        self.reader = NumberReader()
        self.detected: list[int] = []
        self.recognised: list[int] = []
        detect, recognise = self.reader.detect_lines, self.reader.recognise_lines

        def detect_lines(image: BGRImage) -> list[FloatArray]:
            boxes = detect(image)
            self.detected.append(len(boxes))
            return boxes

        def recognise_lines(image: BGRImage, boxes: list[FloatArray]) -> list[TextLine]:
            self.recognised.append(len(boxes))
            return recognise(image, boxes)

        self.reader.detect_lines = detect_lines  # type: ignore[method-assign]
        self.reader.recognise_lines = recognise_lines  # type: ignore[method-assign]


def card_strip(catalog_dir: Path, set_id: str, card_id: str) -> BGRImage:
    from models.sim.capture_sim import load_card_texture

    return strip_from_card_image(load_card_texture(catalog_dir / "images" / set_id / f"{card_id}.jpg"))


def test_a_number_on_its_row_is_read_without_recognising_the_rest_of_the_corner(catalog_dir: Path) -> None:
    spy = SpyReader()
    reading = spy.reader.read_strip(card_strip(catalog_dir, "sv3pt5", "sv3pt5-25"), corners=("left",))
    assert reading.number == CollectorNumber("025", "165")
    assert reading.set_code == "MEW"  # printed on the number's row: read after it
    # The number's line alone, then the rest of its row — not the illustrator's or the copyright line.
    assert len(spy.detected) == 1 and spy.recognised[0] == 1
    assert 2 <= sum(spy.recognised) < spy.detected[0]


def test_without_the_set_code_only_the_number_line_is_recognised(catalog_dir: Path) -> None:
    spy = SpyReader()
    strip = card_strip(catalog_dir, "sv3pt5", "sv3pt5-25")
    reading = spy.reader.read_strip(strip, corners=("left",), set_code=False)
    assert reading.number == CollectorNumber("025", "165")
    assert reading.set_code is None
    assert spy.recognised == [1]


def test_a_corner_without_a_number_is_read_whole_before_the_next_corner(catalog_dir: Path) -> None:
    spy = SpyReader()
    # An XY card prints its number bottom-right: the left corner has none.
    reading = spy.reader.read_strip(card_strip(catalog_dir, "xy12", "xy12-15"), corners=("left", "right"))
    assert reading.number == CollectorNumber("15", "108")
    # Left: the line nearest to where the number would be, then every other line; right: the
    # number's line, then the rest of its row.
    assert spy.recognised[0] == 1 and spy.detected[0] > 1
    assert sum(spy.recognised[:2]) == spy.detected[0]
    assert len(spy.recognised) == 4 and spy.recognised[2] == 1
