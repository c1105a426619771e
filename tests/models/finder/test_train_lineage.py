"""A resumed finder model names the checkpoints it grew from (models/finder/train.py)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from models.finder.train import main, parent_lineage


def _checkpoint(folder: Path, payload: bytes, sidecar: dict[str, object] | None) -> Path:
    folder.mkdir(parents=True)
    path = folder / "cardseg.pt"
    path.write_bytes(payload)
    if sidecar is not None:
        path.with_suffix(".json").write_text(json.dumps(sidecar))
    return path


def test_a_fresh_run_has_no_parents() -> None:
    assert parent_lineage(None) == []


def test_a_resumed_run_records_its_parent_and_the_parents_own_lineage(tmp_path: Path) -> None:
    grandparent = {"checkpoint": "old/cardseg.pt", "sha256": "aa" * 32, "recipe": {"seed": 7}}
    parent = _checkpoint(
        tmp_path / "round2",
        b"weights of round 2",
        {"sha256": "bb" * 32, "recipe": {"seed": 31, "steps": 5000}, "lineage": [grandparent]},
    )
    lineage = parent_lineage(str(parent))
    assert lineage[0]["sha256"] == hashlib.sha256(b"weights of round 2").hexdigest()
    assert lineage[0]["onnx_sha256"] == "bb" * 32
    assert lineage[0]["recipe"] == {"seed": 31, "steps": 5000}
    assert lineage[1:] == [grandparent]


def test_a_parent_without_a_sidecar_is_still_named_by_its_hash(tmp_path: Path) -> None:
    parent = _checkpoint(tmp_path / "loose", b"loose weights", None)
    assert parent_lineage(str(parent)) == [
        {"checkpoint": str(parent), "sha256": hashlib.sha256(b"loose weights").hexdigest()}
    ]


def test_an_unreadable_parent_sidecar_ends_the_lineage_at_the_parent(tmp_path: Path) -> None:
    parent = _checkpoint(tmp_path / "half", b"weights", None)
    parent.with_suffix(".json").write_text('{"sha256": "cut off mid-wri')
    assert [e["sha256"] for e in parent_lineage(str(parent))] == [hashlib.sha256(b"weights").hexdigest()]


def test_resuming_from_a_missing_checkpoint_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--resume", str(tmp_path / "gone.pt"), "--out", str(tmp_path / "cardseg.onnx")])
    assert exit_info.value.code == 2
    assert "no checkpoint at" in capsys.readouterr().err
