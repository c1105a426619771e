"""One typed configuration: defaults ← TOML file ← ``CARDSIGHT_`` environment variables.

The file is ``$CARDSIGHT_CONFIG`` or ``~/.config/cardsight/config.toml``. Nested keys use ``__`` in
the environment: ``CARDSIGHT_FINDER__THREADS=2``.
"""

from __future__ import annotations

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
    threads: int = Field(default=1, ge=1, le=16)
    min_area_frac: float = Field(default=0.01, gt=0, lt=1)


class EmbedConfig(BaseModel):
    model: Path = PROJECT_ROOT / "models" / "lite0_imagenet.onnx"
    #: Backends in order of preference; the first that is available runs.
    backends: list[str] = ["hailo", "onnx"]
    threads: int = Field(default=2, ge=1, le=64)


class MatchConfig(BaseModel):
    bundle: Path = PROJECT_ROOT / "reference" / "default"
    unknown_below: float = 0.65
    accept_at: float = 0.70
    min_margin: float = 0.06
    back_at: float = 0.60
    exact_search_below: int = 4000


class CollectionConfig(BaseModel):
    db: Path = Path.home() / ".local" / "share" / "cardsight" / "collection.db"
    #: FULL: every acknowledged scan survives a power cut; NORMAL: survives the app dying, ~3× faster.
    synchronous: Literal["FULL", "NORMAL"] = "FULL"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CARDSIGHT_", env_nested_delimiter="__", extra="ignore")

    camera: CameraConfig = Field(default_factory=CameraConfig)
    finder: FinderConfig = Field(default_factory=FinderConfig)
    embed: EmbedConfig = Field(default_factory=EmbedConfig)
    match: MatchConfig = Field(default_factory=MatchConfig)
    collection: CollectionConfig = Field(default_factory=CollectionConfig)
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
