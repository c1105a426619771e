from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.cli import main
from models.sim.capture_sim import CaptureSimulator, SimOptions, load_card_texture


@pytest.fixture(scope="module")
def card_photo(tmp_path_factory: pytest.TempPathFactory, catalog_dir: Path) -> Path:
    texture = load_card_texture(catalog_dir / "images" / "sv5" / "sv5-10.jpg")
    sim = CaptureSimulator([texture], SimOptions(size=(960, 540), max_tilt_deg=15.0, glare_prob=0.0, dim_prob=0.0))
    path = tmp_path_factory.mktemp("photos") / "turtwig.jpg"
    cv2.imwrite(str(path), sim.render(np.random.default_rng(9)).image)
    return path


def test_detect_writes_straightened_cards_and_reports_unreadable_files(
    card_photo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"nope")
    code = main(["detect", str(broken), str(card_photo), "--out", str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert code == 1
    assert "broken.jpg" in captured.err and "cannot read" in captured.err
    crop = cv2.imread(str(tmp_path / "out" / "turtwig_card0.jpg"))
    assert crop is not None and crop.shape == (614, 440, 3)
    assert (tmp_path / "out" / "turtwig_overlay.jpg").is_file()


def test_detect_reads_videos(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from app.camera.select import DEMO_CLIP

    code = main(["detect", str(DEMO_CLIP), "--out", str(tmp_path), "--every", "60", "--no-overlay"])
    assert code == 0
    assert any(p.name.startswith("demo_f") for p in tmp_path.iterdir())


def test_identify_json_names_the_card(card_photo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["identify", str(card_photo), "--json"])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0 and len(out) == 1
    record = json.loads(out[0])
    assert record["image"] == str(card_photo)
    assert record["cards"][0]["card_id"] == "sv5-10"
    assert record["cards"][0]["name"] == "Turtwig"


def test_identify_goes_on_past_bad_files_and_exits_1(card_photo: Path, tmp_path: Path, capsys) -> None:
    missing = tmp_path / "missing.png"
    code = main(["identify", str(missing), str(card_photo)])
    captured = capsys.readouterr()
    assert code == 1
    assert "missing.png" in captured.err
    assert "sv5-10" in captured.out


def test_identify_refuses_a_bundle_from_another_model(card_photo: Path, tmp_path: Path, capsys) -> None:
    from app import PROJECT_ROOT

    bundle = tmp_path / "bundle"
    import shutil

    shutil.copytree(PROJECT_ROOT / "reference" / "default", bundle)
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["model_sha256"] = "f" * 64
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    code = main(["identify", str(card_photo), "--bundle", str(bundle)])
    err = capsys.readouterr().err
    assert code == 2
    assert "cardsight catalog build" in err and "meaningless" in err


def test_watch_runs_headless_on_a_file_source(capsys: pytest.CaptureFixture[str]) -> None:
    from app.camera.select import DEMO_CLIP

    assert main(["watch", "--source", str(DEMO_CLIP), "--max-seconds", "3"]) == 0
    out = capsys.readouterr().out
    assert "Source: video file demo.mp4" in out
    assert "card(s) in view" in out
