"""Follows each card across frames and decides when it is steady enough to identify.

One track = one *presentation* of a card: it starts when a card appears, survives short detection
drop-outs (a finger, a hand passing over, a glare flash), and ends when the card has been out of view
for ``lost_after_s``. A card replaced in place (another card slid onto the stand, the card turned to
its back) keeps the outline but not the picture: each track compares the card's straightened picture
(the finder's tiny thumbnail) with the one it had when it turned steady, and flags a *new, stable*
picture (``Track.appearance_changed``) for the pipeline to confirm with the embedding and split
(:meth:`CardTracker.split`). A passing hand changes the picture from frame to frame, so it never makes
a stable new picture. Time is the frames' own timestamps, so a recorded file gives the same tracks on
any machine.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from app.config import LiveConfig, default_of
from app.vision.finder import FoundCard
from app.vision.geometry import FloatArray, quad_diagonal, quad_iou

logger = logging.getLogger(__name__)

TrackState = Literal["looking", "steady", "identified", "uncertain", "unknown", "card_back"]
Thumbnail = npt.NDArray[np.float32]


@dataclass(frozen=True)
class TrackerConfig:
    """When a card is still, sharp and unchanged: the ``[live]`` settings of the same names (their
    defaults and ranges are defined there), plus the tracker's own overlap rule."""

    max_motion: float = default_of(LiveConfig, "max_motion")
    min_sharpness: float = default_of(LiveConfig, "min_sharpness")
    max_glare: float = default_of(LiveConfig, "max_glare")
    steady_frames: int = default_of(LiveConfig, "steady_frames")
    lost_after_s: float = default_of(LiveConfig, "lost_after_s")
    #: Overlap (IoU of the quads) a detection needs to continue a track.
    min_iou: float = 0.3
    #: The card's thumbnail correlates with its steady picture below this: the picture changed (the
    #: same card between frames: ≥ 0.95; two catalogue cards: ~0.16 typically — see
    #: ``FollowSettings.min_similarity``).
    changed_below: float = default_of(LiveConfig, "changed_below")
    #: Consecutive frames showing one changed picture (each like the frame before) that make it a new
    #: picture: a card laid in place holds still, a passing hand never does.
    changed_frames: int = default_of(LiveConfig, "changed_frames")


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
    #: The card's thumbnail when it turned steady, or when its picture was last confirmed the same.
    reference: Thumbnail | None = field(default=None, repr=False)
    #: Consecutive frames showing one picture other than ``reference`` (see ``changed_frames``).
    changed_run: int = 0
    #: The changed picture of the last such frame.
    changed_to: Thumbnail | None = field(default=None, repr=False)
    appearance_changed: bool = False

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
        self._watch_appearance(track, card)
        if track.decided:
            return
        if track.still_frames >= config.steady_frames:
            if track.state == "looking":
                track.state = "steady"
                track.steady_since = timestamp
                track.reference = card.thumbnail
        elif track.state == "steady" and motion > 4 * config.max_motion:
            # Moved a lot (re-positioned): back to looking; gentle shake keeps it steady.
            track.state = "looking"
            track.steady_since = None

    def _watch_appearance(self, track: Track, card: FoundCard) -> None:
        config = self.config
        thumbnail = card.thumbnail
        if track.reference is None or thumbnail is None:
            return
        if picture_similarity(thumbnail, track.reference) >= config.changed_below:
            # The card's own picture again (a hand lifted, glare gone): nothing changed after all.
            track.changed_run, track.changed_to, track.appearance_changed = 0, None, False
            return
        held = track.changed_to is not None and picture_similarity(thumbnail, track.changed_to) >= config.changed_below
        track.changed_run = track.changed_run + 1 if held else 1
        track.changed_to = thumbnail
        if track.changed_run >= config.changed_frames and not track.appearance_changed:
            track.appearance_changed = True
            logger.debug("Track %d shows a new picture", track.track_id)

    def confirm_same(self, track: Track) -> None:
        """The changed picture is the same card after all (light, a sleeve's glare): it becomes the
        reference."""
        track.reference = track.changed_to if track.changed_to is not None else track.card.thumbnail
        track.changed_run, track.changed_to, track.appearance_changed = 0, None, False

    def split(self, track: Track, timestamp: float) -> Track:
        """The card in ``track``'s place is another presentation: ``track`` ends (the caller reports
        it) and a new track continues from its latest find."""
        del self.tracks[track.track_id]
        fresh = Track(self._next_id, timestamp, timestamp, track.card)
        self._next_id += 1
        self.tracks[fresh.track_id] = fresh
        logger.debug("Track %d split: track %d continues in its place", track.track_id, fresh.track_id)
        return fresh

    def end_all(self) -> list[Track]:
        ended = list(self.tracks.values())
        self.tracks.clear()
        return ended


def picture_similarity(a: Thumbnail, b: Thumbnail) -> float:
    """Normalised correlation of two card thumbnails, either way up (the orientation classifier may
    turn a card between frames; a card's picture turned over is still its picture)."""
    return max(float(np.dot(a.ravel(), b.ravel())), float(np.dot(a.ravel(), b[::-1, ::-1].ravel())))


def _aligned(previous: FloatArray, current: FloatArray) -> FloatArray:
    """``previous`` with its corners rolled to best match ``current`` (the orientation classifier may
    turn a card between frames, which is not motion)."""
    best = min(range(4), key=lambda k: float(np.sum((np.roll(previous, k, axis=0) - current) ** 2)))
    return np.roll(previous, best, axis=0)
