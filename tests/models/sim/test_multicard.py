"""Multi-card scenes: binder pages, top-loader rows, touching and cut cards (models/sim/multicard.py)."""

from __future__ import annotations

import numpy as np
import pytest

from app.vision.geometry import CARD_ASPECT, is_convex, polygon_area, side_lengths
from models.sim.multicard import SCENE_KINDS, MultiCardSimulator


def _textures(n: int = 4) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 255, (614, 440, 3), dtype=np.uint8) for _ in range(n)]


@pytest.fixture(scope="module")
def sim() -> MultiCardSimulator:
    return MultiCardSimulator(_textures(), empty_pocket_prob=0.0)


def test_same_seed_gives_the_same_scene_bit_for_bit(sim: MultiCardSimulator) -> None:
    a = sim.render(np.random.default_rng(3), "binder_3x3", (640, 480))
    b = sim.render(np.random.default_rng(3), "binder_3x3", (640, 480))
    assert np.array_equal(a.image, b.image)
    assert all(np.array_equal(p, q) for p, q in zip(a.cards, b.cards, strict=True))


@pytest.mark.parametrize("kind", SCENE_KINDS)
def test_every_ground_truth_card_is_card_shaped_and_fully_inside_the_frame(sim: MultiCardSimulator, kind: str) -> None:
    for seed in range(3):
        scene = sim.render(np.random.default_rng(seed), kind, (640, 480))
        assert scene.image.shape == (480, 640, 3) and scene.image.dtype == np.uint8
        assert len(scene.cards) >= 2
        for quad in scene.cards:
            assert is_convex(quad)
            assert (quad >= 0).all() and (quad[:, 0] < 640).all() and (quad[:, 1] < 480).all()
            sides = side_lengths(quad)
            aspect = (sides[0] + sides[2]) / (sides[1] + sides[3])
            assert 0.5 < min(aspect, 1 / aspect) / CARD_ASPECT < 1.5


@pytest.mark.parametrize(("kind", "pockets"), [("binder_2x2", 4), ("binder_3x3", 9), ("binder_4x3", 12)])
def test_a_full_binder_page_holds_a_card_in_every_pocket_and_is_itself_no_card(
    sim: MultiCardSimulator, kind: str, pockets: int
) -> None:
    scene = sim.render(np.random.default_rng(1), kind, (1280, 960))
    assert len(scene.cards) + len(scene.cut) == pockets
    assert len(scene.pages) == 1
    assert polygon_area(scene.pages[0]) > pockets * polygon_area(scene.cards[0])


def test_a_view_cut_by_the_frame_lists_the_cut_cards_apart(sim: MultiCardSimulator) -> None:
    cut = sum(len(sim.render(np.random.default_rng(seed), "cut_by_frame", (1280, 720)).cut) for seed in range(3))
    assert cut > 0


def test_an_unknown_scene_kind_is_a_clear_error(sim: MultiCardSimulator) -> None:
    with pytest.raises(ValueError, match="unknown scene kind 'binder_9x9'"):
        sim.render(np.random.default_rng(0), "binder_9x9")


def test_no_textures_or_a_wrong_empty_pocket_share_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="at least one card texture"):
        MultiCardSimulator([])
    with pytest.raises(ValueError, match="empty_pocket_prob"):
        MultiCardSimulator(_textures(), empty_pocket_prob=1.5)
