"""Combining the evidence of several frames of one track (``app.match.decision`` judges it).

Each embedded crop adds its L2-normalised vector (both ways up: the orientation classifier is good,
the match is the final word); the decision is made on the normalised mean, which averages away the
glare, blur and noise of single frames.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from app.config import LiveConfig, MatchConfig, default_of
from app.match.decision import Decision, better_way_up, frame_best
from app.match.matcher import Matcher

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class VotingConfig:
    """How many frames must agree and for how long: the ``[live]`` settings of the same names (their
    defaults, ranges and descriptions are defined there), plus the pipeline's own pacing."""

    min_votes: int = default_of(LiveConfig, "min_votes")
    min_votes_reject: int = default_of(LiveConfig, "min_votes_reject")
    decide_within_s: float = default_of(LiveConfig, "decide_within_s")
    #: A matching threshold (``[match] lookalike_within``) the votes apply per frame.
    lookalike_within: float = default_of(MatchConfig, "lookalike_within")
    #: Number-strip reads per track before giving up on OCR: several must fit in ``decide_within_s``,
    #: or a look-alike held up for all of it stops being read early and ends ``uncertain`` where a
    #: later read would have named it (bench/live.py's replay).
    max_ocr_attempts: int = default_of(LiveConfig, "max_ocr_attempts")
    #: The number is read from this many of the card's latest still frames, aligned and averaged
    #: (``app.ocr.fusion``): bench/number_frames.py measures how much more often it reads right.
    number_frames: int = default_of(LiveConfig, "number_frames")
    #: A new picture in a presentation's place whose embedding (either way up) is less like the
    #: presentation's than this is another card (or its back): the presentation ends, a new one begins.
    same_card_above: float = default_of(LiveConfig, "same_card_above")
    #: A presentation decided ``uncertain``/``unknown`` embeds at most one crop this often while it
    #: stays (it keeps looking for a clearer answer without taking the worker from undecided cards).
    second_look_every_s: float = 0.2


@dataclass
class TrackVotes:
    """The running evidence of one track."""

    upright_sum: npt.NDArray[np.float32] | None = None
    turned_sum: npt.NDArray[np.float32] | None = None
    count: int = 0
    #: Per-frame best card ids (to require the latest frames to agree with the mean).
    frame_best: list[str | None] = field(default_factory=list)

    def add(self, upright: npt.NDArray[np.float32], turned: npt.NDArray[np.float32], best: str | None) -> None:
        self.upright_sum = upright.copy() if self.upright_sum is None else self.upright_sum + upright
        self.turned_sum = turned.copy() if self.turned_sum is None else self.turned_sum + turned
        self.count += 1
        self.frame_best.append(best)

    def mean_vectors(self) -> npt.NDArray[np.float32]:
        """[2, D]: the normalised mean upright and turned embeddings."""
        assert self.upright_sum is not None and self.turned_sum is not None
        stacked = np.stack([self.upright_sum, self.turned_sum]).astype(np.float32)
        return stacked / np.maximum(np.linalg.norm(stacked, axis=1, keepdims=True), 1e-12)


@dataclass(frozen=True)
class VoteOutcome:
    match: Decision
    #: True when the mean matched better turned by 180° than as the finder oriented the card.
    turned: bool
    votes: int
    #: The frames agree with the mean's best card.
    consistent: bool


def combined_match(matcher: Matcher, votes: TrackVotes, k: int = 5) -> VoteOutcome:
    upright, turned = matcher.match(votes.mean_vectors(), k)
    match, flip = better_way_up(upright, turned)
    best_key = frame_best(match)
    consistent = all(b == best_key for b in votes.frame_best[-2:])
    return VoteOutcome(match, flip, votes.count, consistent)
