"""Qt tests run offscreen (QT_QPA_PLATFORM=offscreen, set by `make test`) with the real engine."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from app.camera.base import CameraDisconnected, Frame, FrameSource
from app.camera.video_file import VideoFileSource
from app.config import Settings, load_settings
from app.engine import Engine, load_engine
from models.sim.capture_sim import CaptureSimulator, SimOptions, load_card_texture, render_clip, write_clip
from ui.engine_thread import SourceInfo

CLIP_CARDS = ["sv5-123", "sv3pt5-6"]


@pytest.fixture(scope="session")
def shared_engine() -> Iterator[Engine]:
    settings = load_settings()
    settings.ocr.enabled = False  # the OCR path has its own tests; keep the GUI tests quick
    engine = load_engine(settings)
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def clip_path(tmp_path_factory: pytest.TempPathFactory, catalog_dir: Path) -> Path:
    """Two cards presented one after the other (simulated, 15 fps, 1280×720)."""
    textures = [load_card_texture(catalog_dir / "images" / c.split("-")[0] / f"{c}.jpg") for c in CLIP_CARDS]
    sim = CaptureSimulator(textures, SimOptions(dim_prob=0.0, defocus_prob=0.0))
    frames = render_clip(sim, np.random.default_rng(21), [0, 1], fps=15)
    path = tmp_path_factory.mktemp("clips") / "two_cards.mp4"
    write_clip(frames, path, fps=15)
    return path


@pytest.fixture(scope="session")
def photo_folder(tmp_path_factory: pytest.TempPathFactory, catalog_dir: Path) -> Path:
    """A folder of two photos, one card each (simulated), as a phone would leave them."""
    import cv2

    textures = [load_card_texture(catalog_dir / "images" / c.split("-")[0] / f"{c}.jpg") for c in CLIP_CARDS]
    sim = CaptureSimulator(textures, SimOptions(dim_prob=0.0, defocus_prob=0.0))
    rng = np.random.default_rng(5)
    folder = tmp_path_factory.mktemp("photos")
    for i in range(len(CLIP_CARDS)):
        cv2.imwrite(str(folder / f"IMG_{i:04d}.jpg"), sim.render(rng, card_index=i).image)
    return folder


@pytest.fixture(autouse=True)
def ui_memory_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The window's memory (welcome seen, last export) goes to the test's folder, never the home."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return tmp_path / "state" / "cardsight" / "ui-state.json"


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("CARDSIGHT_CONFIG", str(tmp_path / "config.toml"))
    settings = load_settings()
    settings.collection.db = tmp_path / "collection.db"
    settings.collection.synchronous = "NORMAL"
    settings.ui.welcomed = True
    settings.ui.sounds = False
    settings.ocr.enabled = False
    return settings


def replay(path: Path) -> Any:
    def open_source() -> tuple[FrameSource, SourceInfo]:
        source = VideoFileSource(path)
        return source, SourceInfo(source.description, "replay for the test")

    return open_source


class UnpluggedCamera(FrameSource):
    """Plays a clip, then behaves like a USB camera pulled out: reads fail with CameraDisconnected and
    the first reopen fails too; the second reopen works again (the camera was plugged back in)."""

    is_recorded = False

    def __init__(self, path: Path, fail_after: int) -> None:
        super().__init__()
        self.description = "test camera"
        self.inner = VideoFileSource(path)
        self.fail_after = fail_after
        self.opens = 0
        self.frames = 0

    def _open(self) -> None:
        self.opens += 1
        if self.opens == 2:
            raise CameraDisconnected("camera not found")
        if self.opens == 1:
            self.inner.open()

    def _read(self) -> Frame | None:
        self.frames += 1
        if self.opens == 1 and self.frames > self.fail_after:
            raise CameraDisconnected("USB device removed")
        return self.inner.read()

    def _close(self) -> None:
        if self.opens >= 3:
            self.inner.close()


@pytest.fixture
def engine_for(shared_engine: Engine) -> Engine:
    shared_engine.finder.reset()
    return shared_engine
