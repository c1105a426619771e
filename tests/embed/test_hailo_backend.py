"""The Hailo backend against a fake ``hailo_platform`` (tests/fakes/fake_hailo_platform.py) that runs
the shipped INT8 ONNX model underneath, so its numbers can be compared with the ONNX backend's."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from app import PROJECT_ROOT
from app.embed import create_embedder
from app.embed.base import EmbedderError
from app.embed.hailo_backend import HailoEmbedder, _SharedVDevice
from app.embed.onnx_backend import OnnxEmbedder
from app.embed.sidecar import load_model_sidecar
from models.sim.capture_sim import load_card_texture
from tests.fakes import fake_hailo_platform

MODELS = PROJECT_ROOT / "models" / "card"
# The shipped card model: the fake HailoRT runs its INT8 ONNX copy, as the chip runs the HEF.
FP32 = MODELS / "card_student.onnx"
CARDS = ["sv3pt5-25", "sv5-123", "xy12-1", "sv3pt5-6"]
INT8 = MODELS / "card_student.int8.onnx"


@pytest.fixture
def hailo(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    fake_hailo_platform.reset()
    monkeypatch.setitem(sys.modules, "hailo_platform", fake_hailo_platform)
    yield fake_hailo_platform
    assert _SharedVDevice._users == 0, "a test leaked a Hailo embedder"


@pytest.fixture
def compiled_model(tmp_path: Path) -> Path:
    """The shipped model with a (fake) HEF compiled from it, as packaging/hailo/compile.sh leaves it."""
    model = tmp_path / FP32.name
    shutil.copy2(FP32, model)
    shutil.copy2(FP32.with_suffix(".json"), model.with_suffix(".json"))
    sidecar = load_model_sidecar(model)
    width, height = sidecar.input_size
    hef = {
        "onnx": str(INT8),
        "onnx_input": sidecar.input_name,
        "input_name": "card_student/input_layer1",
        "output_name": "card_student/embedding",
        "input_shape": [height, width, 3],
        "output_shape": [sidecar.dim],
        "mean": list(sidecar.mean),
        "std": list(sidecar.std),
    }
    model.with_suffix(".hef").write_text(json.dumps(hef))
    (tmp_path / (model.with_suffix(".hef").name + ".json")).write_text(
        json.dumps({"onnx_sha256": sidecar.sha256, "normalisation_in_hef": True})
    )
    return model


def cards(n: int = 3) -> list[np.ndarray]:
    rng = np.random.default_rng(5)
    base = [np.full((614, 440, 3), (40 * i, 120, 255 - 40 * i), np.uint8) for i in range(n)]
    return [np.clip(b + rng.integers(0, 40, b.shape), 0, 255).astype(np.uint8) for b in base]


def test_hailo_is_chosen_when_device_and_matching_hef_exist(hailo, compiled_model: Path) -> None:  # type: ignore[no-untyped-def]
    embedder = create_embedder(compiled_model, ["hailo", "onnx"])
    try:
        assert embedder.name == "hailo" and "first choice" in embedder.reason
        assert embedder.description.startswith("Hailo-8L")
    finally:
        embedder.close()


def test_hailo_numerics_match_the_int8_onnx_model_and_stay_close_to_fp32(
    hailo,
    compiled_model: Path,
    catalog_dir: Path,  # type: ignore[no-untyped-def]
) -> None:
    # Real cards: the INT8 model was calibrated on card crops, not on flat test patterns.
    images = [load_card_texture(catalog_dir / "images" / c.split("-")[0] / f"{c}.jpg") for c in CARDS]
    with HailoEmbedder(compiled_model) as on_chip:
        hailo_vectors = on_chip.embed(images)
    int8 = OnnxEmbedder(INT8).embed(images)
    fp32 = OnnxEmbedder(FP32).embed(images)
    assert hailo_vectors.shape == (len(CARDS), fp32.shape[1])
    np.testing.assert_allclose(np.linalg.norm(hailo_vectors, axis=1), 1.0, atol=1e-5)
    assert np.min(np.sum(hailo_vectors * int8, axis=1)) > 0.9999  # same preprocessing, same network
    assert (
        np.min(np.sum(hailo_vectors * fp32, axis=1)) > 0.98
    )  # INT8 vs FP32 (models/quantize.py measured 0.996 mean on held-out crops)


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        ("no_module", "hailo_platform not installed"),
        ("no_device", "no Hailo device found"),
        ("no_hef", "no compiled model"),
        ("other_model", "compiled from another model"),
        ("busy", "used by another process"),
    ],
)
def test_without_a_usable_hailo_the_registry_falls_back_to_onnx_with_the_reason(
    hailo,
    compiled_model: Path,
    monkeypatch: pytest.MonkeyPatch,
    setup: str,
    reason: str,  # type: ignore[no-untyped-def]
) -> None:
    if setup == "no_module":
        monkeypatch.setitem(sys.modules, "hailo_platform", None)
    elif setup == "no_device":
        hailo.STATE.devices = []
    elif setup == "no_hef":
        compiled_model.with_suffix(".hef").unlink()
    elif setup == "other_model":
        sidecar = compiled_model.with_suffix(".hef").with_name(compiled_model.with_suffix(".hef").name + ".json")
        sidecar.write_text(json.dumps({"onnx_sha256": "0" * 64}))
    elif setup == "busy":
        hailo.STATE.busy = True
    embedder = create_embedder(compiled_model, ["hailo", "onnx"])
    try:
        assert embedder.name == "onnx"
        assert reason in embedder.reason
    finally:
        embedder.close()


def test_a_failing_or_hung_device_raises_instead_of_returning_zeros(hailo, compiled_model: Path) -> None:  # type: ignore[no-untyped-def]
    with HailoEmbedder(compiled_model, timeout_ms=200) as embedder:
        hailo.STATE.fail_next_inference = True
        with pytest.raises(EmbedderError, match="STREAM_ABORTED"):
            embedder.embed(cards(1))
        hailo.STATE.delay_s = 0.5
        with pytest.raises(EmbedderError, match="TIMEOUT"):
            embedder.embed(cards(1))
        hailo.STATE.delay_s = 0.0
        assert embedder.embed(cards(1)).shape[0] == 1  # and it recovers


def test_one_shared_vdevice_per_process_released_with_the_last_user(hailo, compiled_model: Path) -> None:  # type: ignore[no-untyped-def]
    first = HailoEmbedder(compiled_model)
    second = HailoEmbedder(compiled_model)
    assert hailo.STATE.created_vdevices == 1 and hailo.STATE.open_vdevices == 1
    first.close()
    first.close()  # idempotent
    assert hailo.STATE.open_vdevices == 1
    second.close()
    assert hailo.STATE.open_vdevices == 0


def test_the_fake_enforces_hailorts_buffer_rules(hailo, compiled_model: Path) -> None:  # type: ignore[no-untyped-def]
    vdevice = hailo.VDevice(hailo.VDevice.create_params())
    model = vdevice.create_infer_model(str(compiled_model.with_suffix(".hef")))
    model.input().set_format_type(hailo.FormatType.UINT8)
    shape = tuple(model.input().shape)  # (height, width, 3), from the compiled model
    with model.configure() as configured:
        bindings = configured.create_bindings()
        with pytest.raises(hailo.HailoRTException, match="contiguous"):
            bindings.input().set_buffer(np.zeros(shape, np.uint8)[:, ::-1])
        with pytest.raises(hailo.HailoRTException, match="shape"):
            bindings.input().set_buffer(np.zeros((1, *shape), np.uint8))
        with pytest.raises(hailo.HailoRTException, match="dtype"):
            bindings.input().set_buffer(np.zeros(shape, np.float32))
    vdevice.release()
