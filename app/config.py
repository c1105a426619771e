"""One typed configuration: defaults ← TOML file ← ``CARDSIGHT_`` environment variables.

The file is ``$CARDSIGHT_CONFIG`` or ``~/.config/cardsight/config.toml``. Nested keys use ``__`` in
the environment: ``CARDSIGHT_FINDER__THREADS=1``.

Each setting is defined once, below: its default, its allowed range and a one-line description. A
value outside its range is refused with :class:`ConfigError` (one message naming the key, the value,
where it came from and what is allowed); an unknown key or section is a logged warning that names
the closest valid key, and loading goes on.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import logging
import os
import tomllib
from pathlib import Path
from typing import Any, Literal, Self, TypeVar, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from app import PROJECT_ROOT

logger = logging.getLogger(__name__)

T = TypeVar("T")

ENV_PREFIX = "CARDSIGHT_"
#: Variables of cardsight that are not settings (the config file's path, the tests' shared data,
#: the Pi installer's user and prefix): never reported as unknown settings.
ENV_NOT_SETTINGS = frozenset(
    {"CARDSIGHT_CONFIG", "CARDSIGHT_SHARED", "CARDSIGHT_USER", "CARDSIGHT_PREFIX", "CARDSIGHT_REQUIRE_SYSTEM_TOOLS"}
)


def default_config_path() -> Path:
    env = os.environ.get("CARDSIGHT_CONFIG")
    if env:
        return Path(env)
    return Path.home() / ".config" / "cardsight" / "config.toml"


class Section(BaseModel):
    """A ``[section]`` of the config file. Unknown keys are left out (and warned about by
    :func:`load_settings`); infinities and NaN are refused everywhere."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)


class CameraConfig(Section):
    #: "auto", a device index ("0"), "picamera2", "demo", a stream URL, a video file or an image folder.
    source: str = Field(default="auto", min_length=1, description="The camera or recording to scan.")
    width: int = Field(default=1280, ge=160, le=7680, description="Frame width asked of the camera, in pixels.")
    height: int = Field(default=720, ge=120, le=4320, description="Frame height asked of the camera, in pixels.")
    reconnect_initial_s: float = Field(
        default=0.5, ge=0.05, le=60.0, description="First wait before reopening a lost camera, in seconds."
    )
    reconnect_max_s: float = Field(
        default=8.0, ge=0.05, le=600.0, description="Longest wait between reconnect attempts, in seconds."
    )

    @model_validator(mode="after")
    def _backoff_grows(self) -> Self:
        if self.reconnect_initial_s > self.reconnect_max_s:
            raise ValueError(
                f"camera.reconnect_initial_s ({self.reconnect_initial_s}) must not be above "
                f"camera.reconnect_max_s ({self.reconnect_max_s})"
            )
        return self


class FinderConfig(Section):
    model: Path = Field(
        default=PROJECT_ROOT / "models" / "finder" / "cardseg.onnx", description="The card-finder ONNX model."
    )
    #: The network's threads. They do not busy-wait between frames, so a second one costs the embedder
    #: and the number reader little (bench/results/live.json).
    threads: int = Field(default=2, ge=1, le=16, description="Threads of the card-finder network.")
    #: A second network pass on the mirrored frame: fewer misplaced outlines for a second network run
    #: (bench/results/detect.json).
    mirror_pass: bool = Field(default=True, description="Also run the finder on the mirrored frame.")
    min_area_frac: float = Field(
        default=0.01, gt=0.0, lt=1.0, description="Smallest card found, as a fraction of the frame's area."
    )
    #: Fit a second, wider outline per card on network frames and keep the more whole-looking one
    #: (app/vision/detect.py, ``wide_reach_map_px``): closer corners for a little time a card; a kiosk of
    #: full binder pages, where that time is paid nine times a frame, may turn it off
    #: (bench/results/detect.json, bench/results/multicard.json).
    second_outline: bool = Field(default=True, description="Fit a second, wider outline per card.")
    #: Check each side of each card found by the network against the straight edges near it and move
    #: it to the card's own edge (app/vision/sides.py): a finger, a shadow, a top-loader's rim or an
    #: object beside the card no longer carries a side off it; a card whose crop still does not look
    #: whole is then grown from a piece into the whole card, or outlined again from its sides' nearby
    #: edges judged together (a few % of cards), and one far from a parallelogram has a corner dragged
    #: off the card rebuilt (rarely). It is the costliest step of a network frame (followed frames do
    #: not run it; bench/results/detect.json); a kiosk of full binder pages may turn it off.
    edge_check: bool = Field(default=True, description="Move each found side onto the card's own edge.")
    #: Live scanning: run the network on at least every n-th frame and follow the cards it found on
    #: the frames between (their sides re-found where the measured motion puts them): a followed frame
    #: costs a fraction of a network frame (bench/results/detect.json, ``stream_one_card``). A card
    #: coming into view is found by the next network frame.
    #: 1 = the network on every frame. Single pictures (identify, detect) always use the network.
    network_every: int = Field(default=4, ge=1, le=30, description="Live: run the network on every n-th frame.")


class EmbedConfig(Section):
    model: Path = Field(
        default=PROJECT_ROOT / "models" / "card" / "card_student.onnx", description="The card-embedding ONNX model."
    )
    backends: list[str] = Field(
        default_factory=lambda: ["hailo", "onnx"],
        min_length=1,
        description="Embedding backends in order of preference; the first that is available runs.",
    )
    threads: int = Field(default=2, ge=1, le=64, description="Threads of the CPU embedding backend.")
    #: Let ONNX Runtime's worker threads busy-wait for work within a call (never after it): faster
    #: calls on idle cores, but in the live scanner it starves the finder and the number reader
    #: running at the same time (see app/embed/onnx_backend.py). Unset: on for the batch commands
    #: (identify, catalog build), off live.
    spin_wait: bool | None = Field(default=None, description="Busy-wait the embedder's threads within a call.")


class MatchConfig(Section):
    """Cosine similarities of L2-normalised embeddings and their differences (app/match/matcher.py):
    thresholds and margins below 0 or above 1 mean nothing for matching cards."""

    bundle: Path = Field(default=PROJECT_ROOT / "reference" / "default", description="The reference bundle folder.")
    # Calibrated by bench/openset.py (bench/results/openset.json): FAR ≤ 2 % on the eBay fronts.
    unknown_below: float = Field(
        default=0.49, ge=0.0, le=1.0, description="Below this similarity the card is not in the catalogue."
    )
    accept_at: float = Field(default=0.67, ge=0.0, le=1.0, description="At or above this similarity a card is named.")
    min_margin: float = Field(
        default=0.19, ge=0.0, le=1.0, description="How far the best card must beat the next to be named."
    )
    back_at: float = Field(default=0.60, ge=0.0, le=1.0, description="Similarity at which a card back wins.")
    unknown_margin: float = Field(
        default=0.045, ge=0.0, le=1.0, description="Below this margin to another name the card is not in the catalogue."
    )
    lookalike_above: float = Field(
        default=0.8, ge=0.0, le=1.0, description="Above this similarity a close call is a look-alike printing."
    )
    #: The layout check (app/match/layout.py), calibrated by the same script; layout_at above 1 turns it off.
    layout_margin: float = Field(
        default=0.10, ge=0.0, le=1.0, description="Margin an uncertain match needs for the layout check."
    )
    layout_at: float = Field(
        default=0.8, ge=0.0, le=2.0, description="Layout agreement that names an uncertain match (above 1: off)."
    )
    lookalike_within: float = Field(
        default=0.10, ge=0, le=1.0, description="A same-name printing this close triggers a number read."
    )
    exact_search_below: int = Field(
        default=4000, ge=0, le=100_000_000, description="Below this many vectors search is brute force."
    )

    @model_validator(mode="after")
    def _unknown_below_accept(self) -> Self:
        # Equal is allowed: no "uncertain" band by similarity (the settings dialog can save that).
        if self.unknown_below > self.accept_at:
            raise ValueError(
                f"match.unknown_below ({self.unknown_below}) must not be above match.accept_at ({self.accept_at})"
            )
        return self


class OcrConfig(Section):
    #: Read the collector number to split look-alike printings (needs rapidocr-onnxruntime).
    enabled: bool = Field(default=True, description="Read collector numbers to split look-alike printings.")
    threads: int = Field(default=1, ge=1, le=16, description="Threads of the number reader.")


class LiveConfig(Section):
    """Tracking and voting on a live stream (``cardsight scan``, the GUI, the kiosk)."""

    max_motion: float = Field(
        default=0.015, gt=0, le=1.0, description="Corner shift a frame (of the diagonal) under which a card is still."
    )
    min_sharpness: float = Field(
        default=40.0, ge=0, le=100_000.0, description="Sharpness a crop needs to be looked at."
    )
    max_glare: float = Field(default=0.25, ge=0, le=1, description="Blown-out share above which a crop is skipped.")
    steady_frames: int = Field(default=2, ge=1, le=100, description="Still frames before a card is looked at.")
    #: Twice the longest a card lay hidden under a passing hand in bench/scenarios.py (5 frames at 30 fps),
    #: and shorter than a card taken away and laid again (20 frames): that is a second copy.
    lost_after_s: float = Field(default=0.4, gt=0, le=60.0, description="Unseen this long, a card was taken away.")
    same_card_above: float = Field(
        default=0.6,
        ge=0,
        le=1.0,
        description="A new picture in a card's place this like it (embedding) is the same card, else a new one.",
    )
    changed_below: float = Field(
        default=0.8,
        ge=0,
        le=1.0,
        description="A card's picture less like its steady picture than this has changed (checked by embedding).",
    )
    changed_frames: int = Field(
        default=3, ge=1, le=100, description="Frames a changed picture must hold before it is checked."
    )
    min_votes: int = Field(default=2, ge=1, le=100, description="Agreeing frames before a card is named.")
    min_votes_reject: int = Field(
        default=3, ge=1, le=100, description="Agreeing frames before 'not in the catalogue' or 'card back'."
    )
    decide_within_s: float = Field(
        default=1.5, gt=0, le=60.0, description="Steady this long without a clear answer: offer the top 5."
    )
    max_ocr_attempts: int = Field(default=6, ge=1, le=100, description="Number reads per card before giving up.")
    #: Still frames of a card whose number strips are fused into the one read (app/ocr/fusion.py).
    number_frames: int = Field(default=5, ge=1, le=30, description="Still frames fused into one number read.")


class CollectionConfig(Section):
    db: Path = Field(
        default=Path.home() / ".local" / "share" / "cardsight" / "collection.db",
        description="The collection database (SQLite).",
    )
    #: FULL: every acknowledged scan survives a power cut; NORMAL: survives the app dying, ~3× faster.
    synchronous: Literal["FULL", "NORMAL"] = Field(default="FULL", description="SQLite durability.")
    #: A shop server shared by several kiosks ("postgresql://user@host:5432/shop"); empty: the file ``db``.
    url: str = Field(default="", max_length=500, description="Shop server (PostgreSQL URL); empty: the db file.")


class UiConfig(Section):
    #: Add identified cards straight away (kiosk style) instead of waiting for Space / Add.
    auto_add: bool = Field(default=False, description="Add identified cards without confirming.")
    sounds: bool = Field(default=True, description="Play a sound when a card is added.")
    #: The first-run welcome has been shown.
    welcomed: bool = Field(default=False, description="The first-run welcome has been shown.")


class KioskConfig(Section):
    #: Needed to leave kiosk mode or open its settings. Change it on every kiosk.
    pin: str = Field(
        default="1234", min_length=4, max_length=12, pattern=r"^[0-9]+$", description="PIN to leave the kiosk."
    )
    session_label: str = Field(default="Kiosk", max_length=80, description="Label of the kiosk's sessions.")
    #: Unset: the kiosk shows only the market value of what was scanned.
    buy_percent: float | None = Field(
        default=None,
        ge=1.0,
        le=100.0,
        description="What the shop pays, as a percentage of market value, shown beside the kiosk's running value.",
    )


class PricesConfig(Section):
    #: An ISO 4217 code; values are shown in it, never converted.
    currency: str = Field(
        default="USD", pattern=r"^[A-Z]{3}$", description="Currency the GUI shows card values in (ISO 4217 code)."
    )


LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


#: Settings that moved to another section: old dotted key → new one (the old one is still read).
MOVED_SETTINGS: dict[str, str] = {"live.lookalike_within": "match.lookalike_within"}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="ignore", allow_inf_nan=False
    )

    camera: CameraConfig = Field(default_factory=CameraConfig)
    finder: FinderConfig = Field(default_factory=FinderConfig)
    embed: EmbedConfig = Field(default_factory=EmbedConfig)
    match: MatchConfig = Field(default_factory=MatchConfig)
    collection: CollectionConfig = Field(default_factory=CollectionConfig)
    ocr: OcrConfig = Field(default_factory=OcrConfig)
    live: LiveConfig = Field(default_factory=LiveConfig)
    ui: UiConfig = Field(default_factory=UiConfig)
    kiosk: KioskConfig = Field(default_factory=KioskConfig)
    prices: PricesConfig = Field(default_factory=PricesConfig)
    log_level: LogLevel = Field(default="INFO", description="Logging level.")

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_in_capitals(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="before")
    @classmethod
    def _read_moved_settings(cls, data: Any) -> Any:
        """A setting given under its old key is read as the new one (unless that is given too), so a
        settings file written by an earlier version keeps its value; ``warn_unknown`` says to move it."""
        if not isinstance(data, dict):
            return data
        for old, new in MOVED_SETTINGS.items():
            old_section, old_key = old.split(".")
            new_section, new_key = new.split(".")
            section = data.get(old_section)
            if isinstance(section, dict) and old_key in section:
                value = section[old_key]
                data = {**data, old_section: {k: v for k, v in section.items() if k != old_key}}
                target = data.get(new_section)
                target = dict(target) if isinstance(target, dict) else {}
                target.setdefault(new_key, value)
                data[new_section] = target
        return data

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


# ---------------------------------------------------------------------------- runtime objects


def default_of(section: type[Section], name: str) -> Any:
    """The default of one setting, for a runtime object's field that *is* that setting: the value is
    written once, in the section above."""
    return section.model_fields[name].get_default(call_default_factory=True)


def runtime_from(cls: type[T], *sections: Section, **values: Any) -> T:
    """A runtime dataclass ``cls`` built from the settings of ``sections`` that share a field's name,
    then ``values`` (settings under another name, or none at all); its other fields keep their own
    defaults (internal tunables, not user settings)."""
    names = {field.name for field in dataclasses.fields(cls)}  # type: ignore[arg-type]
    given: dict[str, Any] = {}
    for section in sections:
        given.update({name: getattr(section, name) for name in type(section).model_fields if name in names})
    return cls(**{**given, **values})


# ---------------------------------------------------------------------------- the settings' shape


def section_model(field: FieldInfo) -> type[Section] | None:
    """The section class a top-level field holds, or None for a plain value (``log_level``)."""
    annotation = field.annotation
    return annotation if isinstance(annotation, type) and issubclass(annotation, Section) else None


def setting_fields() -> dict[str, FieldInfo]:
    """Every setting by its dotted key (``match.accept_at``, ``log_level``)."""
    fields: dict[str, FieldInfo] = {}
    for name, field in Settings.model_fields.items():
        section = section_model(field)
        if section is None:
            fields[name] = field
        else:
            fields.update({f"{name}.{key}": sub for key, sub in section.model_fields.items()})
    return fields


def _number(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


_PATTERN_WORDS = {r"^[0-9]+$": "digits only", r"^[A-Z]{3}$": "three capital letters"}


def allowed_values(field: FieldInfo) -> str:
    """What a setting accepts, in words: ``0 to 1``, ``> 0 and ≤ 60``, ``one of 'FULL', 'NORMAL'``."""
    if get_origin(field.annotation) is Literal:
        return "one of " + ", ".join(repr(v) for v in get_args(field.annotation))
    bounds: dict[str, object] = {}
    words: list[str] = []
    unit = "item(s)" if get_origin(field.annotation) is list else "characters"
    for item in field.metadata:
        # Pydantic keeps each constraint as a small object named for it (Ge(ge=0), MinLen(min_length=4) …).
        bounds.update({name: getattr(item, name) for name in ("ge", "gt", "le", "lt") if hasattr(item, name)})
        if getattr(item, "min_length", None) is not None:
            words.append(f"at least {item.min_length} {unit}")
        if getattr(item, "max_length", None) is not None:
            words.append(f"at most {item.max_length} {unit}")
        pattern = getattr(item, "pattern", None)
        if pattern:
            words.append(_PATTERN_WORDS.get(pattern, f"matching {pattern}"))
    if "ge" in bounds and "le" in bounds:
        words.insert(0, f"{_number(bounds['ge'])} to {_number(bounds['le'])}")
    else:
        symbols = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<"}
        words[:0] = [f"{symbols[name]} {_number(value)}" for name, value in bounds.items()]
    return " and ".join(words)


# ---------------------------------------------------------------------------- unknown keys


def _suggestion(key: str, fields: dict[str, FieldInfo]) -> str | None:
    """The valid dotted key closest to ``key``, also by its last part (``acept_at`` →
    ``match.accept_at``); section names only for a key outside any section."""
    candidates = {dotted: dotted for dotted in fields}
    if "." not in key:
        candidates.update({name: name for name, f in Settings.model_fields.items() if section_model(f)})
    leaves: dict[str, list[str]] = {}
    for dotted in fields:
        leaves.setdefault(dotted.rsplit(".", 1)[-1], []).append(dotted)
    candidates.update({leaf: keys[0] for leaf, keys in leaves.items() if len(keys) == 1 and leaf not in candidates})
    for probe in (key, key.rsplit(".", 1)[-1]):
        close = difflib.get_close_matches(probe, list(candidates), n=1, cutoff=0.7)
        if close:
            return candidates[close[0]]
    return None


def unknown_keys(document: dict[str, Any]) -> list[tuple[str, bool]]:
    """Dotted keys of ``document`` (a parsed config file) that are no setting, each with whether it
    is a whole section."""
    unknown: list[tuple[str, bool]] = []
    for key, value in document.items():
        field = Settings.model_fields.get(key)
        if field is None:
            unknown.append((key, isinstance(value, dict)))
            continue
        section = section_model(field)
        if section is not None and isinstance(value, dict):
            unknown += [
                (f"{key}.{sub}", isinstance(v, dict)) for sub, v in value.items() if sub not in section.model_fields
            ]
    return unknown


def _env_key(name: str) -> str | None:
    """The dotted key a ``CARDSIGHT_…`` variable sets, or None when it is no setting variable."""
    upper = name.upper()
    if not upper.startswith(ENV_PREFIX) or upper in ENV_NOT_SETTINGS:
        return None
    return ".".join(upper[len(ENV_PREFIX) :].lower().split("__"))


def _env_name(dotted: str) -> str:
    return ENV_PREFIX + dotted.replace(".", "__").upper()


def _is_setting(dotted: str, fields: dict[str, FieldInfo]) -> bool:
    # A whole section may come as one JSON variable (CARDSIGHT_CAMERA='{"width": 640}').
    return dotted in fields or dotted in Settings.model_fields


def _hint(dotted: str, fields: dict[str, FieldInfo], as_name: bool) -> str:
    close = _suggestion(dotted, fields)
    if close is not None:
        return f" — did you mean {_env_name(close) if as_name else close}?"
    section = dotted.split(".", 1)[0]
    keys = [k.split(".", 1)[1] for k in fields if k.startswith(section + ".")]
    return f" ([{section}] has: {', '.join(keys)})" if keys and "." in dotted else ""


def warn_unknown(document: dict[str, Any], path: Path, environ: dict[str, str]) -> list[str]:
    """Log one warning per unknown key or section in the file and per unknown ``CARDSIGHT_`` variable,
    naming the closest valid one; the warnings, for tests."""
    fields = setting_fields()
    warnings: list[str] = []
    moved: list[str] = []
    for key, is_section in unknown_keys(document):
        if key in MOVED_SETTINGS:
            moved.append(f"setting {key} in {path} is now {MOVED_SETTINGS[key]}: move it there")
            continue
        what = f"section [{key}]" if is_section else f"setting {key}"
        warnings.append(f"unknown {what} in {path}{_hint(key, fields, as_name=False)}")
    for name in sorted(environ):
        env_key = _env_key(name)
        if env_key in MOVED_SETTINGS:
            moved.append(f"setting variable {name} is now {_env_name(MOVED_SETTINGS[env_key])}: rename it")
        elif env_key is not None and not _is_setting(env_key, fields):
            warnings.append(f"unknown setting variable {name}{_hint(env_key, fields, as_name=True)}")
    for warning in warnings:
        logger.warning("%s (ignored)", warning)
    for warning in moved:
        logger.warning("%s (read this time)", warning)
    return warnings + moved


# ---------------------------------------------------------------------------- loading


def _read_document(path: Path) -> dict[str, Any]:
    """The parsed config file ({} when there is none)."""
    if not path.is_file():
        return {}
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except (OSError, ValueError) as error:
        raise ConfigError(f"cannot read configuration {path}: {error}") from error


def _origin(loc: tuple[int | str, ...], path: Path, environ: dict[str, str]) -> str:
    """Where the value at ``loc`` came from: its variables when set, else the file."""
    if not loc:
        return str(path)
    section = _env_name(str(loc[0]))
    names = sorted({name.upper() for name in environ})
    if len(loc) >= 2:
        hits = [n for n in names if n in (section, _env_name(f"{loc[0]}.{loc[1]}"))]
    else:
        hits = [n for n in names if n == section or n.startswith(section + "__")]
    if hits:
        return ", ".join(hits)
    return str(path) if path.is_file() else "the given settings"


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…"


_RANGE_ERRORS = frozenset({"greater_than", "greater_than_equal", "less_than", "less_than_equal"})


def _problem(error: ErrorDetails, path: Path, environ: dict[str, str]) -> str:
    loc = tuple(error["loc"])
    key = ".".join(str(p) for p in loc)
    reason = error["msg"]
    origin = _origin(loc, path, environ)
    if error["type"] == "value_error":
        return f"{reason.removeprefix('Value error, ')} (in {origin})"
    field = setting_fields().get(".".join(str(p) for p in loc[:2])) or setting_fields().get(key)
    allowed = allowed_values(field) if field is not None else ""
    if error["type"] in _RANGE_ERRORS:
        text = f"{key} = {_shown(error['input'])} in {origin} is out of range"
    else:
        text = f"{key} = {_shown(error['input'])} in {origin}: {reason[:1].lower()}{reason[1:]}"
    return text + (f" (allowed: {allowed})" if allowed else "")


def describe(error: ValidationError, path: Path, environ: dict[str, str]) -> str:
    """One line for every refused value: key, value, where it came from, what is allowed."""
    return "; ".join(_problem(e, path, environ) for e in error.errors(include_url=False))


def load_settings(**overrides: Any) -> Settings:
    """Load settings; a broken file or value raises :class:`ConfigError` naming the problem, an unknown
    key is a logged warning."""
    path = default_config_path()
    environ = dict(os.environ)
    warn_unknown(_read_document(path), path, environ)
    try:
        return Settings(**overrides)
    except ValidationError as error:
        raise ConfigError(f"invalid configuration: {describe(error, path, environ)}") from error
    except (OSError, ValueError) as error:
        # pydantic-settings' own parse errors (a CARDSIGHT_ variable that is not the JSON it needs).
        raise ConfigError(f"cannot read configuration {path} / {ENV_PREFIX} variables: {error}") from error


def validate_settings(settings: Settings) -> None:
    """Raise :class:`ConfigError` when settings changed in memory would not load back."""
    try:
        Settings.model_validate(settings.model_dump())
    except ValidationError as error:
        raise ConfigError(f"invalid configuration: {describe(error, default_config_path(), {})}") from error


# ---------------------------------------------------------------------------- saving


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    # JSON string escapes are valid TOML basic-string escapes; TOML also refuses a raw DEL.
    return json.dumps(str(value), ensure_ascii=False).replace("\x7f", "\\u007f")


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
    """Write the settings file atomically (a crash mid-write keeps the old file); settings that would
    not load back raise :class:`ConfigError` and leave the file as it was."""
    validate_settings(settings)
    path = path or default_config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(settings_toml(settings), encoding="utf-8")
    os.replace(tmp, path)
    logger.info("Settings saved to %s", path)
    return path
