"""The layout check: a crop of the card lines up with its reference all over; a card that only shares
the artwork (Base Set original vs Evolutions reprint) does not; and the upgrade rule around it."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from app import PROJECT_ROOT
from app.camera.base import BGRImage
from app.match.bundle import ReferenceBundle
from app.match.layout import LayoutCheck, layout_agreement, layout_signature
from app.match.matcher import Candidate, MatchResult, MatchThresholds
from app.vision.finder import CardFinder
from models.sim.capture_sim import CaptureSimulator, SimOptions, load_card_texture
from tests.match.test_matcher import synthetic_bundle

SHIPPED_THUMBS = PROJECT_ROOT / "reference" / "default" / "thumbs"
#: A real eBay photo of the 1999 Base Set Electabuzz (not in the catalogue), whose artwork is the
#: catalogue's Evolutions Electabuzz, xy12-41: the card model scores them 0.73 alike.
BASE_SET_ELECTABUZZ = "s-l1600---2022-04-26T115401-548_png.rf.0173efcf40c0a9088d341c45e3abead0.jpg"


def scan(catalog_dir: Path, card_id: str) -> BGRImage:
    return load_card_texture(catalog_dir / "images" / card_id.split("-")[0] / f"{card_id}.jpg")


def thumb_signature(card_id: str) -> np.ndarray:
    image = cv2.imread(str(SHIPPED_THUMBS / f"{card_id}.jpg"))
    assert image is not None
    return layout_signature(image)


def test_straightened_captures_line_up_with_their_own_thumbnail_and_not_another(catalog_dir: Path) -> None:
    ids = ["xy12-41", "sv5-97", "sv3pt5-6"]
    sim = CaptureSimulator([scan(catalog_dir, c) for c in ids], SimOptions(size=(1280, 720)))
    rng = np.random.default_rng(41)
    finder = CardFinder()
    own, other = [], []
    for _ in range(2):
        for index, card_id in enumerate(ids):
            finder.reset()
            found = finder.find_cards(sim.render(rng, card_index=index).image)
            assert found
            crop = layout_signature(max(found, key=lambda f: f.quad.area_frac).warped.image)
            own.append(layout_agreement(crop, thumb_signature(card_id)))
            other.append(layout_agreement(crop, thumb_signature(ids[(index + 1) % len(ids)])))
    assert np.median(own) >= 0.9, own
    assert max(other) < 0.5, other


def test_a_base_set_card_does_not_line_up_with_its_evolutions_reprint(ebay_dir: Path) -> None:
    photo = cv2.imread(str(ebay_dir / "images" / BASE_SET_ELECTABUZZ))
    assert photo is not None
    found = CardFinder().find_cards(photo)
    assert len(found) == 1
    agreement = layout_agreement(layout_signature(found[0].warped.image), thumb_signature("xy12-41"))
    assert agreement < MatchThresholds().layout_at - 0.1


# ---------------------------------------------------------------------------- the upgrade rule
@pytest.fixture
def bundle(tmp_path: Path, catalog_dir: Path) -> ReferenceBundle:
    """Three cards with thumbnails: two printings named alike (a and a2) and another (b)."""
    (tmp_path / "thumbs").mkdir()
    for card_id, source in (("a", "sv5-97"), ("a2", "sv5-98"), ("b", "xy12-14")):
        cv2.imwrite(str(tmp_path / "thumbs" / f"{card_id}.jpg"), cv2.resize(scan(catalog_dir, source), (150, 209)))
    bundle = synthetic_bundle(["a", "a2", "b"], np.eye(3, dtype=np.float32))
    bundle.metadata.update({"a": {"name": "Twin"}, "a2": {"name": "Twin"}, "b": {"name": "Other"}})
    bundle.path = tmp_path
    return bundle


def uncertain(card_id: str, similarity: float = 0.6, runner_up: tuple[str, float] = ("b", 0.3)) -> MatchResult:
    alternatives = [Candidate(card_id, similarity, 0.9), Candidate(runner_up[0], runner_up[1], 0.1)]
    return MatchResult("uncertain", card_id, similarity, 0.5, similarity - runner_up[1], alternatives)


def confirm(bundle: ReferenceBundle, match: MatchResult, crop: BGRImage, **thresholds: float) -> MatchResult:
    return LayoutCheck(bundle).confirm(match, crop, MatchThresholds(**thresholds), bundle.metadata, 0.10)


def test_an_uncertain_match_that_lines_up_is_identified(bundle: ReferenceBundle, catalog_dir: Path) -> None:
    confirmed = confirm(bundle, uncertain("a"), scan(catalog_dir, "sv5-97"))
    assert confirmed.status == "identified" and confirmed.card_id == "a"
    # The confidence a match past accept_at would show: the best card's share (0.9), not the 0.5 that
    # was scaled down for the similarity.
    assert confirmed.confidence == pytest.approx(0.9)


def test_a_crop_of_another_card_is_not_confirmed(bundle: ReferenceBundle, catalog_dir: Path) -> None:
    assert confirm(bundle, uncertain("a"), scan(catalog_dir, "xy12-14")).status == "uncertain"


def test_a_close_printing_of_the_same_name_is_left_to_the_number(bundle: ReferenceBundle, catalog_dir: Path) -> None:
    crop = scan(catalog_dir, "sv5-97")
    # Clear enough of the next card for the check (margin 0.08 ≥ 0.05), but it is the same name.
    assert confirm(bundle, uncertain("a", 0.6, ("a2", 0.52)), crop, layout_margin=0.05).status == "uncertain"
    assert confirm(bundle, uncertain("a", 0.6, ("b", 0.52)), crop, layout_margin=0.05).status == "identified"


def test_a_small_margin_or_a_switched_off_check_changes_nothing(bundle: ReferenceBundle, catalog_dir: Path) -> None:
    crop = scan(catalog_dir, "sv5-97")
    assert confirm(bundle, uncertain("a", 0.6, ("b", 0.55)), crop, layout_margin=0.1).status == "uncertain"
    assert confirm(bundle, uncertain("a"), crop, layout_at=2.0).status == "uncertain"


def test_only_uncertain_matches_are_upgraded(bundle: ReferenceBundle, catalog_dir: Path) -> None:
    unknown = MatchResult("unknown", None, 0.3, 0.0, 0.0, [])
    assert confirm(bundle, unknown, scan(catalog_dir, "sv5-97")) is unknown


def test_a_missing_or_unreadable_thumbnail_leaves_the_match_uncertain(
    bundle: ReferenceBundle, catalog_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert bundle.path is not None
    crop = scan(catalog_dir, "sv5-97")
    (bundle.path / "thumbs" / "a.jpg").unlink()
    assert confirm(bundle, uncertain("a"), crop).status == "uncertain"
    (bundle.path / "thumbs" / "a.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    with caplog.at_level(logging.WARNING):
        assert confirm(bundle, uncertain("a"), crop).status == "uncertain"
    assert "Layout check skipped for a" in caplog.text
