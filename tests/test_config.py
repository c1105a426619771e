from __future__ import annotations

from pathlib import Path

import pytest

from app.config import ConfigError, load_settings


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
    """Both places carry bench/openset.py's output; a recalibration must change both."""
    from app.engine import thresholds_from
    from app.match.matcher import MatchThresholds

    monkeypatch.setenv("CARDSIGHT_CONFIG", str(tmp_path / "absent.toml"))
    assert thresholds_from(load_settings()) == MatchThresholds()
