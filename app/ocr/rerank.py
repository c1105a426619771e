"""Re-ranking the top-k with the collector number read from the card (pure functions)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

from app.match.matcher import Candidate
from app.ocr.number import metadata_number, numbers_agree, printed_in_text
from app.ocr.reader import StripReading

logger = logging.getLogger(__name__)

Verdict = Literal["confirmed", "reranked", "contradicted", "illegible"]


@dataclass(frozen=True)
class RerankResult:
    verdict: Verdict
    #: The candidate the number supports (None when it supports none of them or was not read).
    card_id: str | None
    candidates: list[Candidate]


def rerank_by_number(
    candidates: list[Candidate],
    reading: StripReading,
    metadata: dict[str, dict[str, Any]],
    max_drop: float = 0.08,
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
    reordered = [chosen] + [c for c in candidates if c.card_id != chosen.card_id]
    verdict: Verdict = "confirmed" if chosen.card_id == candidates[0].card_id else "reranked"
    logger.info("Number %s %s %s", reading.number, verdict, chosen.card_id)
    return RerankResult(verdict, chosen.card_id, reordered)
