"""The finder's training data and trainer options for multi-card scenes (models/finder/data.py, train.py)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from models.finder.data import make_simulators, render_sample
from models.finder.train import main
from models.sim.multicard import MultiCardSimulator


def _textures(n: int = 4) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 255, (614, 440, 3), dtype=np.uint8) for _ in range(n)]


def test_a_multi_card_sample_marks_each_card_apart_and_never_the_page_as_one() -> None:
    textures = _textures()
    sims = make_simulators(textures)
    multi = MultiCardSimulator(textures, empty_pocket_prob=0.0)
    for seed in range(4):
        x, target = render_sample(sims, np.random.default_rng(seed), multi, multi_share=1.0)
        assert x.shape[1:] == (target.shape[1] * 2, target.shape[2] * 2)
        interiors = ((target[0] > 0) & (target[1] == 0)).astype(np.uint8)
        count, _, stats, _ = cv2.connectedComponentsWithStats(interiors, connectivity=4)
        cards = int((stats[1:count, cv2.CC_STAT_AREA] >= 20).sum())
        assert cards >= 2, f"seed {seed}: the cards' targets run together ({cards} blob)"


def test_no_multi_card_share_gives_the_single_card_scenes_unchanged() -> None:
    textures = _textures()
    sims = make_simulators(textures)
    multi = MultiCardSimulator(textures)
    a = render_sample(sims, np.random.default_rng(3))
    b = render_sample(sims, np.random.default_rng(3), multi, multi_share=0.0)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_a_multi_card_share_outside_0_to_1_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--multi-share", "1.5", "--out", str(tmp_path / "cardseg.onnx")])
    assert exit_info.value.code == 2
    assert "--multi-share must be between 0 and 1" in capsys.readouterr().err
    assert not (tmp_path / "cardseg.onnx").exists()
