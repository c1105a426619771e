from __future__ import annotations

import numpy as np

from app.vision.detect import CardQuad
from app.vision.finder import FoundCard
from app.vision.geometry import quad_iou
from app.vision.tracker import CardTracker, TrackerConfig
from app.vision.warp import WarpedCard


def card_at(x: float, y: float, sharpness: float = 200.0, glare: float = 0.0) -> FoundCard:
    corners = np.array([[x, y], [x + 126, y], [x + 126, y + 176], [x, y + 176]], np.float64)
    warped = WarpedCard(np.zeros((614, 440, 3), np.uint8), corners, 1.0, False)
    return FoundCard(CardQuad(corners, 0.99, 40.0, 0.05), warped, sharpness, glare, 0.0)


def feed(tracker: CardTracker, frames: list[list[FoundCard]], fps: float = 30.0, start: float = 0.0):  # type: ignore[no-untyped-def]
    ended_all = []
    for i, cards in enumerate(frames):
        _, ended = tracker.update(cards, start + i / fps)
        ended_all += ended
    return ended_all


def test_iou_of_identical_and_disjoint_quads() -> None:
    a = card_at(0, 0).corners
    assert quad_iou(a, a) == 1.0
    assert quad_iou(a, card_at(500, 0).corners) == 0.0


def test_a_still_sharp_card_becomes_steady_after_the_configured_frames() -> None:
    tracker = CardTracker(TrackerConfig(steady_frames=2))
    feed(tracker, [[card_at(100, 100)]])
    (track,) = tracker.tracks.values()
    assert track.state == "looking"
    feed(tracker, [[card_at(100.5, 100)], [card_at(100, 100.5)]], start=1 / 30)
    assert track.state == "steady" and track.steady_since is not None


def test_a_moving_or_blurred_card_is_not_steady() -> None:
    tracker = CardTracker()
    feed(tracker, [[card_at(100 + 15 * i, 100)] for i in range(10)])
    assert [t.state for t in tracker.tracks.values()] == ["looking"]
    blurred = CardTracker()
    feed(blurred, [[card_at(100, 100, sharpness=5.0)] for _ in range(10)])
    assert [t.state for t in blurred.tracks.values()] == ["looking"]


def test_two_cards_keep_their_own_tracks() -> None:
    tracker = CardTracker()
    feed(tracker, [[card_at(100, 100), card_at(600, 100)] for _ in range(5)])
    assert len(tracker.tracks) == 2
    assert all(t.frames_seen == 5 for t in tracker.tracks.values())


def test_a_short_dropout_keeps_the_track_and_a_long_one_ends_it() -> None:
    tracker = CardTracker(TrackerConfig(lost_after_s=0.7))
    frames = [[card_at(100, 100)]] * 10 + [[]] * 10 + [[card_at(100, 100)]] * 5  # 0.33 s gap
    assert feed(tracker, frames) == []
    assert [t.track_id for t in tracker.tracks.values()] == [1]
    ended = feed(tracker, [[]] * 30, start=25 / 30)  # 1 s away
    assert [t.track_id for t in ended] == [1] and not tracker.tracks
    feed(tracker, [[card_at(100, 100)]], start=3.0)
    assert [t.track_id for t in tracker.tracks.values()] == [2]  # re-presented: a new track
