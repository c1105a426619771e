from __future__ import annotations

from dataclasses import replace

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


def pictured(x: float, picture: np.ndarray) -> FoundCard:
    """A card at ``(x, 100)`` whose straightened picture is ``picture`` (a thumbnail)."""
    card = card_at(x, 100)
    flat = picture.astype(np.float32) - picture.mean()
    return replace(card, thumbnail=np.asarray(flat / np.linalg.norm(flat), np.float32))


def thumbnails(seed: int, count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.random((31, 22)) for _ in range(count)]


def test_a_new_picture_held_in_a_cards_place_is_flagged_after_the_configured_frames() -> None:
    first, second = thumbnails(1, 2)
    tracker = CardTracker(TrackerConfig(changed_frames=3))
    feed(tracker, [[pictured(100, first)]] * 5)
    (track,) = tracker.tracks.values()
    assert track.state == "steady" and not track.appearance_changed
    feed(tracker, [[pictured(100, second)]] * 2, start=5 / 30)
    assert not track.appearance_changed
    feed(tracker, [[pictured(100, second)]], start=7 / 30)
    assert track.appearance_changed and len(tracker.tracks) == 1


def test_a_passing_hand_changing_the_picture_every_frame_is_never_a_new_picture() -> None:
    card, *hand = thumbnails(2, 8)
    tracker = CardTracker(TrackerConfig(changed_frames=3))
    feed(tracker, [[pictured(100, card)]] * 5)
    (track,) = tracker.tracks.values()
    feed(tracker, [[pictured(100, 0.5 * card + picture)] for picture in hand], start=5 / 30)
    assert not track.appearance_changed
    feed(tracker, [[pictured(100, card)]] * 3, start=13 / 30)
    assert not track.appearance_changed and track.changed_run == 0


def test_the_same_card_turned_round_is_not_a_new_picture() -> None:
    (card,) = thumbnails(3, 1)
    tracker = CardTracker()
    feed(tracker, [[pictured(100, card)]] * 5 + [[pictured(100, card[::-1, ::-1])]] * 5)
    (track,) = tracker.tracks.values()
    assert not track.appearance_changed


def test_a_picture_confirmed_the_same_card_becomes_the_reference() -> None:
    first, second = thumbnails(4, 2)
    tracker = CardTracker(TrackerConfig(changed_frames=2))
    feed(tracker, [[pictured(100, first)]] * 4 + [[pictured(100, second)]] * 2)
    (track,) = tracker.tracks.values()
    assert track.appearance_changed
    tracker.confirm_same(track)
    feed(tracker, [[pictured(100, second)]] * 4, start=6 / 30)
    assert not track.appearance_changed


def test_a_split_track_ends_and_a_new_one_continues_in_its_place() -> None:
    tracker = CardTracker()
    feed(tracker, [[card_at(100, 100)]] * 5)
    (old,) = tracker.tracks.values()
    fresh = tracker.split(old, 5 / 30)
    assert list(tracker.tracks) == [fresh.track_id] and fresh.track_id != old.track_id
    assert fresh.state == "looking" and np.array_equal(fresh.corners, old.corners)
    feed(tracker, [[card_at(100, 100)]] * 3, start=6 / 30)
    assert fresh.state == "steady" and len(tracker.tracks) == 1


def test_a_card_hidden_shorter_than_the_default_stays_and_longer_ends() -> None:
    tracker = CardTracker()
    ended = feed(tracker, [[card_at(100, 100)]] * 5 + [[]] * 6 + [[card_at(100, 100)]] * 3)  # 200 ms hidden
    assert ended == [] and len(tracker.tracks) == 1
    ended = feed(tracker, [[]] * 20 + [[card_at(100, 100)]], start=14 / 30)  # 20 frames away: taken away
    assert len(ended) == 1 and [t.track_id for t in tracker.tracks.values()] == [2]


def test_a_changed_picture_that_goes_back_to_the_card_clears_the_flag() -> None:
    """A hand resting on the card, then lifted: the card's own picture again is no new card."""
    card, hand = thumbnails(5, 2)
    tracker = CardTracker(TrackerConfig(changed_frames=3))
    feed(tracker, [[pictured(100, card)]] * 5 + [[pictured(100, hand)]] * 4)
    (track,) = tracker.tracks.values()
    assert track.appearance_changed
    feed(tracker, [[pictured(100, card)]], start=9 / 30)
    assert not track.appearance_changed and track.changed_run == 0
