"""The one rule for "which card is this": evidence in, a :class:`Decision` out.

Pure functions — no threads, no I/O. The live pipeline (``app.pipeline``, its worker
``app.identify_worker``), single photos (``app.identify``, ``cardsight identify``) and the calibration
bench (``bench/openset.py``) all judge a card here, so the thresholds the bench calibrates are the
ones the app applies to the same evidence.

The evidence, in the order it is weighed:

1. **The picture** (:func:`decide_picture`): the top-k references of a crop (card backs included),
   best first, as cosine similarities; read both ways up and the better kept (:func:`better_way_up`).
2. **The layout** (:func:`confirm_by_layout`): an ``uncertain`` card clear of the next one whose crop
   lines up with its reference all over the card (``app.match.layout``) is ``identified``.
3. **A second look inside** (:func:`decide_card`): a find that names nothing and matches only loosely
   may be a top-loader's outline; the card inside it is read when that names a card.
4. **The votes** of a live presentation's frames (:func:`decide_by_votes`, :func:`settle`,
   :func:`decide_second_look`).
5. **Same-art printings the bundle lacks** (:func:`check_printings`): a card whose art is also printed
   in a set not installed (a Base Set card and its Evolutions reprint) looks the same to the picture;
   it is ``identified`` only when its frame lines up with its own reference (the layout) or its number
   is read, otherwise ``uncertain`` with every printing among the alternatives.
6. **The collector number** (:func:`decide_by_number`): it picks among close candidates (look-alike
   printings); a number that contradicts them all keeps the card from being ``identified``; a number
   that names a printing the bundle lacks proposes it, ``uncertain``. A picture that matches nothing
   may still carry a legible number: the catalogue cards it names outside the installed sets are
   proposed, ``uncertain``, never ``identified`` (:func:`propose_by_number`).

Statuses: ``identified`` (committed), ``uncertain`` (a best guess a person should check: ``card_id``
is that guess), ``unknown`` (no catalogue card: ``card_id`` None), ``card_back``.

**Confidence** — one meaning everywhere (scan events, ``identify`` text and JSON, alternatives, the
GUI): how sure the app is, 0–1, that a card is the one shown (a score, not a measured probability:
``bench/openset.py`` measures what each status is worth). Per candidate it is its share of the
top-k (a softmax of the similarities at ``MatchThresholds.temperature``) times how clearly its
similarity sits above "not in the catalogue" (0 at ``unknown_below``, 1 at ``accept_at``). Evidence
beyond the picture updates it: a layout that lines up, or a collector number read on the card, vouches
for the card (its similarity no longer scales it down), and a number moves the share of the close
look-alikes it rules out onto the card it supports (theirs becomes 0); a number that contradicts every
close candidate leaves each of them at most :data:`CONTRADICTED_AT_MOST` (the picture and the number
disagree, neither wins). A decision's ``confidence`` is that of the card it names — the same number as
that card's entry among the ``alternatives``; ``unknown`` names none: 0; ``card_back``: the back's
share.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from app.config import MatchConfig, default_of
from app.match.bundle import BACK_PREFIX

if TYPE_CHECKING:
    from app.match.voting import VotingConfig

logger = logging.getLogger(__name__)

Status = Literal["identified", "uncertain", "unknown", "card_back"]
#: The statuses that name what a crop shows (a card, or a back).
NAMED_STATUSES: tuple[Status, ...] = ("identified", "card_back")
#: What a collector-number read said about the close candidates (``app.ocr.rerank``).
NumberVerdict = Literal["confirmed", "reranked", "contradicted", "illegible"]
Hits = Sequence[tuple[str, float]]
Metadata = Mapping[str, Mapping[str, Any]]

#: How much better a card must match turned by 180° before the finder's orientation is overruled.
FLIP_MARGIN = 0.02
#: Candidates within this similarity of the best compete for the number (and share its confidence).
CLOSE_SIMILARITY = 0.08
#: A number that contradicts every close candidate leaves each of them at most this confident.
CONTRADICTED_AT_MOST = 0.5
#: Cards proposed from a number alone share at most this confidence: the picture did not see them,
#: so they are no surer than a picture and a number that disagree.
PROPOSED_AT_MOST = CONTRADICTED_AT_MOST
#: Same-art printings named in a reason (the rest are among the alternatives).
PRINTINGS_NAMED = 2
#: How a reason ends while the number that would decide is still to be read.
NUMBER_NOT_READ = " — number not read"


@dataclass(frozen=True)
class MatchThresholds:
    """Cosine similarities. The defaults are the ``[match]`` settings of the same names (defined once,
    in ``app.config.MatchConfig``, where ``bench/openset.py``'s calibration is written)."""

    #: Below this the best reference is not the card: ``unknown``.
    unknown_below: float = default_of(MatchConfig, "unknown_below")
    #: At or above this, with ``min_margin``, the card is ``identified``; in between ``uncertain``.
    accept_at: float = default_of(MatchConfig, "accept_at")
    #: Best minus second-best *different* card.
    min_margin: float = default_of(MatchConfig, "min_margin")
    #: Below this margin to the best card of *another name* the picture matches many cards about
    #: equally: a card *not in the catalogue* (eBay fronts: median margin 0.02 vs 0.33 for
    #: catalogue cards) …
    unknown_margin: float = default_of(MatchConfig, "unknown_margin")
    #: … unless the best is this similar: then it is a look-alike printing in the catalogue
    #: (same artwork, other number), and the user or the number OCR picks between them.
    lookalike_above: float = default_of(MatchConfig, "lookalike_above")
    #: A card back wins when its similarity is at least this.
    back_at: float = default_of(MatchConfig, "back_at")
    #: Softmax temperature turning similarities into shares of the top-k.
    temperature: float = 0.02
    #: An ``uncertain`` match this clear of the next card is ``identified`` when the crop lines up with
    #: the reference all over the card (``app.match.layout``; agreement ≥ ``layout_at``; above 1: off).
    layout_margin: float = default_of(MatchConfig, "layout_margin")
    layout_at: float = default_of(MatchConfig, "layout_at")


@dataclass(frozen=True)
class Candidate:
    card_id: str
    similarity: float
    #: The chance this is the card shown (the module docstring's one meaning).
    confidence: float
    #: Its share of the top-k by the picture alone (None: the same as ``confidence``).
    share: float | None = None
    #: The bundle holds its picture. False: a catalogue card in a set not installed, proposed from
    #: the art of a card it reprints or from the number read — never ``identified`` on that evidence.
    pictured: bool = True

    @property
    def picture_share(self) -> float:
        return self.confidence if self.share is None else self.share


@dataclass(frozen=True)
class Decision:
    status: Status
    #: The card named (``identified``), or the best guess (``uncertain``); None otherwise.
    card_id: str | None
    #: The best reference's similarity (a back's, for ``card_back``).
    similarity: float
    confidence: float
    #: Best minus second-best reference.
    margin: float
    #: Catalogue cards (never backs), best first, each with its own confidence.
    alternatives: list[Candidate] = field(default_factory=list)
    #: Why, in a few words (logs, debugging).
    reason: str = ""


@dataclass(frozen=True)
class Rules:
    """What every judgement needs besides the evidence."""

    thresholds: MatchThresholds
    #: card_id → metadata (``name`` tells look-alike printings from strangers; ``number``, ``series``).
    metadata: Metadata
    #: Another printing of the same name this close to the best wants its number read.
    lookalike_within: float = default_of(MatchConfig, "lookalike_within")
    #: card_id → its same-art printings in sets the bundle lacks (``app.match.catalogue_rules``);
    #: their metadata is in ``metadata`` too.
    printings_elsewhere: Callable[[str], Sequence[str]] = field(default=lambda _card_id: ())
    #: A picture that matches nothing has its number read and the catalogue cards it names proposed.
    proposes_by_number: bool = False


# ---------------------------------------------------------------------------- the picture


def closeness(similarity: float, t: MatchThresholds) -> float:
    """0 at ``unknown_below``, 1 at ``accept_at``: how clearly a similarity says "in the catalogue"."""
    return min(1.0, max(0.0, (similarity - t.unknown_below) / max(t.accept_at - t.unknown_below, 1e-6)))


def decide_picture(hits: Hits, t: MatchThresholds, metadata: Metadata) -> Decision:
    """The picture's decision from the top-k references (best first; backs included)."""
    if not hits:
        return Decision("unknown", None, 0.0, 0.0, 0.0, [], "no reference to compare with")
    best_id, best_sim = hits[0]
    top = max(s for _, s in hits)
    weights = [math.exp((s - top) / t.temperature) for _, s in hits]
    total = sum(weights)
    cards = [
        Candidate(c, s, (w / total) * closeness(s, t), w / total)
        for (c, s), w in zip(hits, weights, strict=True)
        if not c.startswith(BACK_PREFIX)
    ]
    margin = best_sim - hits[1][1] if len(hits) > 1 else best_sim
    if best_id.startswith(BACK_PREFIX):
        if best_sim >= t.back_at:
            return Decision("card_back", None, best_sim, weights[0] / total, margin, cards, f"card back {best_sim:.2f}")
        return Decision("unknown", None, best_sim, 0.0, margin, cards, f"only loosely a card back ({best_sim:.2f})")
    if best_sim < t.unknown_below:
        return Decision("unknown", None, best_sim, 0.0, margin, cards, f"like no card ({best_sim:.2f})")
    stranger = stranger_margin(hits, metadata)
    if stranger < t.unknown_margin and best_sim < t.lookalike_above:
        reason = f"about as like several cards ({best_sim:.2f}, {stranger:.3f} clear of another name)"
        return Decision("unknown", None, best_sim, 0.0, margin, cards, reason)
    if best_sim >= t.accept_at and margin >= t.min_margin:
        status: Status = "identified"
        reason = f"picture {best_sim:.2f}, {margin:.2f} clear"
    else:
        status = "uncertain"
        reason = f"picture {best_sim:.2f}, only {margin:.2f} clear" if best_sim >= t.accept_at else "picture loose"
    return Decision(status, best_id, best_sim, cards[0].confidence, margin, cards, reason)


def stranger_margin(hits: Hits, metadata: Metadata) -> float:
    """Best minus the best card of *another name*. A card outside the catalogue matches many cards
    about equally; a small margin to another printing of the same card (a reprint, a reverse holo)
    is no such sign — the collector number decides between those."""
    if not hits:
        return 0.0
    best_id, best_sim = hits[0]
    name = metadata.get(best_id, {}).get("name")
    others = [s for c, s in hits[1:] if name is None or metadata.get(c, {}).get("name") != name]
    return best_sim - others[0] if others else best_sim


def better_way_up(upright: Decision, turned: Decision) -> tuple[Decision, bool]:
    """The reading to keep of a crop matched both ways up, and whether it was the turned one (the
    orientation classifier is good, the match is the final word)."""
    if turned.similarity > upright.similarity + FLIP_MARGIN:
        return turned, True
    return upright, False


def close_lookalike(decision: Decision, metadata: Metadata, within: float) -> bool:
    """Another printing of the same name scores within ``within`` of the best: the picture cannot
    choose between them, the collector number can."""
    if decision.card_id is None:
        return False
    name = metadata.get(decision.card_id, {}).get("name")
    return any(
        a.card_id != decision.card_id
        and decision.similarity - a.similarity <= within
        and metadata.get(a.card_id, {}).get("name") == name
        for a in decision.alternatives
    )


def names_a_card(decision: Decision) -> bool:
    return decision.status in NAMED_STATUSES


def worth_a_look_inside(decision: Decision, thresholds: MatchThresholds) -> bool:
    """A reading that names nothing and matches its best card only loosely: the crop may be a
    top-loader's outline around the card (``FoundCard.inside_toploader``). One that matches a card
    closely but names nothing is a card with a look-alike printing: its outline is right, and the
    collector number decides."""
    return not names_a_card(decision) and decision.similarity < thresholds.lookalike_above


def read_turned(decision: Decision, turned: bool) -> bool:
    """The way up to read a crop's collector number: the match's (``turned``), unless the picture
    matches nothing — then as found: the similarities to cards it is not say nothing of its way up,
    the finder's orientation classifier does."""
    return turned and decision.status != "unknown"


def frame_best(decision: Decision) -> str | None:
    """What one frame says, as a presentation's votes keep it: the card, or the status."""
    return decision.card_id if decision.status in ("identified", "uncertain") else decision.status


# ---------------------------------------------------------------------------- the layout


def layout_may_confirm(decision: Decision, rules: Rules) -> bool:
    """``uncertain`` only for want of similarity: clear of the next card and no look-alike printing
    close by (the number tells those apart, not the layout). Only then is the layout measured."""
    t = rules.thresholds
    if decision.status != "uncertain" or decision.card_id is None or t.layout_at > 1.0:
        return False
    return decision.margin >= t.layout_margin and not close_lookalike(decision, rules.metadata, rules.lookalike_within)


def confirm_by_layout(decision: Decision, agreement: float | None, rules: Rules) -> Decision:
    """``decision`` as ``identified`` when it may be (:func:`layout_may_confirm`) and the crop's layout
    agreement with the card's reference reaches ``layout_at`` (None: not measured, no reference)."""
    if not layout_may_confirm(decision, rules) or agreement is None or agreement < rules.thresholds.layout_at:
        return decision
    assert decision.card_id is not None
    logger.debug("Layout confirms %s (agreement %.2f, sim %.2f)", decision.card_id, agreement, decision.similarity)
    alternatives = [_vouched(a) if a.card_id == decision.card_id else a for a in decision.alternatives]
    confidence = next((a.confidence for a in alternatives if a.card_id == decision.card_id), decision.confidence)
    reason = f"{decision.reason}; layout lines up ({agreement:.2f})"
    return replace(decision, status="identified", confidence=confidence, alternatives=alternatives, reason=reason)


def _vouched(candidate: Candidate) -> Candidate:
    """Evidence beyond the picture says this is the card: its similarity no longer scales it down."""
    return replace(candidate, confidence=max(candidate.confidence, candidate.picture_share))


# ---------------------------------------------------------------------------- same-art printings


def wants_printing_check(decision: Decision, rules: Rules) -> bool:
    """A named card (or best guess) whose art is also printed in sets the bundle lacks, not yet checked."""
    if decision.card_id is None or decision.status not in ("identified", "uncertain"):
        return False
    if any(not a.pictured for a in decision.alternatives):
        return False  # checked already: its printings are among the alternatives
    return bool(rules.printings_elsewhere(decision.card_id))


def check_printings(decision: Decision, agreement: float | None, rules: Rules) -> Decision:
    """``decision`` where its card's art is also printed in sets the bundle lacks: ``identified`` stands
    when the crop's layout agreement with the card's own reference reaches ``layout_at`` (the frames of
    two printings differ where the art does not); otherwise ``uncertain``, the printings among the
    alternatives right after the card and its close look-alike printings in the bundle, sharing the
    card's confidence equally (the picture cannot choose; the number will: :func:`decide_by_number`)."""
    if not wants_printing_check(decision, rules):
        return decision
    assert decision.card_id is not None
    if decision.status == "identified" and agreement is not None and agreement >= rules.thresholds.layout_at:
        return replace(decision, reason=f"{decision.reason}; its frame lines up ({agreement:.2f}), not a reprint's")
    printings = list(rules.printings_elsewhere(decision.card_id))
    card = next(a for a in decision.alternatives if a.card_id == decision.card_id)
    parts = len(printings) + 1
    shared = replace(card, confidence=card.confidence / parts, share=card.picture_share / parts)
    others = [Candidate(p, card.similarity, shared.confidence, shared.share, pictured=False) for p in printings]
    rest = [a for a in decision.alternatives if a.card_id != card.card_id and a.card_id not in printings]
    # The bundle's own look-alike printings of the card were compared with the crop: they come first.
    name = rules.metadata.get(card.card_id, {}).get("name")
    lookalikes = [
        a
        for a in rest
        if rules.metadata.get(a.card_id, {}).get("name") == name
        and card.similarity - a.similarity <= rules.lookalike_within
    ]
    rest = lookalikes + [a for a in rest if a not in lookalikes]
    names = ", ".join(printing_label(p, rules.metadata) for p in printings[:PRINTINGS_NAMED])
    more = f" (+{len(printings) - PRINTINGS_NAMED})" if len(printings) > PRINTINGS_NAMED else ""
    return replace(
        decision,
        status="uncertain",
        confidence=shared.confidence,
        alternatives=[shared, *rest[: len(lookalikes)], *others, *rest[len(lookalikes) :]],
        reason=f"same art as {names}{more}{NUMBER_NOT_READ}",
    )


def printing_label(card_id: str, metadata: Metadata) -> str:
    """``Base Set 58/102``: the set and the number as printed (the card id when the metadata lacks them)."""
    meta = metadata.get(card_id, {})
    number, total = meta.get("number"), meta.get("printed_total")
    if not meta.get("set_name") or not number:
        return card_id
    return f"{meta['set_name']} {number}" + (f"/{total}" if total else "")


# ---------------------------------------------------------------------------- the number


def wants_number_check(decision: Decision, rules: Rules) -> bool:
    """Ambiguous (``uncertain``, printings the bundle lacks included), or another printing of the same
    name is close: read the number."""
    if decision.card_id is None:
        return False
    return decision.status == "uncertain" or close_lookalike(decision, rules.metadata, rules.lookalike_within)


def wants_proposals(decision: Decision, rules: Rules) -> bool:
    """A picture that matches no card (not a back, not a blank): its number may name a card of a set
    not installed."""
    return rules.proposes_by_number and decision.status == "unknown" and decision.card_id is None


@dataclass(frozen=True)
class NumberRead:
    """What a collector-number read said: its verdict on the close candidates and the one it supports,
    the text read (``102/165 MEW``), and the catalogue cards outside the installed sets that carry that
    number and set code (``app.ocr.proposals``)."""

    verdict: NumberVerdict
    supported: str | None = None
    text: str | None = None
    proposals: tuple[str, ...] = ()


def propose_by_number(decision: Decision, read: NumberRead) -> Decision:
    """An ``unknown`` picture whose number names catalogue cards of sets not installed: ``uncertain``
    on the first, each sharing :data:`PROPOSED_AT_MOST` (the picture never saw them); unchanged when
    the number names none."""
    if decision.status != "unknown" or not read.proposals:
        return decision
    each = PROPOSED_AT_MOST / len(read.proposals)
    proposed = [Candidate(c, 0.0, each, each, pictured=False) for c in read.proposals]
    return replace(
        decision,
        status="uncertain",
        card_id=proposed[0].card_id,
        confidence=each,
        alternatives=proposed,
        reason=f"read {read.text or 'a number'}; the picture matches no installed card",
    )


def wants_read(decision: Decision, rules: Rules) -> bool:
    """The collector number may change ``decision``: it picks among ambiguous candidates
    (:func:`wants_number_check`) or names cards of sets not installed (:func:`wants_proposals`)."""
    return wants_number_check(decision, rules) or wants_proposals(decision, rules)


def decide_by_read(decision: Decision, read: NumberRead, rules: Rules, final: bool = True) -> Decision | None:
    """What a collector-number read makes of ``decision`` — a photo's card and a live presentation's
    alike: a picture that matches nothing gets the cards the number proposes (:func:`propose_by_number`;
    unchanged when it proposes none and no further read will come), any other its candidates picked
    by the number (:func:`decide_by_number`). None: no decision yet (a retry may read it)."""
    if wants_proposals(decision, rules):
        proposed = propose_by_number(decision, read)
        return proposed if proposed is not decision or final else None
    return decide_by_number(decision, read.verdict, read.supported, final)


def close_candidates(decision: Decision) -> list[Candidate]:
    """The candidates that compete for the number: within ``CLOSE_SIMILARITY`` of the best."""
    return [a for a in decision.alternatives if decision.similarity - a.similarity <= CLOSE_SIMILARITY]


def decide_by_number(
    decision: Decision, verdict: NumberVerdict, supported: str | None, final: bool = True
) -> Decision | None:
    """What a collector-number read makes of ``decision``: ``identified`` on the candidate it supports
    (``confirmed``/``reranked``); when it supports none and no further read will come (``final``), the
    picture's ``identified`` stands on an illegible number, anything else is ``uncertain``. None: no
    decision yet (a retry may read it)."""
    chosen = next((a for a in decision.alternatives if a.card_id == supported), None)
    if verdict in ("confirmed", "reranked") and chosen is not None:
        ruled_out = {a.card_id for a in close_candidates(decision)} - {chosen.card_id}
        gained = sum(a.picture_share for a in decision.alternatives if a.card_id in ruled_out)
        confidence = min(1.0, chosen.picture_share + gained)
        named = replace(chosen, confidence=max(chosen.confidence, confidence))
        others = [replace(a, confidence=0.0) if a.card_id in ruled_out else a for a in decision.alternatives]
        alternatives = [named] + [a for a in others if a.card_id != chosen.card_id]
        reason = f"number {verdict} {chosen.card_id}"
        # A printing the bundle lacks: the number names it, but no picture of it was ever compared.
        status: Status = "identified" if chosen.pictured else "uncertain"
        if not chosen.pictured:
            reason += ", a printing not installed"
        return Decision(
            status, chosen.card_id, chosen.similarity, named.confidence, decision.margin, alternatives, reason
        )
    if not final:
        return None
    if verdict == "illegible" and decision.status == "identified":
        return replace(decision, reason=f"{decision.reason}; number not legible")
    if verdict == "contradicted":
        close = {a.card_id for a in close_candidates(decision)}
        alternatives = [
            replace(a, confidence=min(a.confidence, CONTRADICTED_AT_MOST)) if a.card_id in close else a
            for a in decision.alternatives
        ]
        return _uncertain(replace(decision, alternatives=alternatives), "the number contradicts the close candidates")
    return _uncertain(decision, f"{decision.reason.removesuffix(NUMBER_NOT_READ)}; the number did not decide")


def _uncertain(decision: Decision, reason: str) -> Decision:
    """``decision`` as ``uncertain`` on its card (or its best candidate), with that card's confidence."""
    card_id = decision.card_id or (decision.alternatives[0].card_id if decision.alternatives else None)
    confidence = next((a.confidence for a in decision.alternatives if a.card_id == card_id), decision.confidence)
    return replace(decision, status="uncertain", card_id=card_id, confidence=confidence, reason=reason)


# ---------------------------------------------------------------------------- one photo


@dataclass(frozen=True)
class Sighting:
    """A straightened crop's picture evidence: its top-k references as found and turned by 180°."""

    upright: Hits
    turned: Hits


#: The layout agreement of the crop (turned when True) with a card's reference; None: not measured.
LayoutProbe = Callable[[str, bool], float | None]
#: A collector-number read for a decision on the crop (turned when True; of the card inside the find
#: when the last is True), or None when nothing could be read (the picture's answer stands).
NumberProbe = Callable[[Decision, bool, bool], NumberRead | None]


@dataclass(frozen=True)
class Look:
    """One reading of a find: the decision and whether the crop was read turned by 180°."""

    decision: Decision
    turned: bool


@dataclass(frozen=True)
class CardDecision:
    decision: Decision
    turned: bool
    #: The find was read as a top-loader's outline: the decision is the card inside it.
    inside: bool = False


def read_sighting(sighting: Sighting, layout: LayoutProbe, rules: Rules) -> Look:
    """The picture both ways up, the better kept, then the layout where it may confirm it."""
    t, metadata = rules.thresholds, rules.metadata
    decision, turned = better_way_up(
        decide_picture(sighting.upright, t, metadata), decide_picture(sighting.turned, t, metadata)
    )
    agreement: float | None = None
    if layout_may_confirm(decision, rules):
        assert decision.card_id is not None
        agreement = layout(decision.card_id, turned)
        decision = confirm_by_layout(decision, agreement, rules)
    if wants_printing_check(decision, rules):
        assert decision.card_id is not None
        if agreement is None and decision.status == "identified":
            agreement = layout(decision.card_id, turned)
        decision = check_printings(decision, agreement, rules)
    return Look(decision, turned)


def decide_card(
    found: tuple[Sighting, LayoutProbe],
    inside: Callable[[], tuple[Sighting, LayoutProbe]] | None,
    number: NumberProbe | None,
    rules: Rules,
) -> CardDecision:
    """One find in a photo (or one frame of the live scanner, without ``number``): its reading; a
    second look at the card inside it when that names nothing and matches only loosely (kept when it
    names a card); then the collector number where the picture is ambiguous (one read: final), or
    where it matches nothing (the cards it names in sets not installed are proposed)."""
    look, inner = read_sighting(*found, rules), False
    if inside is not None and worth_a_look_inside(look.decision, rules.thresholds):
        second = read_sighting(*inside(), rules)
        if names_a_card(second.decision):
            logger.debug("Read inside a top-loader: %s", second.decision.card_id)
            look, inner = second, True
    decision = look.decision
    if number is not None and wants_read(decision, rules):
        read = number(decision, read_turned(decision, look.turned), inner)
        if read is not None:
            decided = decide_by_read(decision, read, rules, final=True)
            assert decided is not None
            decision = decided
    return CardDecision(decision, look.turned, inner)


# ---------------------------------------------------------------------------- a presentation's votes


def decide_by_votes(
    decision: Decision,
    votes: int,
    consistent: bool,
    voting: VotingConfig,
    number_wanted: bool,
    reading_number: bool,
) -> Decision | None:
    """The decision a presentation's votes reach now (``decision``: the picture and layout of their
    mean; ``consistent``: the latest frames name the same), or None: not yet. ``number_wanted``: a
    number read is still to decide it; ``reading_number``: one is in flight (a picture that matches
    nothing waits for it too: its number may propose cards of sets not installed)."""
    if not consistent:
        return None
    if decision.status in ("card_back", "unknown"):
        return decision if votes >= voting.min_votes_reject and not reading_number else None
    if number_wanted or votes < voting.min_votes:
        return None
    return decision if decision.status == "identified" else None


def settle(decision: Decision) -> Decision:
    """Out of time (or the card left first): the best honest answer — never a commit the evidence did
    not reach."""
    if decision.status != "identified":
        return decision
    return _uncertain(decision, f"{decision.reason}; undecided in time")


def decide_second_look(decision: Decision, frames: Sequence[str | None], number_wanted: bool) -> Decision | None:
    """A presentation left ``uncertain``/``unknown`` is ``identified`` when its latest frames, on their
    own, name the card as clearly as a first decision needs — the mean and each frame naming it."""
    if decision.status == "identified" and all(f == decision.card_id for f in frames) and not number_wanted:
        return decision
    return None
