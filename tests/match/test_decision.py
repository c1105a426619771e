"""The one rule for "which card is this" (``app.match.decision``): one meaning of confidence, the
layout, the number and the votes; and the same rule in the app and in the calibration bench."""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Any

import pytest

from app.match.decision import (
    CONTRADICTED_AT_MOST,
    PROPOSED_AT_MOST,
    Decision,
    MatchThresholds,
    NumberRead,
    Rules,
    Sighting,
    confirm_by_layout,
    decide_by_number,
    decide_by_read,
    decide_by_votes,
    decide_card,
    decide_picture,
    decide_second_look,
    propose_by_number,
    settle,
)
from app.match.voting import VotingConfig

T = MatchThresholds(unknown_below=0.5, accept_at=0.8, min_margin=0.1, unknown_margin=0.03, lookalike_above=0.9)
META: dict[str, dict[str, Any]] = {
    "pika-25": {"name": "Pikachu"},
    "pika-58": {"name": "Pikachu"},
    "mew-151": {"name": "Mew"},
    "zard-4": {"name": "Charizard"},
}
RULES = Rules(T, META, lookalike_within=0.10)


def named_confidence(decision: Decision) -> float:
    """The confidence of the decision's card among its alternatives."""
    return next(a.confidence for a in decision.alternatives if a.card_id == decision.card_id)


@pytest.mark.parametrize(
    "hits",
    [
        [("mew-151", 0.52), ("zard-4", 0.30)],  # barely above "unknown": the 0.03 beside 0.97
        [("mew-151", 0.70), ("zard-4", 0.40)],
        [("mew-151", 0.95), ("zard-4", 0.50)],
        [("pika-25", 0.93), ("pika-58", 0.92), ("mew-151", 0.5)],
    ],
)
def test_a_decisions_confidence_is_the_same_number_as_its_cards_alternative(hits: list[tuple[str, float]]) -> None:
    decision = decide_picture(hits, T, META)
    assert decision.card_id == hits[0][0]
    assert decision.confidence == pytest.approx(named_confidence(decision))
    confidences = [a.confidence for a in decision.alternatives]
    assert confidences == sorted(confidences, reverse=True) and all(0.0 <= c <= 1.0 for c in confidences)


def test_a_picture_barely_above_unknown_is_uncertain_with_a_low_confidence_everywhere() -> None:
    decision = decide_picture([("mew-151", 0.52), ("zard-4", 0.30)], T, META)
    assert decision.status == "uncertain"
    assert decision.confidence < 0.2 and decision.alternatives[0].confidence < 0.2


def test_unknown_names_no_card_and_has_no_confidence() -> None:
    for hits in ([("mew-151", 0.45), ("zard-4", 0.30)], [("mew-151", 0.70), ("zard-4", 0.69)]):
        decision = decide_picture(hits, T, META)
        assert (decision.status, decision.card_id, decision.confidence) == ("unknown", None, 0.0)


def test_a_card_back_is_named_with_the_backs_share_and_no_back_among_the_alternatives() -> None:
    decision = decide_picture([("back:en", 0.9), ("mew-151", 0.4)], T, META)
    assert (decision.status, decision.card_id) == ("card_back", None)
    assert decision.confidence > 0.99
    assert [a.card_id for a in decision.alternatives] == ["mew-151"]


def test_a_layout_that_lines_up_identifies_the_card_and_vouches_for_its_confidence() -> None:
    decision = decide_picture([("mew-151", 0.70), ("zard-4", 0.40)], T, META)
    assert decision.status == "uncertain" and decision.confidence < 0.7
    confirmed = confirm_by_layout(decision, 0.95, RULES)
    assert (confirmed.status, confirmed.card_id) == ("identified", "mew-151")
    assert confirmed.confidence == pytest.approx(named_confidence(confirmed)) and confirmed.confidence > 0.99
    assert confirm_by_layout(decision, 0.5, RULES) == decision
    assert confirm_by_layout(decision, None, RULES) == decision


def test_a_number_that_supports_a_lookalike_takes_the_ruled_out_share() -> None:
    decision = decide_picture([("pika-25", 0.93), ("pika-58", 0.92), ("mew-151", 0.5)], T, META)
    assert decision.status == "uncertain"
    named = decide_by_number(decision, "reranked", "pika-58")
    assert named is not None and (named.status, named.card_id) == ("identified", "pika-58")
    assert named.confidence == pytest.approx(1.0, abs=1e-3)
    assert [a.card_id for a in named.alternatives][:2] == ["pika-58", "pika-25"]
    assert named.alternatives[0].confidence == named.confidence and named.alternatives[1].confidence == 0.0


def test_a_number_that_contradicts_a_confident_picture_leaves_it_uncertain_and_at_most_half_sure() -> None:
    decision = decide_picture([("mew-151", 0.95), ("zard-4", 0.50)], T, META)
    assert decision.status == "identified" and decision.confidence > 0.99
    contradicted = decide_by_number(decision, "contradicted", None)
    assert contradicted is not None and (contradicted.status, contradicted.card_id) == ("uncertain", "mew-151")
    assert contradicted.confidence == CONTRADICTED_AT_MOST == named_confidence(contradicted)


def test_an_illegible_number_keeps_a_confident_picture_and_waits_while_reads_are_left() -> None:
    confident = decide_picture([("pika-25", 0.95), ("pika-58", 0.80), ("mew-151", 0.5)], T, META)
    assert confident.status == "identified"
    assert decide_by_number(confident, "illegible", None, final=False) is None
    kept = decide_by_number(confident, "illegible", None, final=True)
    assert kept is not None and (kept.status, kept.card_id, kept.confidence) == (
        "identified",
        "pika-25",
        confident.confidence,
    )
    unsure = decide_picture([("pika-25", 0.93), ("pika-58", 0.92)], T, META)
    still = decide_by_number(unsure, "illegible", None, final=True)
    assert still is not None and still.status == "uncertain"


def test_votes_decide_only_when_consistent_enough_and_not_waiting_for_a_number() -> None:
    voting = VotingConfig(min_votes=2, min_votes_reject=3)
    clear = decide_picture([("mew-151", 0.95), ("zard-4", 0.50)], T, META)
    assert decide_by_votes(clear, 2, True, voting, False, False) == clear
    assert decide_by_votes(clear, 1, True, voting, False, False) is None
    assert decide_by_votes(clear, 5, False, voting, False, False) is None
    assert decide_by_votes(clear, 5, True, voting, True, False) is None  # a number read still to decide it
    unknown = decide_picture([("mew-151", 0.3)], T, META)
    assert decide_by_votes(unknown, 2, True, voting, False, False) is None
    assert decide_by_votes(unknown, 3, True, voting, False, True) is None  # a read in flight may name it
    assert decide_by_votes(unknown, 3, True, voting, False, False) == unknown


def test_out_of_time_a_picture_match_is_reported_uncertain_never_committed() -> None:
    clear = decide_picture([("pika-25", 0.95), ("pika-58", 0.90)], T, META)
    settled = settle(clear)
    assert (settled.status, settled.card_id) == ("uncertain", "pika-25")
    assert settled.confidence == pytest.approx(named_confidence(settled))
    unknown = decide_picture([("mew-151", 0.3)], T, META)
    assert settle(unknown) == unknown


def test_a_second_look_names_the_card_only_when_every_frame_does() -> None:
    clear = decide_picture([("mew-151", 0.95), ("zard-4", 0.50)], T, META)
    assert decide_second_look(clear, ["mew-151", "mew-151", "mew-151"], False) == clear
    assert decide_second_look(clear, ["mew-151", "zard-4", "mew-151"], False) is None
    assert decide_second_look(clear, ["mew-151"] * 3, True) is None


def no_layout(card_id: str, turned: bool) -> float | None:
    return None


def test_decide_card_reads_the_card_inside_a_loose_find_and_reads_its_number_there() -> None:
    outline = Sighting([("mew-151", 0.6), ("zard-4", 0.58)], [("zard-4", 0.4)])
    # Named by the picture, with another printing of its name close enough to want its number read.
    inside = Sighting([("pika-25", 0.96), ("pika-58", 0.85)], [("mew-151", 0.3)])
    asked: list[tuple[str | None, bool, bool]] = []

    def number(decision: Decision, turned: bool, in_toploader: bool) -> NumberRead:
        asked.append((decision.card_id, turned, in_toploader))
        return NumberRead("reranked", "pika-58")

    rules = replace(RULES, lookalike_within=0.15)
    outcome = decide_card((outline, no_layout), lambda: (inside, no_layout), number, rules)
    assert outcome.inside and not outcome.turned
    assert (outcome.decision.status, outcome.decision.card_id) == ("identified", "pika-58")
    assert asked == [("pika-25", False, True)]


def test_decide_card_keeps_the_find_when_the_card_inside_names_nothing_either() -> None:
    outline = Sighting([("mew-151", 0.6), ("zard-4", 0.58)], [])
    nothing = Sighting([("zard-4", 0.4)], [])
    outcome = decide_card((outline, no_layout), lambda: (nothing, no_layout), None, RULES)
    assert not outcome.inside and outcome.decision.status == "unknown"


def test_decide_card_keeps_the_pictures_answer_when_the_number_cannot_be_read() -> None:
    unsure = Sighting([("pika-25", 0.93), ("pika-58", 0.92)], [])
    outcome = decide_card((unsure, no_layout), None, lambda d, t, i: None, RULES)
    assert outcome.decision == decide_picture(unsure.upright, T, META)


# ---------------------------------------------------------------------------- printings and proposals

#: "zard-4" (installed) reprints the art of "base-4" and "base2-4" (sets not installed).
PRINTED_META: dict[str, dict[str, Any]] = {
    **META,
    "base-4": {"name": "Charizard", "set_name": "Base", "number": "4", "printed_total": 102},
    "base2-4": {"name": "Charizard", "set_name": "Base Set 2", "number": "4", "printed_total": 130},
}
PRINTINGS: dict[str, tuple[str, ...]] = {"zard-4": ("base-4", "base2-4")}
PRINTED = replace(RULES, metadata=PRINTED_META, printings_elsewhere=lambda c: PRINTINGS.get(c, ()))
ZARD = Sighting([("zard-4", 0.97), ("mew-151", 0.50)], [])


def test_a_card_whose_art_is_printed_in_a_set_not_installed_is_uncertain_with_every_printing() -> None:
    picture = decide_picture(ZARD.upright, T, META)
    assert picture.status == "identified"
    outcome = decide_card((ZARD, no_layout), None, None, PRINTED)
    decision = outcome.decision
    assert (decision.status, decision.card_id) == ("uncertain", "zard-4")
    assert [a.card_id for a in decision.alternatives][:3] == ["zard-4", "base-4", "base2-4"]
    assert [a.pictured for a in decision.alternatives][:3] == [True, False, False]
    # The picture cannot choose: the card's confidence is shared equally among the printings.
    shares = [a.confidence for a in decision.alternatives[:3]]
    assert shares == pytest.approx([picture.confidence / 3] * 3)
    assert decision.confidence == pytest.approx(named_confidence(decision))
    assert decision.reason == "same art as Base 4/102, Base Set 2 4/130 — number not read"


def test_a_card_with_printings_elsewhere_stays_identified_when_its_own_frame_lines_up() -> None:
    def lines_up(card_id: str, turned: bool) -> float | None:
        return 0.95 if card_id == "zard-4" else None

    outcome = decide_card((ZARD, lines_up), None, None, PRINTED)
    assert (outcome.decision.status, outcome.decision.card_id) == ("identified", "zard-4")
    assert all(a.pictured for a in outcome.decision.alternatives)
    poorly = decide_card((ZARD, lambda c, t: 0.6), None, None, PRINTED)
    assert poorly.decision.status == "uncertain"


@pytest.mark.parametrize(
    ("read", "status", "card_id", "reason"),
    [
        (NumberRead("confirmed", "zard-4"), "identified", "zard-4", "number confirmed zard-4"),
        (NumberRead("reranked", "base-4"), "uncertain", "base-4", "number reranked base-4, a printing not installed"),
        (
            NumberRead("illegible"),
            "uncertain",
            "zard-4",
            "same art as Base 4/102, Base Set 2 4/130; the number did not decide",
        ),
        (NumberRead("contradicted"), "uncertain", "zard-4", "the number contradicts the close candidates"),
    ],
)
def test_the_number_decides_between_a_card_and_its_printings_but_never_identifies_one_not_installed(
    read: NumberRead, status: str, card_id: str, reason: str
) -> None:
    outcome = decide_card((ZARD, no_layout), None, lambda d, t, i: read, PRINTED)
    decision = outcome.decision
    assert (decision.status, decision.card_id, decision.reason) == (status, card_id, reason)
    assert decision.confidence == pytest.approx(named_confidence(decision))


def test_the_bundles_own_lookalike_printing_comes_before_the_printings_not_installed() -> None:
    pikachu = Sighting([("pika-25", 0.93), ("pika-58", 0.92), ("mew-151", 0.5)], [])
    rules = replace(PRINTED, printings_elsewhere=lambda c: ("base-4",) if c == "pika-25" else ())
    decision = decide_card((pikachu, no_layout), None, None, rules).decision
    assert [a.card_id for a in decision.alternatives] == ["pika-25", "pika-58", "base-4", "mew-151"]


def test_a_card_without_printings_elsewhere_is_judged_as_before() -> None:
    mew = Sighting([("mew-151", 0.97), ("zard-4", 0.50)], [])
    assert decide_card((mew, no_layout), None, None, PRINTED) == decide_card((mew, no_layout), None, None, RULES)


def test_a_picture_that_matches_nothing_proposes_the_cards_its_number_names_never_identified() -> None:
    nothing = Sighting([("mew-151", 0.30), ("zard-4", 0.29)], [])
    asked: list[str | None] = []

    def number(decision: Decision, turned: bool, inside: bool) -> NumberRead:
        asked.append(decision.status)
        return NumberRead("contradicted", None, "4/102", ("base-4",))

    proposing = replace(PRINTED, proposes_by_number=True)
    decision = decide_card((nothing, no_layout), None, number, proposing).decision
    assert (decision.status, decision.card_id, decision.reason) == (
        "uncertain",
        "base-4",
        "read 4/102; the picture matches no installed card",
    )
    assert [(a.card_id, a.pictured) for a in decision.alternatives] == [("base-4", False)]
    assert decision.confidence == PROPOSED_AT_MOST == named_confidence(decision)
    assert asked == ["unknown"]
    two = propose_by_number(
        decide_picture(nothing.upright, T, META), NumberRead("illegible", None, "4/102", ("a", "b"))
    )
    assert [a.confidence for a in two.alternatives] == [PROPOSED_AT_MOST / 2] * 2
    # A read that names no card, and rules that do not propose, leave it unknown.
    silent = decide_card((nothing, no_layout), None, lambda d, t, i: NumberRead("illegible"), proposing)
    assert silent.decision.status == "unknown"
    assert decide_card((nothing, no_layout), None, number, PRINTED).decision.status == "unknown"


def test_a_read_of_an_unknown_picture_proposes_its_cards_or_waits_for_the_next_read_until_the_last() -> None:
    proposing = replace(PRINTED, proposes_by_number=True)
    unknown = decide_picture([("mew-151", 0.30), ("zard-4", 0.29)], T, META)
    naming = NumberRead("illegible", None, "4/102", ("base-4",))
    assert decide_by_read(unknown, naming, proposing, final=False) == propose_by_number(unknown, naming)
    assert decide_by_read(unknown, NumberRead("illegible"), proposing, final=False) is None  # a retry may read it
    assert decide_by_read(unknown, NumberRead("illegible"), proposing, final=True) == unknown
    # Rules that do not propose: the number only ever picks among candidates, as before.
    assert decide_by_read(unknown, naming, PRINTED, final=True) == decide_by_number(unknown, "illegible", None)
    ambiguous = decide_picture([("pika-25", 0.93), ("pika-58", 0.92)], T, META)
    assert decide_by_read(ambiguous, NumberRead("reranked", "pika-58"), proposing) == decide_by_number(
        ambiguous, "reranked", "pika-58"
    )


@pytest.mark.parametrize(
    ("upright", "turned", "read_turned"),
    [
        # Matches nothing, a little "better" turned: that says nothing of its way up — read as found.
        ([("mew-151", 0.30), ("zard-4", 0.29)], [("mew-151", 0.40), ("zard-4", 0.39)], False),
        # A card the picture knows, turned: its number is read turned.
        ([("pika-25", 0.60), ("pika-58", 0.59)], [("pika-25", 0.93), ("pika-58", 0.92)], True),
    ],
)
def test_a_number_is_read_the_way_up_the_match_says_unless_the_picture_matches_nothing(
    upright: list[tuple[str, float]], turned: list[tuple[str, float]], read_turned: bool
) -> None:
    asked: list[bool] = []

    def number(decision: Decision, turned: bool, inside: bool) -> NumberRead:
        asked.append(turned)
        return NumberRead("illegible")

    outcome = decide_card(
        (Sighting(upright, turned), no_layout), None, number, replace(PRINTED, proposes_by_number=True)
    )
    assert outcome.turned  # the match kept the turned reading
    assert asked == [read_turned]


# ---------------------------------------------------------------------------- one rule, bench and app


def test_the_app_and_the_calibration_bench_decide_by_the_same_function() -> None:
    import app.identify
    import app.identify_worker
    import app.match.decision
    import bench.openset

    assert bench.openset.decide_card is app.match.decision.decide_card
    assert app.identify.decide_card is app.match.decision.decide_card
    assert app.identify_worker.decide_card is app.match.decision.decide_card


def recorded(sighting: Sighting, layout: float | None, number: tuple[Any, str | None] | None) -> Any:
    from bench.openset import Recorded

    hits = sighting.upright
    card = hits[0][0]
    return Recorded(sighting, (card, False, layout), (card, False, *number) if number else None)


SCENES = [
    # (found, inside), each: hits upright, layout agreement, number (verdict, card)
    (([("mew-151", 0.95), ("zard-4", 0.5)], 0.9, ("illegible", None)), ([("mew-151", 0.3)], None, None)),
    (([("mew-151", 0.70), ("zard-4", 0.4)], 0.95, ("illegible", None)), ([("mew-151", 0.3)], None, None)),
    (([("pika-25", 0.93), ("pika-58", 0.92)], 0.97, ("reranked", "pika-58")), ([("zard-4", 0.3)], None, None)),
    (([("pika-25", 0.93), ("pika-58", 0.92)], 0.97, ("contradicted", None)), ([("zard-4", 0.3)], None, None)),
    (([("mew-151", 0.6), ("zard-4", 0.58)], 0.2, None), ([("pika-25", 0.95), ("zard-4", 0.5)], 0.9, None)),
    (([("back:en", 0.9), ("mew-151", 0.4)], None, None), ([("mew-151", 0.3)], None, None)),
]


@pytest.mark.parametrize("scene", SCENES)
@pytest.mark.parametrize("number_check", [True, False])
def test_the_bench_judges_recorded_evidence_exactly_as_the_app_rule_does(scene: Any, number_check: bool) -> None:
    from bench.openset import Score, judge

    (found_hits, found_layout, found_number), (inside_hits, inside_layout, inside_number) = scene
    found, inside = Sighting(found_hits, []), Sighting(inside_hits, [])
    score = Score(recorded(found, found_layout, found_number), recorded(inside, inside_layout, inside_number))
    calls: list[bool] = []

    def layout_of(value: float | None) -> Any:
        return lambda card_id, turned: value

    def number(decision: Decision, turned: bool, in_toploader: bool) -> NumberRead | None:
        calls.append(in_toploader)
        read = inside_number if in_toploader else found_number
        return NumberRead(*read) if read else None

    printed = replace(PRINTED, printings_elsewhere=lambda c: ("base-4",) if c == "mew-151" else ())
    all_thresholds = (T, replace(T, accept_at=0.99), replace(T, layout_at=2.0), replace(T, unknown_below=0.0))
    for thresholds, base in itertools.product(all_thresholds, (RULES, printed)):
        rules = replace(base, thresholds=thresholds)
        app_says = decide_card(
            (found, layout_of(found_layout)),
            lambda: (inside, layout_of(inside_layout)),
            number if number_check else None,
            rules,
        )
        assert judge(score, rules, number_check) == app_says
