"""The damage a user did to the shipped bundle, replayed on a copy: every kind is refused, by the
loader and by the command line, with the file named and the way to rebuild it."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from app import PROJECT_ROOT
from app.cli import main
from app.match.bundle import BundleError, ReferenceBundle

DEFAULT_BUNDLE = PROJECT_ROOT / "reference" / "default"
MEGABYTE = 1 << 20


def overwrite_a_megabyte(path: Path, data: bytes) -> None:
    """Write ``data`` 1 MB into ``path`` without changing its size (the .npy header and shape stay)."""
    with open(path, "r+b") as handle:
        handle.seek(MEGABYTE)
        handle.write(data)


PROBES: dict[str, tuple[Callable[[Path], None], str]] = {
    "1 MB of random bytes in the vectors": (
        lambda b: overwrite_a_megabyte(b / "embeddings.npy", np.random.default_rng(7).bytes(MEGABYTE)),
        "embeddings.npy",
    ),
    "1 MB of zeros in the vectors": (
        lambda b: overwrite_a_megabyte(b / "embeddings.npy", bytes(MEGABYTE)),
        "embeddings.npy",
    ),
    "the thumbnails deleted": (lambda b: shutil.rmtree(b / "thumbs"), "thumbs"),
}


@pytest.fixture
def bundle_copy(tmp_path: Path) -> Path:
    return Path(shutil.copytree(DEFAULT_BUNDLE, tmp_path / "bundle"))


def test_the_shipped_bundle_is_sealed_and_loads() -> None:
    bundle = ReferenceBundle.load(DEFAULT_BUNDLE)
    thumbs = {p.relative_to(DEFAULT_BUNDLE).as_posix() for p in (DEFAULT_BUNDLE / "thumbs").iterdir()}
    assert {"embeddings.npy", "usearch.index", "index.json", "metadata.json"} | thumbs == set(bundle.manifest.checksums)


@pytest.mark.parametrize("probe", list(PROBES))
def test_a_damaged_copy_of_the_shipped_bundle_is_refused(probe: str, bundle_copy: Path) -> None:
    harm, culprit = PROBES[probe]
    harm(bundle_copy)
    with pytest.raises(BundleError, match="cardsight catalog build") as refused:
        ReferenceBundle.load(bundle_copy)
    assert str(bundle_copy / culprit) in str(refused.value)


@pytest.mark.parametrize("probe", list(PROBES))
def test_identify_with_a_damaged_bundle_exits_2_with_one_line(
    probe: str, bundle_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    harm, culprit = PROBES[probe]
    harm(bundle_copy)
    photo = tmp_path / "photo.jpg"
    cv2.imwrite(str(photo), np.full((540, 960, 3), 120, np.uint8))
    code = main(["identify", str(photo), "--bundle", str(bundle_copy), "--json"])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err
    assert str(bundle_copy / culprit) in lines[0] and "cardsight catalog build" in lines[0]
