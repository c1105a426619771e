"""The whole-card classifier: whole cards against their halves and against two cards as one."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from app.vision.detect import CardDetector, DetectorSettings
from app.vision.wholeness import quad_wholeness, straightened_for_wholeness, wholeness_score
from models.finder.data import ebay_card_textures
from models.finder.wholeness import halves
from models.sim.capture_sim import CaptureSimulator, SimOptions


def test_whole_cards_score_whole_and_their_halves_do_not(ebay_dir: Path) -> None:
    """On cards the shipped weights never saw (the held-out eBay photos' crops)."""
    sim = CaptureSimulator(ebay_card_textures(ebay_dir, "heldout"), SimOptions(size=(960, 540)))
    rng = np.random.default_rng(21)
    whole, pieces = [], []
    for _ in range(40):
        capture = sim.render(rng)
        card = capture.quads[0]
        whole.append(quad_wholeness(capture.image, card))
        pieces += [quad_wholeness(capture.image, half) for half in halves(card, float(rng.uniform(0.4, 0.6)))]
    assert np.mean(np.array(whole) > 0) >= 0.9
    assert np.mean(np.array(pieces) < 0) >= 0.9


def test_wholeness_does_not_depend_on_which_way_up_the_card_lies(ebay_dir: Path) -> None:
    sim = CaptureSimulator(ebay_card_textures(ebay_dir, "heldout")[:5], SimOptions(size=(960, 540)))
    capture = sim.render(np.random.default_rng(4))
    crop = straightened_for_wholeness(capture.image, capture.quads[0])
    turned = cv2.rotate(crop, cv2.ROTATE_180)
    assert abs(wholeness_score(crop) - wholeness_score(turned)) < 1e-3


def test_missing_or_foreign_weights_fail_with_a_clear_message_at_start_up(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"python -m models\.finder\.wholeness"):
        CardDetector(DetectorSettings(wholeness_weights=tmp_path / "none.npz"))
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, weights=np.zeros(4092, np.float32), bias=np.float32(0))  # the orientation descriptor's length
    with pytest.raises(ValueError, match="4092 weights"):
        CardDetector(DetectorSettings(wholeness_weights=foreign))
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a numpy archive")
    with pytest.raises(ValueError, match="unreadable"):
        CardDetector(DetectorSettings(wholeness_weights=broken))
    # The edge check reads it too (outlines that do not look whole are grown or outlined again); with all
    # of its users turned off, the finder does not need it.
    with pytest.raises(FileNotFoundError, match=r"python -m models\.finder\.wholeness"):
        CardDetector(DetectorSettings(wholeness_weights=tmp_path / "none.npz", rejoin_gap=0, wide_reach_map_px=0))
    CardDetector(
        DetectorSettings(
            wholeness_weights=tmp_path / "none.npz",
            rejoin_gap=0,
            wide_reach_map_px=0,
            edge_recheck_below=None,
            grow_piece_below=None,
        )
    )
