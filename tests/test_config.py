from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, get_args, get_origin
from unittest import mock

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from pydantic.fields import FieldInfo

from app.config import ConfigError, Settings, load_settings, save_settings, setting_fields, settings_toml


def test_defaults_then_toml_then_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[camera]\nsource = "1"\n[match]\naccept_at = 0.8\n')
    monkeypatch.setenv("CARDSIGHT_CONFIG", str(config))
    settings = load_settings()
    assert settings.camera.source == "1" and settings.match.accept_at == 0.8
    assert settings.collection.synchronous == "FULL"
    monkeypatch.setenv("CARDSIGHT_MATCH__ACCEPT_AT", "0.75")
    assert load_settings().match.accept_at == 0.75


@pytest.mark.parametrize(
    "text",
    [
        "camera = [broken\n",
        '[match]\naccept_at = "high"\n',
        '[collection]\nsynchronous = "OFF"\n',
        "[finder]\nnetwork_every = 0\n",
    ],
)
def test_a_broken_config_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text(text)
    monkeypatch.setenv("CARDSIGHT_CONFIG", str(config))
    with pytest.raises(ConfigError, match="config"):
        load_settings()


def test_saved_settings_hold_only_what_differs_and_load_back(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from app.config import save_settings

    path = tmp_path / "config.toml"
    monkeypatch.setenv("CARDSIGHT_CONFIG", str(path))
    settings = load_settings()
    settings.ui.auto_add = True
    settings.camera.source = 'C:\\cams\\"front".mp4'
    save_settings(settings)
    text = path.read_text()
    assert "[ui]" in text and "[finder]" not in text  # defaults (and absolute model paths) stay out
    loaded = load_settings()
    assert loaded.ui.auto_add is True and loaded.camera.source == 'C:\\cams\\"front".mp4'


def test_the_configured_match_thresholds_default_to_the_calibrated_ones_of_the_matcher(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bench/openset.py's calibration is written once, in ``[match]``; the matcher's defaults are it."""
    from app.engine import thresholds_from
    from app.match.matcher import MatchThresholds

    monkeypatch.setenv("CARDSIGHT_CONFIG", str(tmp_path / "absent.toml"))
    assert thresholds_from(load_settings()) == MatchThresholds()


def runtime_classes() -> list[tuple[type, type]]:
    """Each runtime dataclass with the settings section its user settings come from (VotingConfig's
    ``lookalike_within`` is a ``[match]`` setting: see the test of the votes' sections)."""
    from app.config import FinderConfig, LiveConfig, MatchConfig
    from app.match.matcher import MatchThresholds
    from app.match.voting import VotingConfig
    from app.vision.detect import DetectorSettings
    from app.vision.finder import FollowSettings
    from app.vision.tracker import TrackerConfig

    return [
        (DetectorSettings, FinderConfig),
        (FollowSettings, FinderConfig),
        (TrackerConfig, LiveConfig),
        (VotingConfig, LiveConfig),
        (MatchThresholds, MatchConfig),
    ]


def test_a_runtime_field_named_as_a_setting_defaults_to_that_settings_default() -> None:
    import dataclasses

    for runtime, section in runtime_classes():
        shared = [f for f in dataclasses.fields(runtime) if f.name in section.model_fields]
        assert shared, runtime
        for field in shared:
            assert field.default == section.model_fields[field.name].default, f"{runtime.__name__}.{field.name}"
    from app.config import MatchConfig
    from app.match.voting import VotingConfig

    assert VotingConfig.lookalike_within == MatchConfig.model_fields["lookalike_within"].default


def test_the_votes_take_lookalike_within_from_the_match_section() -> None:
    from app.config import runtime_from
    from app.match.voting import VotingConfig

    settings = Settings.model_validate({"match": {"lookalike_within": 0.2}, "live": {"min_votes": 4}})
    votes = runtime_from(VotingConfig, settings.live, settings.match)
    assert (votes.lookalike_within, votes.min_votes) == (0.2, 4)


def test_a_moved_setting_under_its_old_key_is_read_and_the_user_told_to_move_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[live]\nlookalike_within = 0.25\nmin_votes = 3\n")
    monkeypatch.setenv("CARDSIGHT_CONFIG", str(config))
    with caplog.at_level("WARNING"):
        settings = load_settings()
    assert settings.match.lookalike_within == 0.25 and settings.live.min_votes == 3
    assert "live.lookalike_within" in caplog.text and "is now match.lookalike_within" in caplog.text
    assert "unknown" not in caplog.text
    # The new key wins where both are given; the old one as a variable is read too.
    config.write_text("[live]\nlookalike_within = 0.25\n[match]\nlookalike_within = 0.3\n")
    assert load_settings().match.lookalike_within == 0.3
    config.write_text("")
    monkeypatch.setenv("CARDSIGHT_LIVE__LOOKALIKE_WITHIN", "0.15")
    with caplog.at_level("WARNING"):
        assert load_settings().match.lookalike_within == 0.15
    assert "CARDSIGHT_MATCH__LOOKALIKE_WITHIN" in caplog.text


def test_runtime_objects_are_built_with_every_setting_of_their_fields_names() -> None:
    import dataclasses

    from app.config import runtime_from

    settings = Settings.model_validate(
        {
            "finder": {
                "threads": 3,
                "mirror_pass": False,
                "min_area_frac": 0.02,
                "edge_check": False,
                "network_every": 7,
            },
            "live": {"max_motion": 0.02, "min_votes": 4, "changed_frames": 5},
            "match": {"unknown_below": 0.3, "accept_at": 0.9, "layout_at": 1.5},
        }
    )
    for runtime, section in runtime_classes():
        values = getattr(settings, next(k for k, f in Settings.model_fields.items() if f.annotation is section))
        built = runtime_from(runtime, values)
        for field in dataclasses.fields(runtime):
            if field.name in section.model_fields:
                assert getattr(built, field.name) == getattr(values, field.name), f"{runtime.__name__}.{field.name}"
    assert runtime_from(runtime_classes()[0][0], settings.finder, threads=1).threads == 1


def test_make_finder_runs_the_configured_network_and_following(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.engine import make_finder

    config = tmp_path / "config.toml"
    config.write_text("[finder]\nthreads = 1\nmirror_pass = false\nsecond_outline = false\nedge_check = false\n")
    monkeypatch.setenv("CARDSIGHT_CONFIG", str(config))
    detector = make_finder(load_settings()).detector
    assert (detector.settings.threads, detector.settings.mirror_pass, detector.settings.edge_check) == (1, False, False)
    assert detector.settings.wide_reach_map_px == 0 and detector.segmenter.mirror_pass is False


# ---------------------------------------------------------------------------- ranges


def load_from(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(text, encoding="utf-8")
    monkeypatch.setenv("CARDSIGHT_CONFIG", str(config))
    return config


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[match]\naccept_at = -1\n", "match.accept_at = -1 in {path} is out of range (allowed: 0 to 1)"),
        ("[match]\nunknown_below = 5\n", "match.unknown_below = 5 in {path} is out of range (allowed: 0 to 1)"),
        (
            "[camera]\nreconnect_initial_s = -1\n",
            "camera.reconnect_initial_s = -1 in {path} is out of range (allowed: 0.05 to 60)",
        ),
        ("[camera]\nwidth = 0\n", "camera.width = 0 in {path} is out of range (allowed: 160 to 7680)"),
        ("[camera]\nheight = 100000\n", "camera.height = 100000 in {path} is out of range (allowed: 120 to 4320)"),
        ("[live]\nlost_after_s = 0\n", "live.lost_after_s = 0 in {path} is out of range (allowed: > 0 and ≤ 60)"),
        ("[live]\nmax_glare = 1.5\n", "live.max_glare = 1.5 in {path} is out of range (allowed: 0 to 1)"),
        ("[match]\nexact_search_below = -3\n", "match.exact_search_below = -3 in {path} is out of range"),
        ('[kiosk]\npin = "12ab"\n', "kiosk.pin = '12ab' in {path}: string should match pattern"),
    ],
)
def test_a_value_out_of_range_is_refused_naming_key_value_and_range(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, expected: str
) -> None:
    config = load_from(tmp_path, monkeypatch, text)
    with pytest.raises(ConfigError) as refused:
        load_settings()
    message = str(refused.value)
    assert expected.format(path=config) in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "text", ["[match]\naccept_at = inf\n", "[live]\nmax_motion = nan\n", "[live]\nmin_sharpness = inf\n"]
)
def test_infinity_and_nan_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    load_from(tmp_path, monkeypatch, text)
    with pytest.raises(ConfigError, match="invalid configuration"):
        load_settings()


def test_unknown_below_above_accept_at_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    load_from(tmp_path, monkeypatch, "[match]\nunknown_below = 0.7\naccept_at = 0.6\n")
    with pytest.raises(ConfigError, match=r"match\.unknown_below \(0\.7\) must not be above match\.accept_at \(0\.6\)"):
        load_settings()
    load_from(tmp_path, monkeypatch, "[match]\nunknown_below = 0.6\naccept_at = 0.6\n")
    assert load_settings().match.unknown_below == 0.6  # equal: no "uncertain" band, still meaningful


def test_a_first_reconnect_wait_above_the_longest_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    load_from(tmp_path, monkeypatch, "[camera]\nreconnect_initial_s = 10\nreconnect_max_s = 2\n")
    with pytest.raises(ConfigError, match=r"camera\.reconnect_initial_s \(10\.0\) must not be above"):
        load_settings()


def test_a_refused_environment_value_names_its_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARDSIGHT_CONFIG", str(tmp_path / "absent.toml"))
    monkeypatch.setenv("CARDSIGHT_MATCH__ACCEPT_AT", "-1")
    with pytest.raises(ConfigError, match=r"match\.accept_at = '-1' in CARDSIGHT_MATCH__ACCEPT_AT is out of range"):
        load_settings()


def test_several_refused_values_are_one_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    load_from(tmp_path, monkeypatch, "[match]\naccept_at = -1\n[live]\nmin_votes = 0\n")
    with pytest.raises(ConfigError) as refused:
        load_settings()
    message = str(refused.value)
    assert "match.accept_at = -1" in message and "live.min_votes = 0" in message and "\n" not in message


def test_the_log_level_is_one_of_loggings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    load_from(tmp_path, monkeypatch, 'log_level = "debug"\n')
    assert load_settings().log_level == "DEBUG"
    load_from(tmp_path, monkeypatch, 'log_level = "LOUD"\n')
    with pytest.raises(ConfigError, match=r"log_level = 'LOUD'.*one of 'DEBUG'"):
        load_settings()


def test_every_setting_has_one_description_and_every_number_a_range() -> None:
    from app.config import allowed_values, setting_fields

    for key, field in setting_fields().items():
        assert field.description and "\n" not in field.description, key
        if field.annotation in (int, float, int | None, float | None):
            bounds = {type(m).__name__ for m in field.metadata}
            assert bounds & {"Ge", "Gt"} and bounds & {"Le", "Lt"}, f"{key} has no range: {allowed_values(field)}"


def test_the_kiosk_buy_percent_is_unset_by_default_and_refused_outside_1_to_100(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.toml"
    monkeypatch.setenv("CARDSIGHT_CONFIG", str(config))
    assert load_settings().kiosk.buy_percent is None
    config.write_text("[kiosk]\nbuy_percent = 55.5\n")
    assert load_settings().kiosk.buy_percent == 55.5
    for refused in ("0.5", "100.5"):
        config.write_text(f"[kiosk]\nbuy_percent = {refused}\n")
        with pytest.raises(ConfigError, match=rf"kiosk.buy_percent = {refused} .*out of range \(allowed: 1 to 100\)"):
            load_settings()


@pytest.mark.parametrize("refused", ["usd", "US", "EURO", "U$D"])
def test_the_price_currency_is_three_capital_letters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, refused: str
) -> None:
    config = tmp_path / "config.toml"
    monkeypatch.setenv("CARDSIGHT_CONFIG", str(config))
    assert load_settings().prices.currency == "USD"
    monkeypatch.setenv("CARDSIGHT_PRICES__CURRENCY", "EUR")
    assert load_settings().prices.currency == "EUR"
    monkeypatch.setenv("CARDSIGHT_PRICES__CURRENCY", refused)
    with pytest.raises(ConfigError, match=r"prices.currency .*three capital letters"):
        load_settings()


def test_a_buy_percent_and_currency_set_then_unset_round_trip_through_the_saved_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "config.toml"
    monkeypatch.setenv("CARDSIGHT_CONFIG", str(path))
    settings = load_settings()
    settings.kiosk.buy_percent = 60.0
    settings.prices.currency = "GBP"
    save_settings(settings)
    loaded = load_settings()
    assert (loaded.kiosk.buy_percent, loaded.prices.currency) == (60.0, "GBP")
    loaded.kiosk.buy_percent = None
    save_settings(loaded)
    assert "buy_percent" not in path.read_text() and load_settings().kiosk.buy_percent is None


# ---------------------------------------------------------------------------- unknown keys


def test_unknown_keys_and_sections_are_warned_about_with_the_closest_valid_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    config = load_from(
        tmp_path, monkeypatch, "[match]\nacept_at = 0.8\n[nonsense]\nx = 1\n[camera]\nfps = 30\nwidht = 640\n"
    )
    with caplog.at_level("WARNING", logger="app.config"):
        settings = load_settings()
    assert settings.match.accept_at == 0.67 and settings.camera.width == 1280  # kept going, typos ignored
    warnings = [r.getMessage() for r in caplog.records]
    assert f"unknown setting match.acept_at in {config} — did you mean match.accept_at? (ignored)" in warnings
    assert f"unknown setting camera.widht in {config} — did you mean camera.width? (ignored)" in warnings
    assert any(w.startswith(f"unknown section [nonsense] in {config}") for w in warnings)
    assert any(w.startswith("unknown setting camera.fps") and "[camera] has: source, width" in w for w in warnings)


def test_a_known_key_outside_its_section_is_pointed_to_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    load_from(tmp_path, monkeypatch, "acept_at = 0.8\n")
    with caplog.at_level("WARNING", logger="app.config"):
        load_settings()
    assert any("did you mean match.accept_at?" in r.getMessage() for r in caplog.records)


def test_unknown_setting_variables_are_warned_about_and_others_of_cardsight_are_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("CARDSIGHT_CONFIG", str(tmp_path / "absent.toml"))
    monkeypatch.setenv("CARDSIGHT_SHARED", str(tmp_path))
    monkeypatch.setenv("CARDSIGHT_MATCH__ACEPT_AT", "0.8")
    monkeypatch.setenv("CARDSIGHT_FINDER__THREADS", "1")
    with caplog.at_level("WARNING", logger="app.config"):
        settings = load_settings()
    assert settings.finder.threads == 1
    warnings = [r.getMessage() for r in caplog.records]
    assert warnings == [
        "unknown setting variable CARDSIGHT_MATCH__ACEPT_AT — did you mean CARDSIGHT_MATCH__ACCEPT_AT? (ignored)"
    ]


# ---------------------------------------------------------------------------- saving


def test_saving_refuses_settings_that_would_not_load_back_and_keeps_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.config import save_settings

    config = load_from(tmp_path, monkeypatch, "[ui]\nsounds = false\n")
    settings = load_settings()
    settings.match.accept_at = 0.2  # below unknown_below
    with pytest.raises(ConfigError, match=r"match\.unknown_below"):
        save_settings(settings)
    assert config.read_text(encoding="utf-8") == "[ui]\nsounds = false\n"


def test_a_saved_text_setting_with_control_characters_loads_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.config import save_settings

    monkeypatch.setenv("CARDSIGHT_CONFIG", str(tmp_path / "config.toml"))
    settings = load_settings()
    settings.kiosk.session_label = "Shop\x7f\x00\tfloor"
    save_settings(settings)
    assert load_settings().kiosk.session_label == "Shop\x7f\x00\tfloor"


# ---------------------------------------------------------------------------- properties

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@contextmanager
def config_environment(text: str | bytes | None = None, variables: dict[str, str] | None = None) -> Iterator[Path]:
    """A scratch config file (``text``) and only the given ``CARDSIGHT_`` variables, for one example."""
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "config.toml"
        if text is not None:
            path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
        clean = {k: v for k, v in os.environ.items() if not k.upper().startswith("CARDSIGHT_")}
        with mock.patch.dict(os.environ, {**clean, **(variables or {}), "CARDSIGHT_CONFIG": str(path)}, clear=True):
            yield path


LEAVES = sorted({key.rsplit(".", 1)[-1] for key in setting_fields()})
SECTIONS = sorted(name for name, f in Settings.model_fields.items() if isinstance(f.annotation, type))
names = st.one_of(st.sampled_from(LEAVES + SECTIONS), st.from_regex(r"[A-Za-z_][A-Za-z0-9_\-]{0,12}", fullmatch=True))
scalars = st.one_of(
    st.integers(-(10**20), 10**20).map(str),
    st.floats().map(repr),  # inf and nan are TOML too
    st.booleans().map(lambda b: "true" if b else "false"),
    st.text(max_size=12).map(lambda s: json.dumps(s, ensure_ascii=False)),
    st.sampled_from(["1979-05-27", "0x1F", "'literal'", "{ a = 1 }", "[]", "-0.0"]),
    st.text(max_size=8),  # not TOML at all
)
toml_values = st.one_of(scalars, st.lists(scalars, max_size=3).map(lambda v: "[" + ", ".join(v) + "]"))
toml_lines = st.one_of(
    names.map(lambda n: f"[{n}]"),
    st.tuples(names, toml_values).map(lambda kv: f"{kv[0]} = {kv[1]}"),
    st.tuples(st.sampled_from(SECTIONS), names, toml_values).map(lambda t: f"{t[0]}.{t[1]} = {t[2]}"),
    st.text(max_size=20),
)
documents = st.one_of(st.lists(toml_lines, max_size=12).map("\n".join), st.binary(max_size=40))


@PROPERTY
@given(documents)
def test_any_toml_ish_document_loads_or_is_a_config_error(document: str | bytes) -> None:
    with config_environment(document):
        try:
            load_settings()
        except ConfigError as error:
            assert "\n" not in str(error)


env_values = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12),
    st.sampled_from(["[]", '["onnx"]', "{}", '{"width": 5}', "1e400", "nan", "-1", "true", "null"]),
)
env_names = st.one_of(
    st.sampled_from(sorted(setting_fields())).map(lambda k: "CARDSIGHT_" + k.replace(".", "__").upper()),
    st.sampled_from(SECTIONS).map(lambda s: f"CARDSIGHT_{s.upper()}"),
    names.map(lambda n: f"CARDSIGHT_{n.upper()}"),
)


@PROPERTY
@given(st.dictionaries(env_names, env_values, max_size=4))
def test_any_setting_variables_load_or_are_a_config_error(variables: dict[str, str]) -> None:
    with config_environment(variables=variables):
        try:
            load_settings()
        except ConfigError as error:
            assert "\n" not in str(error)


def valid_values(field: FieldInfo) -> st.SearchStrategy[Any]:
    """Values a setting accepts, from its own definition (type and range)."""
    annotation = field.annotation
    if get_origin(annotation) is Literal:
        return st.sampled_from(get_args(annotation))
    bound = {type(m).__name__.lower(): getattr(m, type(m).__name__.lower(), None) for m in field.metadata}
    if annotation is bool:
        return st.booleans()
    if annotation == bool | None:
        return st.one_of(st.none(), st.booleans())
    if annotation is int:
        return st.integers(bound.get("ge", bound.get("gt", -1) + 1), bound.get("le", bound.get("lt", 2) - 1))
    if annotation == float | None:
        return st.one_of(st.none(), valid_values(FieldInfo.merge_field_infos(field, annotation=float)))
    if annotation is float:
        low, high = bound.get("ge", bound.get("gt")), bound.get("le", bound.get("lt"))
        return st.floats(low, high, exclude_min="gt" in bound, exclude_max="lt" in bound, allow_nan=False)
    if annotation is Path:
        return st.from_regex(r"/[a-z0-9_]{1,8}(/[a-z0-9_. ]{1,8}){0,3}", fullmatch=True).map(Path)
    if annotation == list[str]:
        return st.lists(st.text(max_size=8), min_size=1, max_size=3)
    assert annotation is str, annotation
    lengths = {m.min_length for m in field.metadata if getattr(m, "min_length", None) is not None} or {0}
    limits = {m.max_length for m in field.metadata if getattr(m, "max_length", None) is not None} or {40}
    patterns = [m.pattern for m in field.metadata if getattr(m, "pattern", None)]
    if patterns:
        return st.from_regex(patterns[0], fullmatch=True).filter(lambda t: max(lengths) <= len(t) <= min(limits))
    return st.text(st.characters(blacklist_categories=("Cs",)), min_size=max(lengths), max_size=min(limits))


VALID_VALUES = {key: valid_values(field) for key, field in setting_fields().items()}


@st.composite
def valid_settings(draw: st.DrawFn) -> Settings:
    values: dict[str, Any] = {}
    for key in draw(st.sets(st.sampled_from(sorted(VALID_VALUES)))):
        section, _, name = key.rpartition(".")
        (values.setdefault(section, {}) if section else values)[name] = draw(VALID_VALUES[key])
    try:
        return Settings.model_validate(values)
    except ValidationError:
        assume(False)  # a cross-field rule (unknown_below ≤ accept_at …) this draw broke
        raise


@PROPERTY
@given(valid_settings())
def test_valid_settings_round_trip_through_the_saved_file(settings_in: Settings) -> None:
    with config_environment() as path:
        save_settings(settings_in, path)
        assert load_settings() == settings_in, settings_toml(settings_in)
