"""Re-ranking the top-k with the collector number read from the card (pure functions)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

from app.match.matcher import Candidate
from app.ocr.number import metadata_number, numbers_agree
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
    if reading.number is None or not candidates:
        return RerankResult("illegible", None, candidates)
    best_similarity = candidates[0].similarity

    def supports(candidate: Candidate) -> bool:
        meta = metadata.get(candidate.card_id, {})
        printed = metadata_number(meta)
        if printed is None or reading.number is None or not numbers_agree(reading.number, printed):
            return False
        code = meta.get("ptcgo_code")
        return not (reading.set_code and code and str(code).upper() != reading.set_code.upper())

    close = [c for c in candidates if best_similarity - c.similarity <= max_drop]
    agreeing = [c for c in close if supports(c)]
    if not agreeing:
        return RerankResult("contradicted", None, candidates)
    chosen = agreeing[0]
    reordered = [chosen] + [c for c in candidates if c.card_id != chosen.card_id]
    verdict: Verdict = "confirmed" if chosen.card_id == candidates[0].card_id else "reranked"
    logger.info("Number %s %s %s", reading.number, verdict, chosen.card_id)
    return RerankResult(verdict, chosen.card_id, reordered)
