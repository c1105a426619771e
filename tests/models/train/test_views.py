from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.train.views import (
    ViewKind,
    ViewSet,
    catalogue_cards,
    corner_error,
    finder_digest,
    render_capture_views,
)
from tests.catalog_copy import small_catalog


def test_corner_error_is_zero_for_the_truth_and_large_for_a_card_read_sideways() -> None:
    truth = np.array([[100, 100], [163, 100], [163, 188], [100, 188]], float)
    assert corner_error(truth, truth) == 0.0
    assert corner_error(truth + 1.0, truth) < 0.02
    assert corner_error(np.roll(truth, 1, axis=0), truth) > 0.4


def test_capture_views_are_finder_crops_with_their_corner_errors_and_survive_a_cache_round_trip(
    catalog_dir: Path, tmp_path: Path
) -> None:
    cards = catalogue_cards(small_catalog(catalog_dir, tmp_path / "cat", per_set=2))
    views = render_capture_views(cards, ViewKind("t", per_card=2, seed=5, frame=(640, 360)), sides=(64,), workers=1)
    assert len(views) == 8 and views.images[64].shape == (8, 64, 64, 3)
    # Mostly right to a few pixels; a card the finder turns the wrong way up shows as an error near 1.
    assert views.corner_error is not None and float(np.median(views.corner_error)) < 0.02
    assert sorted(set(views.labels.tolist())) == [0, 1, 2, 3]
    again = render_capture_views(cards, ViewKind("t", per_card=2, seed=5, frame=(640, 360)), sides=(64,), workers=1)
    assert np.array_equal(again.images[64], views.images[64])  # seeded per (seed, card, view)
    views.save(tmp_path / "v.npz")
    loaded = ViewSet.load(tmp_path / "v.npz")
    assert loaded.card_ids == views.card_ids and np.array_equal(loaded.corner_error, views.corner_error)


def test_views_cached_with_another_finder_model_are_not_reused(
    catalog_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from models.train import run
    from models.train.loop import Dist
    from models.train.recipe import Recipe

    catalog = small_catalog(catalog_dir, tmp_path / "cat", per_set=1)
    cache = tmp_path / "cache"
    first = run.load_data(Recipe.tiny(), catalog, None, cache, Dist())
    # The same run again finds its views; after the finder model changes it renders new ones.
    assert run.load_data(Recipe.tiny(), catalog, None, cache, Dist()).keys == first.keys
    monkeypatch.setattr(run, "finder_digest", lambda: "another-finder")
    retrained = run.load_data(Recipe.tiny(), catalog, None, cache, Dist())
    assert retrained.keys["train"] != first.keys["train"] and retrained.keys["eval"] != first.keys["eval"]
    assert (cache / f"views-train-{retrained.keys['train']}.npz").is_file()


def test_the_finder_digest_follows_the_model_file_content(tmp_path: Path) -> None:
    a, b = tmp_path / "a.onnx", tmp_path / "b.onnx"
    a.write_bytes(b"finder weights 1")
    b.write_bytes(b"finder weights 2")
    assert finder_digest(a) != finder_digest(b)
    b.write_bytes(b"finder weights 1")
    assert finder_digest(a) == finder_digest(b)
