"""CardSegNet's runtime: the mirror pass and its setting."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from app.config import load_settings
from app.engine import make_finder
from app.vision.segment import CardSegmenter
from models.sim.capture_sim import CaptureSimulator, SimOptions, catalogue_image_paths


@pytest.fixture(scope="module")
def frame(catalog_dir: Path) -> np.ndarray:
    # 1280×720 scales to 256×144 with no padding, so a mirrored frame is exactly the mirrored input.
    simulator = CaptureSimulator.from_paths(catalogue_image_paths(catalog_dir)[:20], SimOptions(size=(1280, 720)))
    return simulator.render(np.random.default_rng(3)).image


def mirror_mismatch(segmenter: CardSegmenter, frame: np.ndarray) -> float:
    plain = segmenter.segment(frame)
    mirrored = segmenter.segment(np.ascontiguousarray(frame[:, ::-1]))
    return float(
        max(
            np.abs(plain.card - mirrored.card[:, ::-1]).max(),
            np.abs(plain.outline - mirrored.outline[:, ::-1]).max(),
        )
    )


def test_mirror_pass_gives_the_same_maps_for_a_frame_and_its_mirror_image(frame) -> None:
    assert mirror_mismatch(CardSegmenter(mirror_pass=True), frame) < 1e-4


def test_single_pass_network_is_not_mirror_symmetric_on_its_own(frame) -> None:
    """Why the mirror pass changes anything: one pass outlines a frame and its mirror image differently."""
    assert mirror_mismatch(CardSegmenter(mirror_pass=False), frame) > 0.05


def test_finder_config_can_turn_the_mirror_pass_off(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("CARDSIGHT_CONFIG", str(tmp_path / "absent.toml"))
    assert make_finder(load_settings()).detector.segmenter.mirror_pass is True
    monkeypatch.setenv("CARDSIGHT_FINDER__MIRROR_PASS", "false")
    assert make_finder(load_settings()).detector.segmenter.mirror_pass is False


def test_finder_config_can_turn_the_second_outline_off(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("CARDSIGHT_CONFIG", str(tmp_path / "absent.toml"))
    assert make_finder(load_settings()).detector.settings.wide_reach_map_px == 2
    monkeypatch.setenv("CARDSIGHT_FINDER__SECOND_OUTLINE", "false")
    assert make_finder(load_settings()).detector.settings.wide_reach_map_px == 0


def test_finder_config_can_turn_the_edge_check_off(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("CARDSIGHT_CONFIG", str(tmp_path / "absent.toml"))
    assert make_finder(load_settings()).detector.settings.edge_check is True
    monkeypatch.setenv("CARDSIGHT_FINDER__EDGE_CHECK", "false")
    assert make_finder(load_settings()).detector.settings.edge_check is False


@pytest.mark.parametrize("size", [(1280, 720), (640, 480), (1920, 1080)])
def test_network_input_is_the_area_resized_frame_at_every_frame_size(size: tuple[int, int]) -> None:
    """1280×720 takes the box-filter path (a whole odd factor), the others OpenCV's area resize: the
    network must see the same input either way."""
    from app.vision.segment import MEAN, STD, preprocess

    rng = np.random.default_rng(sum(size))
    frame = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    x, scale = preprocess(frame)
    sw, sh = round(size[0] * scale), round(size[1] * scale)
    small = cv2.resize(frame, (sw, sh), interpolation=cv2.INTER_AREA).astype(np.float32)
    expected = ((small / 255.0 - MEAN) / STD).transpose(2, 0, 1)
    assert np.allclose(x[0, :, :sh, :sw], expected, atol=1e-4)


def test_a_larger_long_side_gives_finer_maps_of_the_same_frame(frame) -> None:
    """The fine pass: the network at twice its size maps each frame pixel onto twice the map pixels."""
    segmenter = CardSegmenter(threads=1)
    usual = segmenter.segment(frame)
    fine = segmenter.segment(frame, long_side=2 * segmenter.long_side)
    assert fine.card.shape == (2 * usual.card.shape[0], 2 * usual.card.shape[1])
    assert fine.frame_per_map_px == pytest.approx(usual.frame_per_map_px / 2)
    # The card is where it was: the fine map shrunk back marks mostly the same pixels.
    shrunk = cv2.resize(fine.card, usual.card.shape[::-1], interpolation=cv2.INTER_AREA)
    assert ((shrunk > 0.5) == (usual.card > 0.5)).mean() > 0.95
