from __future__ import annotations

import numpy as np

from app.vision.geometry import CARD_ASPECT, is_convex
from models.sim.capture_sim import CaptureSimulator, SimOptions, render_background, render_clip


def _textures(n: int = 3) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 255, (614, 440, 3), dtype=np.uint8) for _ in range(n)]


def test_same_seed_gives_the_same_frame_bit_for_bit() -> None:
    sim = CaptureSimulator(_textures(), SimOptions(size=(320, 240)))
    a = sim.render(np.random.default_rng(5))
    b = sim.render(np.random.default_rng(5))
    assert np.array_equal(a.image, b.image)
    assert np.allclose(a.quads[0], b.quads[0])
    c = sim.render(np.random.default_rng(6))
    assert not np.array_equal(a.image, c.image)


def test_ground_truth_corners_are_a_convex_card_inside_the_frame() -> None:
    sim = CaptureSimulator(_textures(), SimOptions(size=(640, 360)))
    rng = np.random.default_rng(1)
    for _ in range(20):
        capture = sim.render(rng)
        quad = capture.quads[0]
        assert is_convex(quad)
        assert (quad[:, 0] >= 0).all() and (quad[:, 0] < 640).all()
        assert (quad[:, 1] >= 0).all() and (quad[:, 1] < 360).all()


def test_zero_tilt_card_has_the_card_aspect() -> None:
    sim = CaptureSimulator(_textures(), SimOptions(size=(640, 480), max_tilt_deg=0.0))
    capture = sim.render(np.random.default_rng(2))
    q = capture.quads[0]
    width = np.linalg.norm(q[1] - q[0])
    height = np.linalg.norm(q[3] - q[0])
    assert abs(width / height - CARD_ASPECT) < 0.02


def test_backgrounds_are_deterministic_and_varied() -> None:
    a = render_background(np.random.default_rng(3), (200, 100))
    b = render_background(np.random.default_rng(3), (200, 100))
    c = render_background(np.random.default_rng(4), (200, 100))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_binder_page_has_the_requested_number_of_cards() -> None:
    sim = CaptureSimulator(_textures(), SimOptions(size=(640, 480)))
    capture = sim.render_binder_page(np.random.default_rng(5), n_cards=4)
    assert len(capture.quads) == 4


def test_clip_ground_truth_lists_only_cards_fully_in_view() -> None:
    sim = CaptureSimulator(_textures(2), SimOptions(size=(320, 180)))
    frames = render_clip(sim, np.random.default_rng(6), [0, 1], fps=5.0)
    counts = [len(f.quads) for f in frames]
    assert counts[0] == 0  # the first card is still outside the frame
    assert max(counts) == 1
    assert all(b > a for a, b in zip([f.timestamp for f in frames], [f.timestamp for f in frames][1:], strict=False))


def test_a_held_card_sways_inside_the_frame_over_one_unchanging_scene() -> None:
    sim = CaptureSimulator(_textures(), SimOptions(size=(640, 360)))
    frames = sim.render_held(np.random.default_rng(7), 12)
    again = sim.render_held(np.random.default_rng(7), 12)
    assert all(np.array_equal(a.image, b.image) for a, b in zip(frames, again, strict=True))
    centres = np.array([f.quads[0].mean(axis=0) for f in frames])
    steps = np.linalg.norm(np.diff(centres, axis=0), axis=1)
    assert steps.max() > 0.5 and steps.max() < 12  # moving, at a hand's pace
    for frame in frames:
        quad = frame.quads[0]
        assert is_convex(quad)
        assert (quad >= 0).all() and (quad[:, 0] < 640).all() and (quad[:, 1] < 360).all()
    # One card, one scene: the same card all along, and the frame corner farthest from it unchanged.
    assert len({f.card_indices[0] for f in frames}) == 1
    corners = [(0, 0), (0, 639), (359, 0), (359, 639)]
    y, x = max(corners, key=lambda c: float(np.linalg.norm(centres[0] - (c[1], c[0]))))
    assert all(np.array_equal(f.image[y, x], frames[0].image[y, x]) for f in frames)
