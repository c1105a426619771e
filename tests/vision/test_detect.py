"""The card finder's bar: simulated captures, empty scenes, binder pages and real eBay photos."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.vision.detect import CardDetector, DetectorSettings
from app.vision.finder import CardFinder
from app.vision.geometry import mean_corner_error, quad_diagonal, quad_iou
from app.vision.segment import SegmentationResult
from app.vision.warp import warp_card
from models.finder.data import ebay_card_textures
from models.sim.capture_sim import (
    CaptureSimulator,
    SimOptions,
    catalogue_image_paths,
    load_card_texture,
    render_background,
)
from models.sim.multicard import MultiCardScene, MultiCardSimulator, score_scene
from tests.vision.finder_runs import errors_with_and_without

LOCATED = 0.05  # a card counts as found when its mean corner error is within 5 % of the diagonal


@pytest.fixture(scope="module")
def detector() -> CardDetector:
    return CardDetector()


@pytest.fixture(scope="module")
def simulator(catalog_dir: Path) -> CaptureSimulator:
    return CaptureSimulator.from_paths(catalogue_image_paths(catalog_dir), SimOptions(size=(960, 540)))


def corner_errors(detector: CardDetector, simulator: CaptureSimulator, n: int, seed: int) -> list[float]:
    """Per capture: the best match's mean corner error / diagonal (inf when nothing matched)."""
    rng = np.random.default_rng(seed)
    errors = []
    for _ in range(n):
        capture = simulator.render(rng)
        truth = capture.quads[0]
        quads = detector.find_quads(capture.image)
        best = min((mean_corner_error(q.corners, truth) for q in quads), default=np.inf)
        errors.append(best / quad_diagonal(truth) if len(quads) == 1 else np.inf)
    return errors


@pytest.mark.slow
def test_locates_simulated_cards_with_mean_corner_error_within_1_5_percent(detector, simulator) -> None:
    """Issue bar: 99 % located, mean corner error ≤ 1.5 %. Measured: 99.2 % (4 misses) and 0.32 %
    (bench/detect.py, the same 500 captures; 98.6–99.5 % of other 1,000-capture samples, 99.05 % of all
    7,700, see README). The error is also pinned near its level, so a regression fails (without the
    edge check of app/vision/sides.py it is 0.70 %)."""
    errors = np.array(corner_errors(detector, simulator, 500, seed=2024))
    located = errors <= LOCATED
    assert located.mean() >= 0.99, f"located {located.mean():.1%}"
    assert errors[located].mean() <= 0.015, f"mean corner error {errors[located].mean():.2%} of the diagonal"
    assert errors[located].mean() <= 0.005, f"mean corner error {errors[located].mean():.2%}: the edge check?"


def test_reports_no_card_on_card_free_backgrounds(detector) -> None:
    rng = np.random.default_rng(77)
    found = 0
    for i in range(100):
        size = (1280, 720) if i % 2 else (640, 480)
        found += len(detector.find_quads(render_background(rng, size, clutter=i % 3 != 0)))
    assert found == 0


def test_binder_page_with_four_cards_gives_four_quads(detector, simulator) -> None:
    rng = np.random.default_rng(11)
    for _ in range(5):
        capture = simulator.render_binder_page(rng, n_cards=4)
        quads = detector.find_quads(capture.image)
        assert len(quads) == 4
        for truth in capture.quads:
            best = min(mean_corner_error(q.corners, truth) for q in quads)
            assert best / quad_diagonal(truth) < LOCATED


def test_the_corner_rebuild_loses_no_card_the_network_outlined(catalog_dir: Path) -> None:
    """The first 10 of ``bench/detect.py --seed 17 --size 1280x720``'s captures: no card is lost to the
    rebuild. (With the network before its multi-card retraining, the rebuild also located capture 5 — a
    side along a finger-like occluder, 8.5 → 0.1 % of the diagonal; the retrained network outlines it
    at 0.15 % without, and the rebuild changed none of 240 captures of seeds 13 and 17. What it mends is
    pinned on dragged outlines by the test above.)"""
    rebuilt, without = errors_with_and_without(
        catalog_dir, replace(DetectorSettings(), rebuild_corner_min_deviation=None), 17, 10, (1280, 720)
    )
    assert not ((without <= LOCATED) & (rebuilt > LOCATED)).any(), "a card lost to the rebuild"
    assert (rebuilt <= LOCATED).all()


def test_an_outline_band_drawn_inside_the_card_is_reached_past(simulator) -> None:
    """The network's outline band 3 map pixels inside the card's top edge stops the blob short of it;
    the wide reach outlines the card closer than the tight one alone. (The edge check, which runs after
    it, mends this side too; it is off here to pin the reach itself.)"""
    card = np.array([[300.0, 100.0], [540.0, 100.0], [540.0, 435.0], [300.0, 435.0]])
    frame_per_map_px = 7.5  # a 960×540 frame, as CardSegmenter maps it
    corners = np.round((card / frame_per_map_px - 0.5) * 8).astype(np.int32)  # 3 fractional bits
    card_map = np.zeros((72, 128), np.uint8)
    band = np.zeros((72, 128), np.uint8)
    cv2.fillConvexPoly(card_map, corners, 255, cv2.LINE_AA, shift=3)
    cv2.polylines(band, [corners], True, 255, 2, cv2.LINE_AA, shift=3)
    inner = int(corners[0, 1] + 3 * 8)
    cv2.line(band, (int(corners[0, 0]), inner), (int(corners[1, 0]), inner), 255, 2, cv2.LINE_AA, shift=3)
    seg = SegmentationResult(card_map / np.float32(255), band / np.float32(255), frame_per_map_px, offset=0.5)
    rng = np.random.default_rng(3)
    for index in (0, 7, 21):
        image = simulator.render_scene(rng, [(index, card)]).image
        errors = []
        for wide in (0, 2):
            settings = DetectorSettings(wide_reach_map_px=wide, edge_check=False)
            (quad,) = CardDetector(settings).quads_from_segmentation(image, seg)
            errors.append(mean_corner_error(quad.corners, card) / quad_diagonal(card))
        assert errors[1] < errors[0] - 0.005, errors  # half a percent of the diagonal closer, or more


@pytest.mark.slow
def test_real_ebay_photos_outline_overlaps_the_labelled_card_box(detector, ebay_dir: Path) -> None:
    boxes = {}
    with open(ebay_dir / "boxes.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["class"] == "Card":
                boxes.setdefault(row["filename"], []).append(row)
    single = {name: rows[0] for name, rows in boxes.items() if len(rows) == 1}
    good = 0
    for name, row in single.items():
        image = cv2.imread(str(ebay_dir / "images" / name))
        x0, y0, x1, y1 = (float(row[k]) for k in ("xmin", "ymin", "xmax", "ymax"))
        box = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
        quads = detector.find_quads(image)
        if quads and max(quad_iou(q.corners, box) for q in quads) >= 0.85:
            good += 1
    assert good / len(single) >= 0.95, f"IoU ≥ 0.85 on {good}/{len(single)} photos"


def test_upside_down_card_comes_out_upright(catalog_dir: Path) -> None:
    paths = catalogue_image_paths(catalog_dir)
    sim = CaptureSimulator.from_paths(paths[:60:6], SimOptions(size=(960, 540), max_tilt_deg=15.0))
    finder = CardFinder()
    rng = np.random.default_rng(8)
    flipped_right = 0
    for index in range(len(sim.textures)):
        quad = sim.pose(rng, 380.0, roll=np.pi + rng.normal(0, 0.2))  # upside down, a little skewed
        capture = sim.render_scene(rng, [(index, quad)])
        cards = finder.find_cards(capture.image)
        assert len(cards) == 1
        assert cards[0].warped.was_flipped
        upright = sim.textures[index]
        crop = cv2.resize(cards[0].warped.image, upright.shape[1::-1])
        same = cv2.matchTemplate(crop, upright, cv2.TM_CCOEFF_NORMED)[0, 0]
        turned = cv2.matchTemplate(crop, cv2.rotate(upright, cv2.ROTATE_180), cv2.TM_CCOEFF_NORMED)[0, 0]
        flipped_right += int(same > turned)
        finder.reset()
    assert flipped_right == len(sim.textures)


def test_warp_keeps_the_whole_card_name_and_number_included(catalog_dir: Path) -> None:
    texture = load_card_texture(catalogue_image_paths(catalog_dir)[0])
    frame = np.full((900, 1200, 3), 40, np.uint8)
    quad = np.array([[300.0, 100.0], [740.0, 100.0], [740.0, 714.0], [300.0, 714.0]])
    frame[100:714, 300:740] = texture
    warped = warp_card(frame, quad)
    assert warped.image.shape == (614, 440, 3)
    assert not warped.was_flipped
    diff = np.abs(warped.image.astype(int) - texture.astype(int))
    assert diff[:40].mean() < 12 and diff[-40:].mean() < 12  # top (name) and bottom (number) strips


def test_quality_signals_respond_to_blur_glare_and_motion(catalog_dir: Path) -> None:
    sim = CaptureSimulator.from_paths(
        catalogue_image_paths(catalog_dir)[:1], SimOptions(size=(960, 540), max_tilt_deg=0.0)
    )
    rng = np.random.default_rng(3)
    quad = sim.pose(rng, 420.0, roll=0.0)
    background = render_background(rng, (960, 540), clutter=False)
    sharp = sim.render_scene(rng, [(0, quad)], background=background, effects=False).image
    finder = CardFinder()
    first = finder.find_cards(sharp)[0]
    again = finder.find_cards(sharp)[0]
    assert first.motion == 1.0 and again.motion < 0.002
    moved = sim.render_scene(rng, [(0, quad + 25.0)], background=background, effects=False).image
    assert 0.01 < finder.find_cards(moved)[0].motion < 0.1
    blurred = finder.find_cards(cv2.GaussianBlur(sharp, (0, 0), 3.0))[0]
    assert blurred.sharpness < 0.5 * first.sharpness
    glared = sharp.copy()
    centre = quad.mean(axis=0).astype(int)
    cv2.circle(glared, (int(centre[0]), int(centre[1])), 70, (255, 255, 255), -1)
    assert finder.find_cards(glared)[0].glare > first.glare + 0.05


# ---------------------------------------------------------------------- several cards in one view


@pytest.fixture(scope="module")
def multicard(catalog_dir: Path, ebay_dir: Path) -> MultiCardSimulator:
    """Multi-card scenes with real card faces: catalogue scans and card crops cut out of the eBay photos
    (the held-out ones, which trained nothing). Every pocket filled."""
    faces = [load_card_texture(p) for p in catalogue_image_paths(catalog_dir)[::12]]
    faces += ebay_card_textures(ebay_dir, "heldout")[::4]
    return MultiCardSimulator(faces, empty_pocket_prob=0.0)


def _found_and_pages(detector: CardDetector, scene: MultiCardScene) -> tuple[int, int]:
    """Cards found whole and outlines holding two or more cards' centres (a page or a group as a card)."""
    score = score_scene(scene, [q.corners for q in detector.find_quads(scene.image)])
    return score["found"], score["pages_as_cards"]


def test_a_3x3_binder_page_is_found_card_by_card_and_never_as_one_card(detector, multicard) -> None:
    """A sleeved 3×3 page nearly has a card's shape; the network shipped before multi-card scenes
    outlined it as one card (1 of 9 found on a real photo)."""
    for seed in range(3):
        scene = multicard.render(np.random.default_rng(seed), "binder_3x3", (1280, 960))
        found, pages = _found_and_pages(detector, scene)
        assert pages == 0, f"seed {seed}: the page was reported as a card"
        assert found >= 8, f"seed {seed}: {found} of {len(scene.cards)} cards"


def test_a_2x2_binder_page_is_found_card_by_card_and_never_as_one_card(detector, multicard) -> None:
    found = present = 0
    for seed in range(4):
        scene = multicard.render(np.random.default_rng(seed), "binder_2x2", (1280, 960))
        cards, pages = _found_and_pages(detector, scene)
        assert pages == 0, f"seed {seed}: the page was reported as a card"
        found, present = found + cards, present + len(scene.cards)
    assert found >= 0.8 * present, f"{found} of {present} cards"


def test_a_far_binder_page_is_found_by_the_fine_network_pass(detector, multicard) -> None:
    """A 3×3 page seen small: its cards are a few of the network's map pixels across at its usual
    size, and the second pass at twice the size outlines them."""
    coarse_only = CardDetector(replace(detector.settings, fine_long_side=None), detector.segmenter)
    with_fine = without = present = 0
    for seed in range(3):
        scene = multicard.render(np.random.default_rng(seed), "binder_3x3_small", (1280, 720))
        with_fine += _found_and_pages(detector, scene)[0]
        without += _found_and_pages(coarse_only, scene)[0]
        present += len(scene.cards)
    assert with_fine >= 0.75 * present, f"{with_fine} of {present} cards"
    assert with_fine > without
