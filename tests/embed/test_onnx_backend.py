from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from app import PROJECT_ROOT
from app.config import load_settings
from app.embed import BackendUnavailable, EmbedderError, ModelSidecarError, create_embedder, load_model_sidecar
from app.embed.onnx_backend import OnnxEmbedder, choose_providers
from app.embed.preprocess import normalise, prepare_batch, resize_whole_card, to_layout, to_model_colour
from app.engine import make_embedder

MODEL = PROJECT_ROOT / "models" / "lite0_imagenet.onnx"


@pytest.fixture(scope="module")
def embedder() -> OnnxEmbedder:
    return OnnxEmbedder(MODEL, threads=2)


def test_provider_choice_is_preference_intersect_available() -> None:
    assert choose_providers(["CPUExecutionProvider", "CUDAExecutionProvider"]) == [
        "CUDAExecutionProvider",
        "CPUExecutionProvider",
    ]
    assert choose_providers(["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    with pytest.raises(BackendUnavailable):
        choose_providers(["TensorrtExecutionProvider"])


def test_embeddings_are_unit_vectors_of_the_sidecar_dimension(embedder: OnnxEmbedder) -> None:
    rng = np.random.default_rng(0)
    cards = [rng.integers(0, 255, (614, 440, 3), dtype=np.uint8) for _ in range(3)]
    vectors = embedder.embed(cards)
    assert vectors.shape == (3, embedder.dim) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


def test_batch_and_single_inference_agree(embedder: OnnxEmbedder) -> None:
    rng = np.random.default_rng(1)
    cards = [rng.integers(0, 255, (300, 200, 3), dtype=np.uint8) for _ in range(4)]
    batch = embedder.embed(cards)
    single = np.vstack([embedder.embed([c]) for c in cards])
    assert np.allclose(batch, single, atol=1e-4)


def test_prepare_then_infer_is_embed_and_a_closed_embedder_says_so() -> None:
    # Its own session: closing the module's shared one would break the other tests.
    embedder = OnnxEmbedder(MODEL, threads=1, warmup=False)
    rng = np.random.default_rng(2)
    cards = [rng.integers(0, 255, (614, 440, 3), dtype=np.uint8) for _ in range(2)]
    batch = embedder.prepare(cards)
    assert batch.shape == (2, 3, *embedder.sidecar.input_size[::-1])
    assert np.array_equal(embedder.infer(batch), embedder.embed(cards))
    embedder.close()
    with pytest.raises(EmbedderError, match="closed"):
        embedder.infer(batch)
    with pytest.raises(EmbedderError, match="closed"):
        embedder.embed(cards)


def test_preprocessing_resizes_the_whole_card_without_cropping() -> None:
    card = np.zeros((614, 440, 3), np.uint8)
    card[:20] = 255  # a bright name strip at the very top
    card[-20:] = 128  # the number strip at the very bottom
    resized = resize_whole_card(card, (224, 224))
    assert resized.shape == (224, 224, 3)
    assert resized[2].mean() > 240 and abs(resized[-3].mean() - 128) < 3


def test_prepare_batch_follows_the_sidecar(embedder: OnnxEmbedder) -> None:
    card = np.zeros((614, 440, 3), np.uint8)
    card[..., 2] = 255  # pure red in BGR
    x = prepare_batch([card], embedder.sidecar)
    assert x.shape == (1, 3, 224, 224)
    red = (255 - embedder.sidecar.mean[0]) / embedder.sidecar.std[0]
    assert np.allclose(x[0, 0], red) and np.allclose(x[0, 2], -embedder.sidecar.mean[2] / embedder.sidecar.std[2])


@pytest.mark.parametrize("colour_order", ["RGB", "BGR"])
@pytest.mark.parametrize("size", [(224, 224), (176, 176), (160, 224)])
def test_prepare_batch_one_pass_equals_the_step_by_step_definition(
    embedder: OnnxEmbedder, colour_order: str, size: tuple[int, int]
) -> None:
    """The OpenCV fast path must give the training code's tensor (models/train/nets.to_input)."""
    sidecar = embedder.sidecar.model_copy(update={"colour_order": colour_order, "input_size": size})
    rng = np.random.default_rng(5)
    cards = [rng.integers(0, 255, (614, 440, 3), dtype=np.uint8) for _ in range(3)]
    steps = [to_model_colour(resize_whole_card(c, size), colour_order).astype(np.float32) for c in cards]
    expected = to_layout(normalise(np.stack(steps), sidecar.mean, sidecar.std), "NCHW")
    got = prepare_batch(cards, sidecar)
    assert got.shape == (3, 3, size[1], size[0]) and got.dtype == np.float32
    assert np.allclose(got, expected, atol=1e-6)


def test_registry_falls_back_to_onnx_and_says_why_hailo_was_skipped() -> None:
    backend = create_embedder(MODEL, ["hailo", "onnx"], threads=1)
    assert backend.name == "onnx"
    assert "hailo_platform not installed" in backend.reason


def test_worker_threads_spin_only_when_asked_and_never_past_the_end_of_a_call() -> None:
    quiet = create_embedder(MODEL, ["onnx"], threads=2)
    spinning = create_embedder(MODEL, ["onnx"], threads=2, spin_wait=True)
    assert isinstance(quiet, OnnxEmbedder) and isinstance(spinning, OnnxEmbedder)
    assert quiet.spin_wait is False and "no spin-wait" in quiet.description
    assert spinning.spin_wait is True and "no spin-wait" not in spinning.description
    for embedder in (quiet, spinning):
        options = embedder._session.get_session_options()  # type: ignore[union-attr]
        assert options.get_session_config_entry("session.force_spinning_stop") == "1"


def test_live_scanner_embedder_does_not_spin_but_batch_commands_do(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CARDSIGHT_CONFIG", str(tmp_path / "absent.toml"))
    monkeypatch.setenv("CARDSIGHT_EMBED__MODEL", str(MODEL))
    monkeypatch.setenv("CARDSIGHT_EMBED__BACKENDS", '["onnx"]')
    assert make_embedder(load_settings(), live=True).spin_wait is False
    assert make_embedder(load_settings(), live=False).spin_wait is True


def test_spin_wait_setting_overrides_the_default_both_ways(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CARDSIGHT_CONFIG", str(tmp_path / "absent.toml"))
    monkeypatch.setenv("CARDSIGHT_EMBED__MODEL", str(MODEL))
    monkeypatch.setenv("CARDSIGHT_EMBED__BACKENDS", '["onnx"]')
    monkeypatch.setenv("CARDSIGHT_EMBED__SPIN_WAIT", "true")
    assert make_embedder(load_settings(), live=True).spin_wait is True
    monkeypatch.setenv("CARDSIGHT_EMBED__SPIN_WAIT", "false")
    assert make_embedder(load_settings(), live=False).spin_wait is False


def test_model_swapped_without_re_export_is_refused(tmp_path: Path) -> None:
    model = tmp_path / "m.onnx"
    shutil.copy(MODEL, model)
    shutil.copy(MODEL.with_suffix(".json"), model.with_suffix(".json"))
    with open(model, "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(ModelSidecarError, match="does not match its sidecar"):
        load_model_sidecar(model)


def test_malformed_sidecar_is_a_clear_error(tmp_path: Path) -> None:
    model = tmp_path / "m.onnx"
    shutil.copy(MODEL, model)
    model.with_suffix(".json").write_text(json.dumps({"name": "x"}))
    with pytest.raises(ModelSidecarError, match="malformed"):
        load_model_sidecar(model)
