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


def spotted_reading(
    *steps: dict[str, float] | str, parsed: CollectorNumber | None = None, text: str | None = None
) -> StripReading:
    from tests.ocr.test_spotting import ALPHABET, line

    greedy = "".join(s if isinstance(s, str) else max(s, key=lambda c: s[c]) for s in steps)
    return StripReading(parsed, None, ((text or greedy, 0.7),), (line(*steps),), ALPHABET)


def test_a_cleanly_read_number_nobody_has_is_not_taken_for_a_misread() -> None:
    from tests.ocr.test_spotting import spaced

    # "056/102" read cleanly, one digit from base1-58's 58/102: maybe a printing we do not have.
    reading = spotted_reading(
        *spaced("05"), {"6": 0.7, "8": 0.25}, "", *spaced("/102"), parsed=CollectorNumber("056", "102")
    )
    assert rerank_by_number(CANDIDATES, reading, META).verdict == "contradicted"


def test_an_exact_read_whose_deciding_digit_was_a_toss_up_does_not_split_printings_one_digit_apart() -> None:
    from tests.ocr.test_spotting import spaced

    meta = {**META, "xy12-35": {**META["xy12-35"], "number": "56", "printed_total": 102}}
    toss_up = spotted_reading(
        *spaced("05"), {"8": 0.5, "6": 0.45}, "", *spaced("/102"), parsed=CollectorNumber("058", "102")
    )
    assert rerank_by_number(CANDIDATES, toss_up, meta).verdict == "illegible"
    sure = spotted_reading(*spaced("058/102"), parsed=CollectorNumber("058", "102"))
    result = rerank_by_number(CANDIDATES, sure, meta)
    assert result.verdict == "reranked" and result.card_id == "base1-58"


def test_a_line_that_did_not_parse_names_nobody_even_when_one_candidates_number_fits_it_best() -> None:
    """ "058/103" fits 58/102 best of the candidates, but 58/103 — a printing we may not have — fits
    it better still: from one read, a garbled number is not evidence enough."""
    from tests.ocr.test_spotting import spaced

    reading = spotted_reading(*spaced("058/10"), {"3": 0.55, "2": 0.4}, "")
    assert rerank_by_number(CANDIDATES, reading, META).verdict == "illegible"


def test_the_set_code_is_read_only_when_two_close_candidates_share_their_number() -> None:
    from app.match.matcher import MatchResult
    from app.ocr.rerank import needs_set_code

    match = MatchResult("uncertain", "xy12-35", 0.91, 0.5, 0.005, CANDIDATES)
    assert not needs_set_code(match, META)  # 35/108 and 58/102 (25/165 is not close)
    same_number = {**META, "base1-58": {**META["base1-58"], "number": "35", "printed_total": 108}}
    assert needs_set_code(match, same_number)
    # Far candidates do not count: the number rules them out on its own.
    far = {**META, "sv3pt5-25": {**META["sv3pt5-25"], "number": "35", "printed_total": 108}}
    assert not needs_set_code(match, far)


def test_the_set_code_is_read_for_a_picture_that_matches_no_card() -> None:
    from app.match.matcher import MatchResult
    from app.ocr.rerank import needs_set_code

    # Its candidates say nothing of it; the code beside its number may name its set (PAL 102/193).
    unknown = MatchResult("unknown", None, 0.3, 0.0, 0.005, CANDIDATES)
    assert needs_set_code(unknown, META)
