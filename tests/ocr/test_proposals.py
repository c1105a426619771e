"""Cards proposed from a collector number read (``app.ocr.proposals``), on the shipped catalogue."""

from __future__ import annotations

import pytest

from app.catalog.database import default_catalog
from app.match.decision import Decision
from app.ocr.number import parse_collector_number, parse_set_code
from app.ocr.proposals import MAX_PROPOSALS, number_read, proposals_for_number
from app.ocr.reader import StripReading

INSTALLED = frozenset({"sv3pt5", "sv5", "xy12"})


def proposals(line: str, installed: frozenset[str] = INSTALLED) -> tuple[str, ...]:
    return proposals_for_number(parse_collector_number(line), parse_set_code(line), installed, default_catalog())


@pytest.mark.parametrize(
    ("line", "card_id"),
    [
        ("4/102", "base1-4"),
        ("TG05/TG30", "swsh12tg-TG05"),
        ("SWSH061", "swshp-SWSH061"),
        ("PAL EN 102/193", "sv2-102"),
    ],
)
def test_a_number_with_its_total_prefix_or_set_code_proposes_the_cards_that_carry_it(line: str, card_id: str) -> None:
    found = proposals(line)
    assert card_id in found and len(found) <= MAX_PROPOSALS


def test_a_set_code_narrows_the_proposals_to_its_set() -> None:
    assert proposals("PAL EN 102/193") == ("sv2-102",)


def test_a_card_of_an_installed_set_is_never_proposed() -> None:
    assert proposals("MEW EN 102/165") == ()  # 151 is installed: the picture would have found it
    assert "base1-4" not in proposals("4/102", INSTALLED | {"base1"})


def test_a_bare_number_or_nothing_read_proposes_nothing() -> None:
    assert proposals("4") == ()
    assert proposals_for_number(None, "MEW", INSTALLED, default_catalog()) == ()


def test_a_number_that_names_more_cards_than_the_limit_proposes_none(monkeypatch: pytest.MonkeyPatch) -> None:
    assert len(proposals("4/102")) == 3  # Base Set, HS Triumphant and a Scarlet & Violet promo
    monkeypatch.setattr("app.ocr.proposals.MAX_PROPOSALS", 2)
    assert proposals("4/102") == ()


def reading(line: str) -> StripReading:
    return StripReading(parse_collector_number(line), parse_set_code(line), ((line, 0.99),))


def test_a_read_for_a_picture_that_matches_nothing_carries_the_cards_its_number_proposes() -> None:
    unknown = Decision("unknown", None, 0.3, 0.0, 0.01, [], "like no card")
    read = number_read(unknown, reading("PAL EN 102/193"), {}, INSTALLED, default_catalog())
    # No candidates to judge: "illegible" to them; the proposals are what the number names.
    assert (read.verdict, read.text, read.proposals) == ("illegible", "102/193 PAL", ("sv2-102",))
    # Without a catalogue, or for a picture that names a card, nothing is proposed.
    assert number_read(unknown, reading("PAL EN 102/193"), {}, INSTALLED, None).proposals == ()
    named = Decision("uncertain", "sv5-97", 0.7, 0.5, 0.01, [], "picture loose")
    assert number_read(named, reading("PAL EN 102/193"), {}, INSTALLED, default_catalog()).proposals == ()
