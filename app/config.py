"""One typed configuration: defaults ← TOML file ← ``CARDSIGHT_`` environment variables.

The file is ``$CARDSIGHT_CONFIG`` or ``~/.config/cardsight/config.toml``. Nested keys use ``__`` in
the environment: ``CARDSIGHT_FINDER__THREADS=1``.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from app import PROJECT_ROOT

logger = logging.getLogger(__name__)


def default_config_path() -> Path:
    env = os.environ.get("CARDSIGHT_CONFIG")
    if env:
        return Path(env)
    return Path.home() / ".config" / "cardsight" / "config.toml"


class CameraConfig(BaseModel):
    #: "auto", a device index ("0"), "picamera2", "demo", a stream URL, a video file or an image folder.
    source: str = "auto"
    width: int = 1280
    height: int = 720
    reconnect_initial_s: float = 0.5
    reconnect_max_s: float = 8.0


class FinderConfig(BaseModel):
    model: Path = PROJECT_ROOT / "models" / "finder" / "cardseg.onnx"
    #: The network's threads. They do not busy-wait between frames, so a second one costs the embedder
    #: and the number reader little (bench/live.py with 2: 87 fps unpaced, decisions p95 ≤ 206 ms).
    threads: int = Field(default=2, ge=1, le=16)
    #: A second network pass on the mirrored frame: fewer misplaced outlines for ~2–3 ms a frame.
    mirror_pass: bool = True
    min_area_frac: float = Field(default=0.01, gt=0, lt=1)
    #: Fit a second, wider outline per card on network frames and keep the more whole-looking one
    #: (app/vision/detect.py, ``wide_reach_map_px``): closer corners for ~1.6 ms a card; a kiosk of
    #: full binder pages may turn it off (9 cards: ~20 ms a network frame).
    second_outline: bool = True
    #: Check each side of each card found by the network against the straight edges near it and move
    #: it to the card's own edge (app/vision/sides.py): a finger, a shadow, a top-loader's rim or an
    #: object beside the card no longer carries a side off it; a card whose crop still does not look
    #: whole is then grown from a piece into the whole card, or outlined again from its sides' nearby
    #: edges judged together (a few % of cards, ~8 ms each), and one far from a parallelogram has a
    #: corner dragged off the card rebuilt (~1 card in 150, ~40 ms each). ~10 ms a card on network frames at
    #: 1280×720, ~6–7 at 960×540 (followed frames do not run it); a kiosk of full binder pages may turn
    #: it off.
    edge_check: bool = True
    #: Live scanning: run the network on at least every n-th frame and follow the cards it found on
    #: the frames between (their sides re-found where the measured motion puts them; a followed frame
    #: 3.4–4.0 ms, a network frame 11–13 ms at 1280×720 before the edge check, up to ~23 ms with it,
    #: bench/detect.py). A card coming into view is found by the next network frame.
    #: 1 = the network on every frame. Single pictures (identify, detect) always use the network.
    network_every: int = Field(default=4, ge=1, le=30)


class EmbedConfig(BaseModel):
    model: Path = PROJECT_ROOT / "models" / "card" / "card_student.onnx"
    #: Backends in order of preference; the first that is available runs.
    backends: list[str] = ["hailo", "onnx"]
    threads: int = Field(default=2, ge=1, le=64)
    #: Let ONNX Runtime's worker threads busy-wait for work within a call (never after it): ~1 ms
    #: faster a call on idle cores, but in the live scanner it starves the finder and the number reader
    #: running at the same time (see app/embed/onnx_backend.py). Unset: on for the batch commands
    #: (identify, catalog build), off live.
    spin_wait: bool | None = None


class MatchConfig(BaseModel):
    bundle: Path = PROJECT_ROOT / "reference" / "default"
    # Calibrated by bench/openset.py (bench/results/openset.json): FAR ≤ 2 % on the eBay fronts.
    unknown_below: float = 0.49
    accept_at: float = 0.67
    min_margin: float = 0.19
    back_at: float = 0.60
    unknown_margin: float = 0.045
    lookalike_above: float = 0.8
    #: The layout check (app/match/layout.py), calibrated by the same script; layout_at above 1 turns it off.
    layout_margin: float = 0.10
    layout_at: float = 0.8
    exact_search_below: int = 4000


class OcrConfig(BaseModel):
    #: Read the collector number to split look-alike printings (needs rapidocr-onnxruntime).
    enabled: bool = True
    threads: int = Field(default=1, ge=1, le=16)


class LiveConfig(BaseModel):
    """Tracking and voting on a live stream (``cardsight scan``, the GUI, the kiosk)."""

    max_motion: float = Field(default=0.015, gt=0)
    min_sharpness: float = Field(default=40.0, ge=0)
    max_glare: float = Field(default=0.25, ge=0, le=1)
    steady_frames: int = Field(default=2, ge=1)
    lost_after_s: float = Field(default=0.7, gt=0)
    min_votes: int = Field(default=2, ge=1)
    min_votes_reject: int = Field(default=3, ge=1)
    decide_within_s: float = Field(default=1.5, gt=0)
    lookalike_within: float = Field(default=0.10, ge=0)
    max_ocr_attempts: int = Field(default=6, ge=1)
    #: Still frames of a card whose number strips are fused into the one read (app/ocr/fusion.py).
    number_frames: int = Field(default=5, ge=1, le=30)


class CollectionConfig(BaseModel):
    db: Path = Path.home() / ".local" / "share" / "cardsight" / "collection.db"
    #: FULL: every acknowledged scan survives a power cut; NORMAL: survives the app dying, ~3× faster.
    synchronous: Literal["FULL", "NORMAL"] = "FULL"


class UiConfig(BaseModel):
    #: Add identified cards straight away (kiosk style) instead of waiting for Space / Add.
    auto_add: bool = False
    sounds: bool = True
    #: The first-run welcome has been shown.
    welcomed: bool = False


class KioskConfig(BaseModel):
    #: Needed to leave kiosk mode or open its settings. Change it on every kiosk.
    pin: str = Field(default="1234", min_length=4, pattern=r"^[0-9]+$")
    session_label: str = "Kiosk"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CARDSIGHT_", env_nested_delimiter="__", extra="ignore")

    camera: CameraConfig = Field(default_factory=CameraConfig)
    finder: FinderConfig = Field(default_factory=FinderConfig)
    embed: EmbedConfig = Field(default_factory=EmbedConfig)
    match: MatchConfig = Field(default_factory=MatchConfig)
    collection: CollectionConfig = Field(default_factory=CollectionConfig)
    ocr: OcrConfig = Field(default_factory=OcrConfig)
    live: LiveConfig = Field(default_factory=LiveConfig)
    ui: UiConfig = Field(default_factory=UiConfig)
    kiosk: KioskConfig = Field(default_factory=KioskConfig)
    log_level: str = "INFO"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = default_config_path()
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if path.is_file():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)


class ConfigError(ValueError):
    """The config file or environment holds a value that does not fit."""


def load_settings(**overrides: Any) -> Settings:
    """Load settings; a broken file or value raises :class:`ConfigError` naming the problem."""
    from pydantic import ValidationError

    try:
        return Settings(**overrides)
    except ValidationError as error:
        raise ConfigError(
            f"Invalid configuration ({default_config_path()} / CARDSIGHT_ variables):\n{error}"
        ) from error
    except (OSError, ValueError) as error:
        raise ConfigError(f"Cannot read configuration {default_config_path()}: {error}") from error


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    # JSON string escapes are valid TOML basic-string escapes.
    return json.dumps(str(value), ensure_ascii=False)


def settings_toml(settings: Settings) -> str:
    """The settings that differ from the defaults, as a TOML document (defaults stay out, so a
    new release's better defaults and a moved checkout's paths still apply)."""
    lines: list[str] = []
    top = settings.model_dump(mode="json", exclude_defaults=True)
    for key, value in top.items():
        if not isinstance(value, dict):
            lines.append(f"{key} = {_toml_value(value)}")
    for key, value in top.items():
        if isinstance(value, dict):
            lines.append(f"\n[{key}]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in value.items() if v is not None]
    return "\n".join(lines) + "\n"


def save_settings(settings: Settings, path: Path | None = None) -> Path:
    """Write the settings file atomically (a crash mid-write keeps the old file)."""
    path = path or default_config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(settings_toml(settings), encoding="utf-8")
    os.replace(tmp, path)
    logger.info("Settings saved to %s", path)
    return path
