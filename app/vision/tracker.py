"""Follows each card across frames and decides when it is steady enough to identify.

One track = one *presentation* of a card: it starts when a card appears, survives short detection
drop-outs (a finger, a glare flash), and ends when the card has been out of view for ``lost_after_s``.
Time is the frames' own timestamps, so a recorded file gives the same tracks on any machine.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from app.vision.finder import FoundCard
from app.vision.geometry import FloatArray, quad_diagonal, quad_iou

logger = logging.getLogger(__name__)

TrackState = Literal["looking", "steady", "identified", "uncertain", "unknown", "card_back"]


@dataclass(frozen=True)
class TrackerConfig:
    #: Mean corner shift per frame (fraction of the diagonal) under which a card counts as still.
    max_motion: float = 0.015
    #: Laplacian variance (quality.sharpness) a crop needs to be worth embedding.
    min_sharpness: float = 40.0
    #: Blown-out share of the card above which the crop is not embedded.
    max_glare: float = 0.25
    #: Consecutive still frames before a track is steady.
    steady_frames: int = 2
    #: A track unseen this long is over: the card was taken away.
    lost_after_s: float = 0.7
    #: Overlap (IoU of the quads) a detection needs to continue a track.
    min_iou: float = 0.3


@dataclass
class Track:
    track_id: int
    first_seen: float
    last_seen: float
    card: FoundCard
    state: TrackState = "looking"
    still_frames: int = 0
    steady_since: float | None = None
    #: Frames this track was seen in (for tests and the GUI).
    frames_seen: int = 1
    #: Whether the pipeline has emitted an event for this track (then ``lost`` is reported too).
    reported: bool = False
    decided_card_id: str | None = None
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def corners(self) -> FloatArray:
        return self.card.corners

    @property
    def decided(self) -> bool:
        return self.state in ("identified", "uncertain", "unknown", "card_back")


class CardTracker:
    """Greedy IoU association (cards in view are few and rarely overlap). Not thread-safe."""

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self.tracks: dict[int, Track] = {}
        self._next_id = 1

    def update(self, cards: list[FoundCard], timestamp: float) -> tuple[list[Track], list[Track]]:
        """Fold one frame's cards in. Returns (tracks seen in this frame, tracks that just ended)."""
        config = self.config
        pairs = sorted(
            (
                (quad_iou(track.corners, card.corners), track_id, index)
                for track_id, track in self.tracks.items()
                for index, card in enumerate(cards)
            ),
            reverse=True,
        )
        used_tracks: set[int] = set()
        used_cards: set[int] = set()
        seen: list[Track] = []
        for iou, track_id, index in pairs:
            if iou < config.min_iou or track_id in used_tracks or index in used_cards:
                continue
            used_tracks.add(track_id)
            used_cards.add(index)
            track = self.tracks[track_id]
            self._advance(track, cards[index], timestamp)
            seen.append(track)
        for index, card in enumerate(cards):
            if index in used_cards:
                continue
            track = Track(self._next_id, timestamp, timestamp, card)
            self._next_id += 1
            self.tracks[track.track_id] = track
            seen.append(track)
            logger.debug("Track %d starts at %.2f s", track.track_id, timestamp)
        ended = [t for t in self.tracks.values() if timestamp - t.last_seen > config.lost_after_s]
        for track in ended:
            del self.tracks[track.track_id]
            logger.debug("Track %d lost at %.2f s", track.track_id, timestamp)
        return seen, ended

    def _advance(self, track: Track, card: FoundCard, timestamp: float) -> None:
        config = self.config
        diagonal = max(quad_diagonal(card.corners), 1e-6)
        shift = float(np.mean(np.linalg.norm(_aligned(track.corners, card.corners) - card.corners, axis=1)))
        motion = shift / diagonal
        good = motion <= config.max_motion and card.sharpness >= config.min_sharpness and card.glare <= config.max_glare
        track.still_frames = track.still_frames + 1 if good else 0
        track.card = card
        track.last_seen = timestamp
        track.frames_seen += 1
        if track.decided:
            return
        if track.still_frames >= config.steady_frames:
            if track.state == "looking":
                track.state = "steady"
                track.steady_since = timestamp
        elif track.state == "steady" and motion > 4 * config.max_motion:
            # Moved a lot (re-positioned): back to looking; gentle shake keeps it steady.
            track.state = "looking"
            track.steady_since = None

    def end_all(self) -> list[Track]:
        ended = list(self.tracks.values())
        self.tracks.clear()
        return ended


def _aligned(previous: FloatArray, current: FloatArray) -> FloatArray:
    """``previous`` with its corners rolled to best match ``current`` (the orientation classifier may
    turn a card between frames, which is not motion)."""
    best = min(range(4), key=lambda k: float(np.sum((np.roll(previous, k, axis=0) - current) ** 2)))
    return np.roll(previous, best, axis=0)
