"""Re-ranking the top-k with the collector number read from the card (pure functions); what the
verdict decides is ``app.match.decision.decide_by_number``'s."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from app.camera.base import BGRImage
from app.match.decision import CLOSE_SIMILARITY, Candidate, Decision, Metadata, NumberVerdict, close_candidates
from app.ocr.fusion import NumberViews
from app.ocr.number import metadata_number, numbers_agree, printed_in_text
from app.ocr.reader import StripReading, number_corners
from app.ocr.spotting import number_fit
from app.vision.geometry import FloatArray, turned_180

logger = logging.getLogger(__name__)

Verdict = NumberVerdict

#: The recogniser's probabilities (``app.ocr.spotting``) check every number decision: the chosen
#: card's number must fit NUMBER_MIN_LOG_RATIO (natural log) better than every close candidate's with
#: another number, so a read whose deciding digit was a near toss-up decides nothing. Calibrated by
#: ``bench/number_fit.py`` (bench/results/number_fit.json): on simulated 720p captures whose number
#: line was found, a rival printing one digit away was taken in 7.2 % of reads on the exact text
#: alone, and in none with this check.
NUMBER_MIN_LOG_RATIO = 4.0


@dataclass(frozen=True)
class RerankResult:
    verdict: Verdict
    #: The candidate the number supports (None when it supports none of them or was not read).
    card_id: str | None
    candidates: list[Candidate]


def rerank_by_number(
    candidates: list[Candidate],
    reading: StripReading,
    metadata: Metadata,
    max_drop: float = CLOSE_SIMILARITY,
) -> RerankResult:
    """Move the candidate whose printed number (and set code, when read) matches the reading to the
    front, if its similarity is within ``max_drop`` of the best — the number splits look-alike printings,
    it does not overrule a clear picture of a different card.

    ``contradicted``: a number was read and no close candidate carries it — the caller must not commit.
    """
    if not candidates:
        return RerankResult("illegible", None, candidates)
    best_similarity = candidates[0].similarity
    legible_lines = [text for text, score in reading.lines if score >= 0.6]

    def supports(candidate: Candidate) -> bool:
        meta = metadata.get(candidate.card_id, {})
        printed = metadata_number(meta)
        if printed is None:
            return False
        if reading.number is not None and numbers_agree(reading.number, printed):
            code = meta.get("ptcgo_code")
            return not (reading.set_code and code and str(code).upper() != reading.set_code.upper())
        # The parser found no clean "N/T", but the line may still show this card's digits.
        return reading.number is None and any(printed_in_text(printed, line) for line in legible_lines)

    close = [c for c in candidates if best_similarity - c.similarity <= max_drop]
    agreeing = [c for c in close if supports(c)]
    if not agreeing:
        return RerankResult("illegible" if reading.number is None else "contradicted", None, candidates)
    chosen = agreeing[0]
    if not clearly_better(chosen, close, reading, metadata):
        logger.info("Number read for %s does not rule out a close rival's", chosen.card_id)
        return RerankResult("illegible", None, candidates)
    reordered = [chosen] + [c for c in candidates if c.card_id != chosen.card_id]
    verdict: Verdict = "confirmed" if chosen.card_id == candidates[0].card_id else "reranked"
    logger.info("Number %s %s %s", reading.number, verdict, chosen.card_id)
    return RerankResult(verdict, chosen.card_id, reordered)


def clearly_better(chosen: Candidate, close: list[Candidate], reading: StripReading, metadata: Metadata) -> bool:
    """Whether the recogniser's output fits ``chosen``'s number ``NUMBER_MIN_LOG_RATIO`` better than
    every close candidate's with another number. A digit read as the chosen card's but only just
    (a 5 that might be a 6) decides nothing between two printings one digit apart; without the
    recogniser's probabilities (an older reading), the exact read stands."""
    lines = list(reading.line_log_probs)
    own = metadata_number(metadata.get(chosen.card_id, {}))
    if not lines or own is None:
        return True
    fit = number_fit(lines, own, reading.alphabet)
    if not math.isfinite(fit):
        return True
    for candidate in close:
        other = metadata_number(metadata.get(candidate.card_id, {}))
        if other is None or numbers_agree(other, own):
            continue
        if fit - number_fit(lines, other, reading.alphabet) < NUMBER_MIN_LOG_RATIO:
            return False
    return True


def strip_to_read(
    frame: BGRImage, corners: FloatArray, turned: bool, match: Decision, metadata: Metadata
) -> tuple[BGRImage, tuple[str, ...]]:
    """The number strip of the card at ``corners`` in ``frame`` (turned 180° when the match was made
    that way up), and the corners of it to read (``where_to_read``): only those are warped, as the live
    scanner's reads warp them (one view of ``NumberViews``)."""
    where = where_to_read(match, metadata)
    return NumberViews(((frame, turned_180(corners) if turned else corners),), where).strip(), where


def where_to_read(match: Decision, metadata: Metadata) -> tuple[str, ...]:
    """The corners of the strip to read: where the close candidates' era prints numbers; both for a
    picture that matches no card (its candidates say nothing of its era)."""
    if match.status == "unknown":
        return number_corners([])
    return number_corners([str(metadata.get(c, {}).get("series", "")) for c in _close_ids(match)])


def needs_set_code(match: Decision, metadata: Metadata) -> bool:
    """Two close candidates print the same number: only the set code can tell them apart. A picture
    that matches no card: the set code may say which set its number belongs to (``PAL 102/193``)."""
    if match.status == "unknown":
        return True
    numbers = [n for c in _close_ids(match) if (n := metadata_number(metadata.get(c, {}))) is not None]
    return any(numbers_agree(a, b) for i, a in enumerate(numbers) for b in numbers[i + 1 :])


def _close_ids(match: Decision) -> list[str]:
    return [a.card_id for a in close_candidates(match)]


def number_text(reading: StripReading) -> str | None:
    """What was read, for the event and the user: ``25/165 MEW``, or the raw line when unparsed."""
    if reading.number is not None:
        total = f"/{reading.number.printed_total}" if reading.number.printed_total else ""
        return f"{reading.number.number}{total}" + (f" {reading.set_code}" if reading.set_code else "")
    # e.g. "0257165": the slash read as 7
    return next((text for text, score in reading.lines if score >= 0.6 and any(c.isdigit() for c in text)), None)
