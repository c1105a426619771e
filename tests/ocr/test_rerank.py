from __future__ import annotations

from app.match.matcher import Candidate
from app.ocr.number import CollectorNumber
from app.ocr.reader import StripReading
from app.ocr.rerank import rerank_by_number

META = {
    "base1-58": {"name": "Pikachu", "number": "58", "printed_total": 102, "ptcgo_code": "BS"},
    "xy12-35": {"name": "Pikachu", "number": "35", "printed_total": 108, "ptcgo_code": "EVO"},
    "sv3pt5-25": {"name": "Pikachu", "number": "25", "printed_total": 165, "ptcgo_code": "MEW"},
}
CANDIDATES = [Candidate("xy12-35", 0.91, 0.5), Candidate("base1-58", 0.905, 0.45), Candidate("sv3pt5-25", 0.70, 0.05)]


def reading(number: str | None, total: str | None = None, code: str | None = None) -> StripReading:
    return StripReading(CollectorNumber(number, total) if number else None, code, ())


def test_number_moves_the_matching_lookalike_first() -> None:
    result = rerank_by_number(CANDIDATES, reading("58", "102"), META)
    assert result.verdict == "reranked" and result.card_id == "base1-58"
    assert [c.card_id for c in result.candidates] == ["base1-58", "xy12-35", "sv3pt5-25"]


def test_number_of_the_best_match_confirms_it() -> None:
    result = rerank_by_number(CANDIDATES, reading("035", "108"), META)
    assert result.verdict == "confirmed" and result.card_id == "xy12-35"


def test_number_of_a_far_candidate_does_not_overrule_the_picture() -> None:
    result = rerank_by_number(CANDIDATES, reading("25", "165"), META)
    assert result.verdict == "contradicted" and result.card_id is None


def test_a_number_nobody_has_contradicts() -> None:
    assert rerank_by_number(CANDIDATES, reading("77", "102"), META).verdict == "contradicted"


def test_set_code_that_disagrees_rules_a_candidate_out() -> None:
    assert rerank_by_number(CANDIDATES, reading("58", "102", code="EVO"), META).verdict == "contradicted"


def test_nothing_read_is_illegible() -> None:
    result = rerank_by_number(CANDIDATES, reading(None), META)
    assert result.verdict == "illegible" and result.candidates == CANDIDATES


def test_unsplit_ocr_line_still_confirms_the_close_candidate_it_shows() -> None:
    reading = StripReading(None, None, (("0587102", 0.9),))  # "058/102" with the slash read as 7
    result = rerank_by_number(CANDIDATES, reading, META)
    assert result.verdict == "reranked" and result.card_id == "base1-58"
    assert rerank_by_number(CANDIDATES, StripReading(None, None, (("Illus.", 0.9),)), META).verdict == "illegible"
