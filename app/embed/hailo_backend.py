"""Hailo-8L backend: HailoRT's InferModel API (``hailo_platform``, Raspberry Pi OS ``hailo-all``).

Chosen when ``hailo_platform`` imports, a device is present and a compiled ``<model>.hef`` sits next to
the ONNX model with a ``<model>.hef.json`` naming that model's sha256 (written by the Hailo compile
kit, ``packaging/hailo/``). Anything else — no package, no device, no HEF, a HEF for another model,
the device held by another process — is a reason the registry logs and shows before it falls back to
ONNX Runtime. ``hailo_platform`` is only ever imported in this module.

One VDevice per process, shared and reference-counted (HailoRT allows one process per device; a
second VDevice in the same process would fail too). Inference uses ``run_async`` + ``job.wait`` with
a timeout: a hung device raises, it never returns zeros.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from app.camera.base import BGRImage
from app.embed.base import (
    BackendPlugin,
    BackendUnavailable,
    EmbedderBackend,
    EmbedderError,
    backend_sidecar,
    register_backend,
)
from app.embed.preprocess import l2_normalise, resize_whole_card, to_model_colour
from app.embed.sidecar import ModelSidecarError, load_model_sidecar

logger = logging.getLogger(__name__)

#: What this backend needs from ``hailo_platform`` (checked at probe time: the API moves between releases).
REQUIRED_API = ("VDevice", "FormatType", "HailoSchedulingAlgorithm", "Device")


def hef_path_for(model_path: Path) -> Path:
    return model_path.with_suffix(".hef")


def hef_sidecar_path(hef: Path) -> Path:
    return hef.with_name(hef.name + ".json")


def read_hef_sidecar(hef: Path) -> dict[str, Any]:
    path = hef_sidecar_path(hef)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise BackendUnavailable(
            f"{path.name} missing or unreadable ({error}); recompile with packaging/hailo"
        ) from error
    if not isinstance(data, dict) or "onnx_sha256" not in data:
        raise BackendUnavailable(f"{path.name} does not name the ONNX model it was compiled from")
    return data


class _SharedVDevice:
    """One reference-counted VDevice per process."""

    _lock = threading.Lock()
    _vdevice: Any = None
    _users = 0

    @classmethod
    def acquire(cls, hailo: Any) -> Any:
        with cls._lock:
            if cls._vdevice is None:
                params = hailo.VDevice.create_params()
                params.scheduling_algorithm = hailo.HailoSchedulingAlgorithm.ROUND_ROBIN
                cls._vdevice = hailo.VDevice(params)
            cls._users += 1
            return cls._vdevice

    @classmethod
    def release(cls) -> None:
        with cls._lock:
            cls._users = max(0, cls._users - 1)
            if cls._users == 0 and cls._vdevice is not None:
                cls._vdevice.release()
                cls._vdevice = None


class HailoEmbedder(EmbedderBackend):
    name = "hailo"

    def __init__(self, model_path: str | Path, timeout_ms: int = 1000) -> None:
        import hailo_platform as hailo

        model_path = Path(model_path)
        sidecar = backend_sidecar(model_path)
        super().__init__(sidecar, model_path)
        self.hef = hef_path_for(model_path)
        compiled = read_hef_sidecar(self.hef)
        if compiled["onnx_sha256"] != sidecar.sha256:
            raise BackendUnavailable(
                f"{self.hef.name} was compiled from another model ({str(compiled['onnx_sha256'])[:12]}…, "
                f"running {sidecar.sha256[:12]}…); recompile it with packaging/hailo/compile.sh"
            )
        #: The compile kit folds mean/std into the network: the HEF takes raw uint8 pixels.
        self.normalisation_in_hef = bool(compiled.get("normalisation_in_hef", True))
        self.timeout_ms = timeout_ms
        self._hailo = hailo
        self._lock = threading.Lock()
        try:
            self._vdevice = _SharedVDevice.acquire(hailo)
        except hailo.HailoRTException as error:
            raise BackendUnavailable(f"Hailo device unavailable ({error}) — is another program using it?") from error
        try:
            self._model = self._vdevice.create_infer_model(str(self.hef))
            self._model.set_batch_size(1)
            self._model.input().set_format_type(hailo.FormatType.UINT8)
            self._model.output().set_format_type(hailo.FormatType.FLOAT32)
            self._input_shape = tuple(self._model.input().shape)
            self._output_shape = tuple(self._model.output().shape)
            self._configure_context = self._model.configure()
            self._configured = self._configure_context.__enter__()
        except hailo.HailoRTException as error:
            _SharedVDevice.release()
            raise BackendUnavailable(f"cannot load {self.hef.name} on the Hailo device: {error}") from error
        if int(np.prod(self._output_shape)) != self.dim:
            self.close()
            raise BackendUnavailable(
                f"{self.hef.name} gives {self._output_shape} outputs, the model sidecar says {self.dim}"
            )
        width, height = sidecar.input_size
        if self._input_shape != (height, width, 3):
            self.close()
            raise BackendUnavailable(f"{self.hef.name} takes {self._input_shape}, expected NHWC {(height, width, 3)}")
        self.description = "Hailo-8L (HailoRT)"
        # Warm-up: the first inference loads the network onto the chip.
        self.embed([np.zeros((614, 440, 3), np.uint8)])

    def _input_buffer(self, card: BGRImage) -> npt.NDArray[np.uint8]:
        pixels = to_model_colour(resize_whole_card(card, self.sidecar.input_size), self.sidecar.colour_order)
        if self.normalisation_in_hef:
            return np.ascontiguousarray(pixels, dtype=np.uint8)
        # A HEF compiled without folded normalisation: quantise the normalised input with its own qparams.
        quant = self._model.input().quant_infos[0]
        mean = np.asarray(self.sidecar.mean, np.float32)
        std = np.asarray(self.sidecar.std, np.float32)
        normalised = (pixels.astype(np.float32) - mean) / std
        return np.ascontiguousarray(np.clip(np.round(normalised / quant.qp_scale + quant.qp_zp), 0, 255), np.uint8)

    def embed(self, cards: Sequence[BGRImage]) -> npt.NDArray[np.float32]:
        hailo = self._hailo
        if self._configured is None:
            raise EmbedderError("Hailo embedder is closed")
        out = np.zeros((len(cards), self.dim), np.float32)
        with self._lock:
            for i, card in enumerate(cards):
                output = np.empty(self._output_shape, np.float32)
                bindings = self._configured.create_bindings(output_buffers={self._model.output().name: output})
                bindings.input().set_buffer(self._input_buffer(card))
                failures: list[Any] = []
                try:
                    self._configured.wait_for_async_ready(timeout_ms=self.timeout_ms)
                    job = self._configured.run_async(
                        [bindings],
                        lambda completion_info, failures=failures: failures.append(completion_info.exception),
                    )
                    job.wait(self.timeout_ms)
                except hailo.HailoRTException as error:
                    raise EmbedderError(f"Hailo inference failed: {error}") from error
                if any(f is not None for f in failures):
                    raise EmbedderError(f"Hailo inference failed: {failures[0]}")
                out[i] = bindings.output().get_buffer().reshape(-1)
        return l2_normalise(out)

    def close(self) -> None:
        with self._lock:
            if getattr(self, "_configured", None) is None:
                return
            self._configured = None
            try:
                self._configure_context.__exit__(None, None, None)
            finally:
                _SharedVDevice.release()


def _probe(model_path: Path) -> str | None:
    try:
        import hailo_platform as hailo
    except ImportError:
        return "hailo_platform not installed (Raspberry Pi OS: sudo apt install hailo-all)"
    missing = [name for name in REQUIRED_API if not hasattr(hailo, name)]
    if missing:
        return f"hailo_platform {getattr(hailo, '__version__', '?')} lacks {', '.join(missing)} (HailoRT ≥ 4.18 needed)"
    try:
        devices = hailo.Device.scan()
    except Exception as error:  # the driver raises its own types when the PCIe device is absent
        return f"no Hailo device ({error})"
    if not devices:
        return "no Hailo device found (is the AI Kit seated and the driver loaded? hailortcli scan)"
    hef = hef_path_for(model_path)
    if not hef.is_file():
        return f"no compiled model {hef.name} next to {model_path.name} (packaging/hailo/compile.sh makes it)"
    try:
        compiled = read_hef_sidecar(hef)
        expected = load_model_sidecar(model_path, verify=False).sha256
    except (BackendUnavailable, ModelSidecarError) as error:
        return str(error)
    if compiled["onnx_sha256"] != expected:
        return f"{hef.name} was compiled from another model; recompile it (packaging/hailo/compile.sh)"
    return None


def _factory(model_path: Path, threads: int, spin_wait: bool) -> EmbedderBackend:
    return HailoEmbedder(model_path)


register_backend(BackendPlugin("hailo", _probe, _factory))
