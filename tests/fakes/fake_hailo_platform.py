"""A stand-in for HailoRT's ``hailo_platform`` Python package, for machines without a Hailo-8L.

It copies the InferModel ("async") API of HailoRT 4.20 — the version Raspberry Pi OS Bookworm's
``hailo-all`` installs — as documented in HailoRT's ``pyhailort.py`` and its "Python Async Inference
Tutorial" (the 5.x API used the same names): ``VDevice(params)`` with ``VDevice.create_params()`` and
``HailoSchedulingAlgorithm.ROUND_ROBIN``; ``Device.scan()``; ``vdevice.create_infer_model(hef_path)``;
``InferModel.set_batch_size``, ``.input()/.output(name)`` streams with ``.name``, ``.shape``
(NHWC without the batch), ``.set_format_type(FormatType.X)`` and ``.quant_infos``;
``with infer_model.configure() as configured``; ``configured.create_bindings(output_buffers=...)``;
``bindings.input().set_buffer(array)`` / ``bindings.output().get_buffer()``;
``configured.wait_for_async_ready(timeout_ms, frames_count)``; ``configured.run(bindings, timeout_ms)``
and ``configured.run_async(bindings, callback)`` returning a job with ``wait(timeout_ms)``; the
callback receives ``completion_info`` whose ``exception`` is None on success. Errors are
``HailoRTException`` and its ``HailoRTTimeout`` subclass.

Checks the real library makes and this fake makes too: buffers must be C-contiguous numpy arrays of
exactly the stream's shape and dtype (uint8 for UINT8, float32 for FLOAT32); a VDevice can be opened by
one process at a time (``STATE.busy`` simulates another process holding it); waits time out.

Numerics: a "HEF" here is a small JSON file naming an ONNX model (the INT8 export) and the
normalisation the real compiler folds into the network; inference runs that ONNX model with
ONNX Runtime, so the backend's output can be compared with the ONNX backend's.
"""

from __future__ import annotations

import enum
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

__version__ = "4.20.0-fake"


class HailoRTException(Exception):
    pass


class HailoRTTimeout(HailoRTException):
    pass


class HailoSchedulingAlgorithm(enum.Enum):
    NONE = 0
    ROUND_ROBIN = 1


class FormatType(enum.Enum):
    AUTO = 0
    UINT8 = 1
    UINT16 = 2
    FLOAT32 = 3


@dataclass
class _State:
    """Test controls: what the fake "hardware" does."""

    devices: list[str] = field(default_factory=lambda: ["0001:01:00.0"])
    busy: bool = False
    delay_s: float = 0.0
    fail_next_inference: bool = False
    open_vdevices: int = 0
    created_vdevices: int = 0
    inferences: int = 0


STATE = _State()


def reset() -> None:
    global STATE
    STATE = _State()


class Device:
    @staticmethod
    def scan() -> list[str]:
        return list(STATE.devices)


class _VDeviceParams(SimpleNamespace):
    pass


class VDevice:
    @staticmethod
    def create_params() -> _VDeviceParams:
        return _VDeviceParams(scheduling_algorithm=HailoSchedulingAlgorithm.ROUND_ROBIN, group_id="SHARED")

    def __init__(self, params: _VDeviceParams | None = None) -> None:
        if not STATE.devices:
            raise HailoRTException("HAILO_OUT_OF_PHYSICAL_DEVICES: no Hailo device found")
        if STATE.busy:
            raise HailoRTException("HAILO_OUT_OF_PHYSICAL_DEVICES: the device is used by another process")
        self.params = params or VDevice.create_params()
        self._released = False
        STATE.open_vdevices += 1
        STATE.created_vdevices += 1

    def create_infer_model(self, hef_source: str) -> InferModel:
        if self._released:
            raise HailoRTException("VDevice was released")
        return InferModel(HEF(hef_source))

    def release(self) -> None:
        if not self._released:
            self._released = True
            STATE.open_vdevices -= 1

    def __enter__(self) -> VDevice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class HEF:
    def __init__(self, hef_source: str) -> None:
        path = Path(hef_source)
        try:
            self.spec = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise HailoRTException(f"HAILO_INVALID_HEF: {path}: {error}") from error
        self.path = path
        self.onnx = (path.parent / self.spec["onnx"]).resolve()

    def get_input_vstream_infos(self) -> list[Any]:
        return [SimpleNamespace(name=self.spec["input_name"], shape=tuple(self.spec["input_shape"]))]

    def get_output_vstream_infos(self) -> list[Any]:
        return [SimpleNamespace(name=self.spec["output_name"], shape=tuple(self.spec["output_shape"]))]


class _QuantInfo(SimpleNamespace):
    pass


class InferStream:
    def __init__(self, name: str, shape: tuple[int, ...], quant: _QuantInfo) -> None:
        self.name = name
        self.shape = shape
        self.format_type = FormatType.UINT8
        self.quant_infos = [quant]

    def set_format_type(self, format_type: FormatType) -> None:
        if not isinstance(format_type, FormatType):
            raise HailoRTException(f"HAILO_INVALID_ARGUMENT: format type {format_type!r}")
        self.format_type = format_type


class InferModel:
    def __init__(self, hef: HEF) -> None:
        self.hef = hef
        (info_in,) = hef.get_input_vstream_infos()
        (info_out,) = hef.get_output_vstream_infos()
        self._input = InferStream(info_in.name, info_in.shape, _QuantInfo(qp_scale=1.0, qp_zp=0.0))
        # The output is INT8 on the device; HailoRT de-quantises when the format type is FLOAT32.
        self._output = InferStream(info_out.name, info_out.shape, _QuantInfo(qp_scale=1 / 127.0, qp_zp=128.0))
        self.batch_size = 1

    @property
    def input_names(self) -> list[str]:
        return [self._input.name]

    @property
    def output_names(self) -> list[str]:
        return [self._output.name]

    def input(self, name: str | None = None) -> InferStream:
        if name not in (None, self._input.name):
            raise HailoRTException(f"HAILO_NOT_FOUND: no input {name!r}")
        return self._input

    def output(self, name: str | None = None) -> InferStream:
        if name not in (None, self._output.name):
            raise HailoRTException(f"HAILO_NOT_FOUND: no output {name!r}")
        return self._output

    def set_batch_size(self, batch_size: int) -> None:
        if batch_size < 1:
            raise HailoRTException("HAILO_INVALID_ARGUMENT: batch size")
        self.batch_size = batch_size

    def configure(self) -> _ConfiguredContext:
        return _ConfiguredContext(self)


class _ConfiguredContext:
    def __init__(self, model: InferModel) -> None:
        self.model = model
        self.configured: ConfiguredInferModel | None = None

    def __enter__(self) -> ConfiguredInferModel:
        self.configured = ConfiguredInferModel(self.model)
        return self.configured

    def __exit__(self, *exc: object) -> None:
        if self.configured is not None:
            self.configured.shutdown()


def _dtype_for(format_type: FormatType) -> type:
    return {FormatType.UINT8: np.uint8, FormatType.UINT16: np.uint16, FormatType.FLOAT32: np.float32}.get(
        format_type, np.uint8
    )


class _StreamBinding:
    def __init__(self, stream: InferStream) -> None:
        self.stream = stream
        self._buffer: np.ndarray | None = None

    def set_buffer(self, buffer: np.ndarray) -> None:
        if not isinstance(buffer, np.ndarray):
            raise HailoRTException("HAILO_INVALID_ARGUMENT: buffer must be a numpy array")
        if not buffer.flags["C_CONTIGUOUS"]:
            raise HailoRTException("HAILO_INVALID_ARGUMENT: buffer must be C-contiguous")
        if tuple(buffer.shape) != tuple(self.stream.shape):
            raise HailoRTException(f"HAILO_INVALID_ARGUMENT: shape {buffer.shape}, stream wants {self.stream.shape}")
        if buffer.dtype != _dtype_for(self.stream.format_type):
            raise HailoRTException(f"HAILO_INVALID_ARGUMENT: dtype {buffer.dtype} for {self.stream.format_type}")
        self._buffer = buffer

    def get_buffer(self) -> np.ndarray:
        if self._buffer is None:
            raise HailoRTException("HAILO_INVALID_OPERATION: no buffer set")
        return self._buffer


class Bindings:
    def __init__(self, model: InferModel, output_buffers: dict[str, np.ndarray] | None) -> None:
        self._input = _StreamBinding(model.input())
        self._output = _StreamBinding(model.output())
        if output_buffers:
            for name, buffer in output_buffers.items():
                model.output(name)
                self._output.set_buffer(buffer)

    def input(self, name: str | None = None) -> _StreamBinding:
        return self._input

    def output(self, name: str | None = None) -> _StreamBinding:
        return self._output


class AsyncInferJob:
    def __init__(self, done: threading.Event) -> None:
        self._done = done
        self.error: Exception | None = None

    def wait(self, timeout_ms: int) -> None:
        if not self._done.wait(timeout_ms / 1000):
            raise HailoRTTimeout(f"HAILO_TIMEOUT: job not done within {timeout_ms} ms")
        if self.error is not None:
            raise HailoRTException(f"inference failed: {self.error}")


class ConfiguredInferModel:
    def __init__(self, model: InferModel) -> None:
        import onnxruntime as ort

        self.model = model
        self.spec = model.hef.spec
        self._session = ort.InferenceSession(str(model.hef.onnx), providers=["CPUExecutionProvider"])
        self._lock = threading.Lock()
        self._active = True

    def create_bindings(self, output_buffers: dict[str, np.ndarray] | None = None) -> Bindings:
        return Bindings(self.model, output_buffers)

    def wait_for_async_ready(self, timeout_ms: int = 1000, frames_count: int = 1) -> None:
        if not self._active:
            raise HailoRTException("HAILO_INVALID_OPERATION: model is shut down")

    def _infer(self, bindings: Bindings) -> None:
        if STATE.delay_s:
            time.sleep(STATE.delay_s)
        if STATE.fail_next_inference:
            STATE.fail_next_inference = False
            raise HailoRTException("HAILO_STREAM_ABORTED: device stopped responding")
        pixels = bindings.input().get_buffer()
        if self.model.input().format_type != FormatType.UINT8:
            raise HailoRTException("this HEF was compiled for UINT8 input")
        # What the compiled network does on the chip: normalisation folded into the first layer.
        mean = np.asarray(self.spec["mean"], np.float32)
        std = np.asarray(self.spec["std"], np.float32)
        x = ((pixels.astype(np.float32) - mean) / std).transpose(2, 0, 1)[None]
        with self._lock:
            y = self._session.run(None, {self.spec["onnx_input"]: x})[0].reshape(-1)
        out = bindings.output()
        if self.model.output().format_type == FormatType.FLOAT32:
            result = y.astype(np.float32)
        else:
            quant = self.model.output().quant_infos[0]
            result = np.clip(np.round(y / quant.qp_scale + quant.qp_zp), 0, 255).astype(np.uint8)
        if out._buffer is None:
            out._buffer = np.empty(self.model.output().shape, _dtype_for(self.model.output().format_type))
        out.get_buffer()[...] = result.reshape(out.get_buffer().shape)
        STATE.inferences += 1

    def run(self, bindings: list[Bindings], timeout_ms: int) -> None:
        for b in bindings:
            self._infer(b)

    def run_async(self, bindings: list[Bindings], callback: Any = None) -> AsyncInferJob:
        done = threading.Event()
        job = AsyncInferJob(done)

        def work() -> None:
            try:
                for b in bindings:
                    self._infer(b)
            except Exception as exc:  # delivered to the callback and the job, like HailoRT does
                job.error = exc
            if callback is not None:
                callback(completion_info=SimpleNamespace(exception=job.error))
            done.set()

        threading.Thread(target=work, daemon=True).start()
        return job

    def shutdown(self) -> None:
        self._active = False
