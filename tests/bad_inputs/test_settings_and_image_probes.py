"""Wrong settings and hostile pictures, through the real ``cardsight`` entry point: a value out of range
is refused in one line naming key, value and range (exit 2, nothing run); a typo'd key is a warning
naming the closest valid key and the command runs; a picture that cannot be read (a 16000×12000 PNG of
212 KB, a truncated file) is one line on stderr, the files after it are still processed and the exit
code says that some failed; a 16-bit grey photo reads as the photo; ``detect`` never writes two inputs
to one name; ``identify`` shows whole file names."""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from app.cli import main, output_stems
from models.sim.capture_sim import CaptureSimulator, SimOptions, load_card_texture


@pytest.fixture(autouse=True)
def scratch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("CARDSIGHT_CONFIG", str(home / "config.toml"))
    for name in ("CARDSIGHT_MATCH__ACCEPT_AT", "CARDSIGHT_OCR__ENABLED"):
        monkeypatch.delenv(name, raising=False)
    return home


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


# ---------------------------------------------------------------------------- settings


CONFIG_REFUSED = [
    ("[match]\naccept_at = -1\n", {}, "match.accept_at = -1 in {config} is out of range (allowed: 0 to 1)"),
    ("[match]\nunknown_below = 5\n", {}, "match.unknown_below = 5 in {config} is out of range (allowed: 0 to 1)"),
    (
        "[camera]\nreconnect_initial_s = -1\n",
        {},
        "camera.reconnect_initial_s = -1 in {config} is out of range (allowed: 0.05 to 60)",
    ),
    (
        "[match]\nunknown_below = 0.7\naccept_at = 0.6\n",
        {},
        "match.unknown_below (0.7) must not be above match.accept_at (0.6)",
    ),
    (None, {"CARDSIGHT_MATCH__ACCEPT_AT": "2"}, "match.accept_at = '2' in CARDSIGHT_MATCH__ACCEPT_AT is out of range"),
]


@pytest.mark.parametrize(("toml", "env", "expected"), CONFIG_REFUSED)
def test_a_setting_out_of_range_stops_every_command_with_one_line(
    scratch_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    toml: str | None,
    env: dict[str, str],
    expected: str,
) -> None:
    config = scratch_home / "config.toml"
    if toml is not None:
        config.write_text(toml, encoding="utf-8")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    db = tmp_path / "collection.db"
    code, out, err = run(["collection", "--db", str(db), "list"], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("cardsight: invalid configuration: ")
    assert expected.format(config=config) in err
    assert not db.exists()  # nothing ran


CONFIG_WARNED = [
    ("[match]\nacept_at = 0.8\n", {}, "unknown setting match.acept_at in {config} — did you mean match.accept_at?"),
    ("[nonsense]\nx = 1\n", {}, "unknown section [nonsense] in {config}"),
    ("[camera]\nfps = 30\n", {}, "unknown setting camera.fps in {config} ([camera] has: source, width, height"),
    (None, {"CARDSIGHT_MATCH__ACEPT_AT": "0.8"}, "did you mean CARDSIGHT_MATCH__ACCEPT_AT?"),
]


@pytest.mark.parametrize(("toml", "env", "expected"), CONFIG_WARNED)
def test_an_unknown_setting_is_a_warning_naming_the_closest_key_and_the_command_runs(
    scratch_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    toml: str | None,
    env: dict[str, str],
    expected: str,
) -> None:
    config = scratch_home / "config.toml"
    if toml is not None:
        config.write_text(toml, encoding="utf-8")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with caplog.at_level("WARNING", logger="app.config"):
        code, out, _ = run(["collection", "--db", str(tmp_path / "collection.db"), "list"], capsys)
    assert code == 0 and "0 card(s)" in out
    assert any(expected.format(config=config) in r.getMessage() for r in caplog.records), caplog.text


# ---------------------------------------------------------------------------- pictures


@pytest.fixture(scope="module")
def card_bgr(catalog_dir: Path) -> np.ndarray:
    texture = load_card_texture(catalog_dir / "images" / "sv5" / "sv5-10.jpg")
    sim = CaptureSimulator([texture], SimOptions(size=(960, 540), max_tilt_deg=15.0, glare_prob=0.0, dim_prob=0.0))
    return sim.render(np.random.default_rng(9)).image


def write_card(card_bgr: np.ndarray, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), card_bgr)
    return path


def write_card_16bit_gray(card_bgr: np.ndarray, path: Path) -> Path:
    gray = cv2.cvtColor(card_bgr, cv2.COLOR_BGR2GRAY).astype(np.uint16) * 257
    Image.fromarray(gray).save(path)
    with Image.open(path) as check:
        assert check.mode == "I;16"
    return path


def write_bomb(path: Path) -> Path:
    """A PNG that declares 16000×12000 pixels in a few hundred bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 16000, 12000, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )
    return path


def write_truncated(card_bgr: np.ndarray, path: Path) -> Path:
    ok, data = cv2.imencode(".jpg", card_bgr)
    assert ok
    path.write_bytes(data.tobytes()[:400])
    return path


BOMB_LINE = "bomb.png is 16000×12000 = 192 MP, above the 100 MP limit"
LONG_NAME = "s-l1600 Pokemon TCG Turtwig 010-162 Temporal Forces Common Near Mint 16bit.png"


@dataclass
class Probe:
    command: list[str]
    #: Writes the inputs into the scratch folder and returns their paths (in command-line order).
    inputs: Callable[[np.ndarray, Path], list[Path]]
    code: int
    err: list[str] = field(default_factory=list)
    out: list[str] = field(default_factory=list)
    #: Card images detect must leave in its output folder.
    crops: int | None = None


PROBES = {
    "detect: a 192 MP PNG, then a card": Probe(
        ["detect"],
        lambda c, d: [write_bomb(d / "bomb.png"), write_card(c, d / "card.jpg")],
        1,
        err=[BOMB_LINE],
        out=["1 card image(s) written", "1 input(s) failed"],
        crops=1,
    ),
    "detect: a truncated JPEG, then a card": Probe(
        ["detect"],
        lambda c, d: [write_truncated(c, d / "cut.jpg"), write_card(c, d / "card.jpg")],
        1,
        err=["cut.jpg", "cannot read"],
        out=["1 card image(s) written"],
        crops=1,
    ),
    "detect: a 16-bit grey photo": Probe(
        ["detect"],
        lambda c, d: [write_card_16bit_gray(c, d / "grey16.png")],
        0,
        out=["1 card image(s) written"],
        crops=1,
    ),
    "detect: three inputs with one stem": Probe(
        ["detect"],
        lambda c, d: [
            write_card(c, d / "a" / "photo.jpg"),
            write_card(c, d / "b" / "photo.jpg"),
            write_card(c, d / "a" / "photo.png"),
        ],
        0,
        out=["3 card image(s) written"],
        crops=3,
    ),
    "identify: a 192 MP PNG, then a long-named 16-bit grey photo": Probe(
        ["identify", "--no-ocr"],
        lambda c, d: [write_bomb(d / "bomb.png"), write_card_16bit_gray(c, d / LONG_NAME)],
        1,
        err=[BOMB_LINE],
        out=[LONG_NAME],
    ),
}


@pytest.mark.parametrize("probe", PROBES.values(), ids=list(PROBES))
def test_a_bad_picture_is_one_line_and_the_batch_goes_on(
    probe: Probe, card_bgr: np.ndarray, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "in").mkdir()
    inputs = probe.inputs(card_bgr, tmp_path / "in")
    out_dir = tmp_path / "out"
    extra = ["--out", str(out_dir), "--no-overlay"] if probe.command[0] == "detect" else []
    code, out, err = run([*probe.command, *map(str, inputs), *extra], capsys)
    assert code == probe.code, (out, err)
    for text in probe.err:
        assert text in err
    assert len(err.splitlines()) == (1 if probe.err else 0)  # one line for the one bad file
    for text in probe.out:
        assert text in out
    if probe.crops is not None:
        crops = sorted(out_dir.glob("*_card*.jpg"))
        assert len(crops) == probe.crops, crops
        reported = int(re.search(r"(\d+) card image\(s\) written", out).group(1))  # type: ignore[union-attr]
        assert reported == len(crops)


def test_identify_reads_a_16_bit_grey_photo_as_the_photo_not_as_white(
    card_bgr: np.ndarray, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The line of the 16-bit photo names a card (read as white it said "no card")."""
    path = write_card_16bit_gray(card_bgr, tmp_path / LONG_NAME)
    code, out, _ = run(["identify", "--no-ocr", str(path)], capsys)
    rows = [line for line in out.splitlines()[1:] if line.startswith(str(path))]
    assert code == 0 and rows and all("no card" not in row for row in rows)


def test_scan_of_an_image_folder_skips_a_192_mp_png_and_reads_the_next(
    card_bgr: np.ndarray, tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "shots"
    folder.mkdir()
    write_bomb(folder / "a_bomb.png")
    for k in range(8):  # the same still shot: a card held steady long enough to be named
        write_card(card_bgr, folder / f"b_card{k}.jpg")
    with caplog.at_level("WARNING"):
        code, out, _ = run(["scan", "--source", str(folder), "--json", "--no-ocr"], capsys)
    assert "a_bomb.png is 16000×12000 = 192 MP" in caplog.text
    assert '"sv5-10"' in out
    assert code == 0


def test_detect_refuses_a_frame_step_below_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as refused:
        main(["detect", str(tmp_path), "--out", str(tmp_path / "out"), "--every", "0"])
    assert refused.value.code == 2
    assert "expected a whole number of 1 or more, got '0'" in capsys.readouterr().err


# ---------------------------------------------------------------------------- detect's file names


@pytest.mark.parametrize(
    ("paths", "expected"),
    [
        (["a/photo.jpg", "b/photo.jpg", "a/photo.png"], ["a_photo_jpg", "b_photo_jpg", "a_photo_png"]),
        (["a/photo.jpg", "a/photo.png"], ["photo_jpg", "photo_png"]),
        (["a/photo.jpg", "b/photo.jpg"], ["a_photo", "b_photo"]),
        (["a/Photo.jpg", "b/photo.JPG", "c/x.jpg"], ["a_Photo", "b_photo", "x"]),
        (["x/a/photo.jpg", "y/a/photo.jpg"], ["photo", "photo-2"]),
        (["one.jpg", "two.jpg"], ["one", "two"]),
    ],
)
def test_output_names_are_distinct_per_input_and_deterministic(paths: list[str], expected: list[str]) -> None:
    assert output_stems([Path(p) for p in paths]) == expected


def test_detect_never_overwrites_a_file_it_wrote_in_the_same_run(
    card_bgr: np.ndarray, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A video's frame names (``clip_f00000``) may meet a picture of that name: both are kept."""
    from app.camera.select import DEMO_CLIP

    clip = tmp_path / "in" / "clip.mp4"
    clip.parent.mkdir()
    clip.write_bytes(DEMO_CLIP.read_bytes())
    picture = write_card(card_bgr, tmp_path / "in" / "clip_f00000.jpg")
    out_dir = tmp_path / "out"
    code, out, _ = run(["detect", str(clip), str(picture), "--out", str(out_dir), "--every", "1000"], capsys)
    crops = sorted(out_dir.glob("*_card*.jpg"))
    reported = int(re.search(r"(\d+) card image\(s\) written", out).group(1))  # type: ignore[union-attr]
    assert code == 0 and reported == len(crops)
    assert (out_dir / "clip_f00000_overlay.jpg").is_file() and (out_dir / "clip_f00000_overlay-2.jpg").is_file()
