from __future__ import annotations

import pytest

from app.ocr.number import CollectorNumber, normalise_number, numbers_agree, parse_collector_number, parse_set_code


@pytest.mark.parametrize(
    ("text", "number", "total"),
    [
        ("025/165", "025", "165"),
        ("5/108XX", "5", "108"),
        ("GG10/GG70", "GG10", "GG70"),
        ("TG05/TG30", "TG05", "TG30"),
        ("180/162★", "180", "162"),
        ("100/1O8", "100", "108"),  # OCR's O for 0
        ("80025/165", "025", "165"),  # set-code box glued on
        ("TEFEN 012/162", "012", "162"),  # language code glued on is not a subset prefix
        ("SWSH123", "SWSH123", None),
        ("SVP 045", "SVP045", None),
    ],
)
def test_printed_number_forms_are_parsed(text: str, number: str, total: str | None) -> None:
    assert parse_collector_number(text) == CollectorNumber(number, total)


@pytest.mark.parametrize("text", ["Illus. Naoyo Kimura", "MEWEN", "©2016 Pokemon", ""])
def test_text_without_a_number_gives_none(text: str) -> None:
    assert parse_collector_number(text) is None


def test_zero_padding_does_not_matter_but_the_printed_total_does() -> None:
    assert normalise_number("TG05") == "TG5" and normalise_number("025") == "25"
    assert numbers_agree(CollectorNumber("025", "165"), CollectorNumber("25", "165"))
    assert not numbers_agree(CollectorNumber("180", "162"), CollectorNumber("180", "198"))
    assert not numbers_agree(CollectorNumber("26", "165"), CollectorNumber("25", "165"))
    assert numbers_agree(CollectorNumber("58", "102"), CollectorNumber("58", None))


def test_set_code_is_read_before_the_language() -> None:
    assert parse_set_code("MEW EN") == "MEW"
    assert parse_set_code("TEF EN") == "TEF"
    assert parse_set_code("Illus. Mitsuhiro Arita") is None


def test_number_corner_follows_the_era_of_the_candidates() -> None:
    from app.ocr.reader import number_corners

    assert number_corners(["Scarlet & Violet", "Sword & Shield"]) == ("left",)
    assert number_corners(["XY", "Sun & Moon"]) == ("right",)
    assert number_corners(["Scarlet & Violet", "XY"]) == ("left", "right")
    assert number_corners([]) == ("left", "right")


@pytest.mark.parametrize(
    ("text", "number", "total", "shown"),
    [
        ("0257165", "25", "165", True),  # slash read as 7
        ("80257165", "25", "165", True),  # set-code box glued on
        ("058102", "58", "102", True),  # slash dropped
        ("0257165", "26", "165", False),
        ("036/102", "58", "102", False),
        ("1257165", "25", "165", False),  # 125/165 is another card
        ("TG057TG30", "TG05", "TG30", True),
    ],
)
def test_a_candidates_number_is_recognised_in_unsplit_ocr_text(text: str, number: str, total: str, shown: bool) -> None:
    from app.ocr.number import printed_in_text

    assert printed_in_text(CollectorNumber(number, total), text) is shown
