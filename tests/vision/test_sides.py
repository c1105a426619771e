"""The card-edge check: straight edges near each side, and the scorer that picks the card's own."""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.vision.detect import CardDetector, DetectorSettings
from app.vision.geometry import line_through, mean_corner_error, order_clockwise, quad_diagonal, quad_iou
from app.vision.sides import (
    DEFAULT_WEIGHTS,
    FEATURE_LENGTH,
    EdgeScorer,
    corrected_sides,
    edge_candidates,
    load_scorer,
    on_frame_border,
    outline_judged_whole,
    side_geometry,
)
from app.vision.wholeness import quad_wholeness
from models.finder.data import ebay_card_textures
from models.finder.sides import displaced, offsets_to
from models.sim.capture_sim import CaptureSimulator, SimOptions
from tests.vision.finder_runs import errors_with_and_without


@pytest.fixture(scope="module")
def heldout_simulator(ebay_dir: Path) -> CaptureSimulator:
    """Cards the shipped scorer never saw: the held-out eBay photos' crops."""
    return CaptureSimulator(ebay_card_textures(ebay_dir, "heldout"), SimOptions(size=(960, 540)))


def test_the_card_edge_is_among_the_straight_edges_found_near_a_side(heldout_simulator) -> None:
    rng = np.random.default_rng(31)
    found = total = 0
    for _ in range(20):
        capture = heldout_simulator.render(rng)
        truth = capture.quads[0].astype(np.float64)
        height, width = capture.image.shape[:2]
        for i in range(4):
            shift = float(rng.choice([-0.08, 0.08]))
            guess = displaced(truth, i, shift, shift)
            side = side_geometry(guess, i)
            if on_frame_border(side, width, height):
                continue
            true = offsets_to(guess, i, line_through(truth[i], truth[(i + 1) % 4]))
            assert true is not None
            total += 1
            found += any(
                max(abs(c.start_offset - true[0]), abs(c.end_offset - true[1])) <= 0.015 * side.depth
                for c in edge_candidates(capture.image, side)
            )
    assert found / total >= 0.85, f"{found}/{total}"


def back_and_closer(
    simulator: CaptureSimulator, seed: int, n: int, ends: Callable[[np.random.Generator], tuple[float, float]]
) -> tuple[int, int]:
    """Of ``n`` captures with one side of the true outline moved by ``ends`` (shares of the card's
    depth at the side's two ends): how many the edge check brings back within 1.5 % of the card's
    diagonal, and how many it brings closer than the guess."""
    rng = np.random.default_rng(seed)
    back = closer = 0
    for _ in range(n):
        capture = simulator.render(rng)
        truth = capture.quads[0].astype(np.float64)
        moved = ends(rng)
        guess = displaced(truth, int(rng.integers(4)), *moved)
        corrected, _ = corrected_sides(capture.image, guess)
        error = mean_corner_error(corrected, truth) / quad_diagonal(truth)
        back += error <= 0.015
        closer += error < mean_corner_error(guess, truth) / quad_diagonal(truth)
    return back, closer


def parallel_shift(rng: np.random.Generator) -> tuple[float, float]:
    shift = float(rng.choice([-1, 1]) * rng.uniform(0.06, 0.1))
    return shift, shift


def one_end_off(rng: np.random.Generator) -> tuple[float, float]:
    far = float(rng.choice([-1, 1]) * rng.uniform(0.12, 0.25))
    return (far, 0.0) if rng.random() < 0.5 else (0.0, far)


def test_a_side_put_on_another_edge_moves_back_to_the_card_edge(heldout_simulator) -> None:
    """One side pulled 6–10 % of the card inwards (onto the art, a printed frame) or outwards (a sleeve,
    the table): the corrected quad is back within 1.5 % of the card's diagonal, and closer than the
    guess, in most captures (34 and 34 of these 40 with the shipped scorer; 22 back with an earlier
    one fitted on the finder's own outlines only)."""
    n = 40
    back, closer = back_and_closer(heldout_simulator, 32, n, parallel_shift)
    assert back / n >= 0.7, f"back on the card edge in {back}/{n}"
    assert closer / n >= 0.75, f"closer in {closer}/{n}"


def test_a_side_with_one_corner_drawn_off_turns_back_to_the_card_edge(heldout_simulator) -> None:
    """One end of a side moved 12–25 % of the card's depth in or out, the other end in place (a finger
    over a corner bit the card's outline, or an object beside the card drew the corner out to it): the
    corrected quad is back within 1.5 % of the card's diagonal, and closer than the guess, in most
    captures (38 and 38 of these 40 with the shipped scorer; 26 and 26 with the previous search, whose
    edges could turn by a fifth of the side's length and lie within 15 % of the card's depth)."""
    n = 40
    back, closer = back_and_closer(heldout_simulator, 35, n, one_end_off)
    assert back / n >= 0.8, f"back on the card edge in {back}/{n}"
    assert closer / n >= 0.8, f"closer in {closer}/{n}"


def test_sides_already_on_the_card_edge_stay_there(heldout_simulator) -> None:
    rng = np.random.default_rng(33)
    errors = []
    for _ in range(40):
        capture = heldout_simulator.render(rng)
        truth = capture.quads[0].astype(np.float64)
        corrected, _ = corrected_sides(capture.image, truth)
        errors.append(mean_corner_error(corrected, truth) / quad_diagonal(truth))
    assert np.mean(np.array(errors) <= 0.01) >= 0.9, np.round(errors, 3)


def rechecked_outlines(
    simulator: CaptureSimulator, seed: int, n: int, sides_off: int
) -> list[tuple[float, float | None]]:
    """For ``n`` captures with ``sides_off`` sides of the true outline moved 5–10 % of the card's depth
    in or out: the guess's corner error and that of :func:`outline_judged_whole`'s outline (None when
    it keeps the guess), as shares of the card's diagonal."""
    rng = np.random.default_rng(seed)
    detector = CardDetector()
    results = []
    for _ in range(n):
        capture = simulator.render(rng)
        truth = capture.quads[0].astype(np.float64)
        guess = truth
        for i in rng.choice(4, sides_off, replace=False):
            shift = float(rng.choice([-1, 1]) * rng.uniform(0.05, 0.1))
            guess = displaced(guess, int(i), shift, shift)
        guess = order_clockwise(guess)
        chosen = outline_judged_whole(
            capture.image, guess, partial(quad_wholeness, capture.image), acceptable=detector.plausible_shape
        )
        diagonal = quad_diagonal(truth)
        results.append(
            (
                mean_corner_error(guess, truth) / diagonal,
                None if chosen is None else mean_corner_error(order_clockwise(chosen), truth) / diagonal,
            )
        )
    return results


def test_an_outline_with_two_sides_off_is_chosen_again_from_their_edges(heldout_simulator) -> None:
    """Two sides off the card: among the combinations of each side's own line and the best other edge
    near it, the most whole-looking one is the card's (28 of these 40 outlines replaced, all closer, 23
    within 1.5 % of the diagonal with the shipped scorer and whole-card classifier)."""
    results = rechecked_outlines(heldout_simulator, 40, 40, sides_off=2)
    replaced = [(guess, chosen) for guess, chosen in results if chosen is not None]
    assert len(replaced) >= 20, f"replaced {len(replaced)}/40"
    assert sum(chosen < guess for guess, chosen in replaced) >= 0.95 * len(replaced)
    assert sum(chosen <= 0.015 for _, chosen in replaced) >= 18


def test_an_outline_on_the_card_edges_is_not_chosen_again(heldout_simulator) -> None:
    results = rechecked_outlines(heldout_simulator, 41, 40, sides_off=0)
    assert sum(chosen is not None for _, chosen in results) <= 1


def test_the_outline_recheck_loses_no_card_the_network_outlined(catalog_dir: Path) -> None:
    """The first 70 of bench/detect.py's ``--seed 5`` captures: no card is lost to the recheck. (With the
    network before its multi-card retraining, the recheck also located capture 65 — a side the per-side
    check left on another edge, 5.6 → 0.1 % of the diagonal; the retrained network's outlines need it on
    none of the first 200. What it mends is pinned on outlines with a side off by the tests above.)"""
    with_recheck, without = errors_with_and_without(
        catalog_dir, replace(DetectorSettings(), edge_recheck_below=None), 5, 70
    )
    assert not ((without <= 0.05) & (with_recheck > 0.05)).any(), "a card lost to the recheck"
    assert (with_recheck <= 0.05).sum() >= 69


def test_a_side_along_the_frame_border_is_left_alone() -> None:
    frame = np.full((200, 300, 3), 40, np.uint8)
    frame[:, 60:150] = 200  # a card cut by the frame's top and bottom edges
    frame[:, 200:202] = 255  # a strong straight line beside it
    quad = np.array([[60.0, 0.0], [149.0, 0.0], [149.0, 199.0], [60.0, 199.0]])
    assert on_frame_border(side_geometry(quad, 0), 300, 200)
    assert on_frame_border(side_geometry(quad, 2), 300, 200)
    corrected, moved = corrected_sides(frame, quad)
    assert np.allclose(corrected[[0, 1], 1], 0.0) and np.allclose(corrected[[2, 3], 1], 199.0)
    assert moved <= 2


def test_the_finder_places_corners_closer_with_the_edge_check(catalog_dir: Path) -> None:
    """On simulated captures: the check must not lose a card and must bring corners closer on average."""
    a, b = errors_with_and_without(catalog_dir, replace(DetectorSettings(), edge_check=False), 34, 40)
    assert (a <= 0.05).sum() >= (b <= 0.05).sum()
    both = (a <= 0.05) & (b <= 0.05)
    assert a[both].mean() < 0.9 * b[both].mean(), (a[both].mean(), b[both].mean())


def test_missing_or_foreign_scorer_fails_with_a_clear_message_at_start_up(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"python -m models\.finder\.sides"):
        CardDetector(DetectorSettings(edge_weights=tmp_path / "none.npz"))
    foreign = tmp_path / "foreign.npz"
    wrong = FEATURE_LENGTH + 5
    EdgeScorer(
        np.zeros(wrong, np.float32),
        np.ones(wrong, np.float32),
        np.zeros((wrong, 8), np.float32),
        np.zeros(8, np.float32),
        np.zeros(8, np.float32),
        0.0,
    ).save(foreign, {})
    with pytest.raises(ValueError, match=f"fitted for {wrong} features"):
        load_scorer(str(foreign))
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a numpy archive")
    with pytest.raises(ValueError, match="unreadable"):
        CardDetector(DetectorSettings(edge_weights=broken))
    # Fitted on another edge search (here: an earlier, narrower one), it has not seen these candidates.
    other = tmp_path / "other_search.npz"
    shipped = load_scorer(str(DEFAULT_WEIGHTS))
    shipped.save(other, {})
    with np.load(other) as data:
        arrays = {k: data[k] for k in data.files}
    np.savez(other, **{**arrays, "search": arrays["search"] * np.array([0.75, 0.6, 0.8, 1.0])})
    with pytest.raises(ValueError, match="another edge search"):
        load_scorer(str(other))
    del arrays["search"]
    np.savez(other, **arrays)
    with pytest.raises(ValueError, match=r"another edge search \(unrecorded"):
        load_scorer(str(other))
    # Turned off, the finder does not need it.
    CardDetector(DetectorSettings(edge_weights=tmp_path / "none.npz", edge_check=False))


def test_sides_of_a_card_filling_a_real_photo_are_not_moved_onto_its_inner_frame(ebay_dir: Path) -> None:
    """Real eBay photos: the card fills the picture, so what lies outside its edge cannot be seen and a
    card back's inner frame or a text box would pass for the edge (it did, on ~half of these photos,
    before such sides were left alone): the check must not take an outline further from the labelled
    card box."""
    boxes = {}
    with open(ebay_dir / "boxes.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["class"] == "Card":
                boxes.setdefault(row["filename"], []).append(row)
    single = sorted(name for name, rows in boxes.items() if len(rows) == 1)[:80]
    with_check = CardDetector()
    without = CardDetector(replace(DetectorSettings(), edge_check=False), segmenter=with_check.segmenter)
    for name in single:
        row = boxes[name][0]
        image = cv2.imread(str(ebay_dir / "images" / name))
        x0, y0, x1, y1 = (float(row[k]) for k in ("xmin", "ymin", "xmax", "ymax"))
        box = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
        seg = with_check.segmenter.segment(image)
        ious = [
            max((quad_iou(q.corners, box) for q in detector.quads_from_segmentation(image, seg)), default=0.0)
            for detector in (with_check, without)
        ]
        assert ious[0] >= ious[1] - 0.01, f"{name}: IoU {ious[1]:.3f} → {ious[0]:.3f}"
