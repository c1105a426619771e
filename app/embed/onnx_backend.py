"""ONNX Runtime embedding backend (desktop CPU, or any ORT provider that is installed)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from app.camera.base import BGRImage
from app.config import EmbedConfig, default_of
from app.embed.base import (
    BackendPlugin,
    BackendUnavailable,
    EmbedderBackend,
    EmbedderError,
    backend_sidecar,
    register_backend,
)
from app.embed.ort_session import create_session
from app.embed.preprocess import l2_normalise, prepare_batch

logger = logging.getLogger(__name__)

#: Providers we would use, best first; the session gets this ∩ what this onnxruntime build has.
PROVIDER_PREFERENCE = ("CUDAExecutionProvider", "CoreMLExecutionProvider", "CPUExecutionProvider")


def choose_providers(available: Sequence[str], preference: Sequence[str] = PROVIDER_PREFERENCE) -> list[str]:
    chosen = [p for p in preference if p in available]
    if not chosen:
        raise BackendUnavailable(f"none of {list(preference)} is available (have {list(available)})")
    return chosen


class OnnxEmbedder(EmbedderBackend):
    name = "onnx"

    def __init__(
        self,
        model_path: str | Path,
        threads: int = default_of(EmbedConfig, "threads"),
        warmup: bool = True,
        spin_wait: bool = False,
    ) -> None:
        """``spin_wait``: ONNX Runtime's worker threads busy-wait for work during a call (waking a
        sleeping worker for each layer costs a noticeable share of a batch-1 call). They always stop
        when the call returns (``session.force_spinning_stop``): spinning on between calls, ORT's
        default, slows whatever runs next. Off unless asked for: in the live scanner the finder and the
        number reader run *while* the embedder does, and spinning workers take the cores they need
        (bench/live.py's steady → identified latency rises)."""
        import onnxruntime as ort

        model_path = Path(model_path)
        sidecar = backend_sidecar(model_path)
        super().__init__(sidecar, model_path)
        providers = choose_providers(ort.get_available_providers())
        try:
            # The arena keeps the high-water mark of every batch shape it saw, but the app embeds a
            # few crops at a time (the bundle builder chunks its batches), and reusing its buffers
            # beats allocating every layer's output again on each call, a real share of a small call.
            self._session: ort.InferenceSession | None = create_session(
                model_path,
                threads=threads,
                providers=providers,
                memory_arena=True,
                spin_wait=spin_wait,
                stop_spinning_after_call=True,
            )
        except Exception as error:  # ORT raises its own Fail/InvalidGraph types
            raise BackendUnavailable(f"ONNX Runtime cannot load {model_path}: {error}") from error
        inputs = {i.name for i in self._session.get_inputs()}
        if sidecar.input_name not in inputs:
            raise BackendUnavailable(f"{model_path} has inputs {sorted(inputs)}, sidecar says {sidecar.input_name!r}")
        used = self._session.get_providers()
        spinning = "spin-wait within a call" if spin_wait else "no spin-wait"
        self.description = f"ONNX Runtime {used[0].replace('ExecutionProvider', '')}, {threads} thread(s), {spinning}"
        if warmup:
            # The first run allocates and plans; do it now, not on the first card a user shows.
            self.embed([np.zeros((614, 440, 3), np.uint8)])

    @property
    def spin_wait(self) -> bool:
        """Whether the session's worker threads busy-wait for work within a call (read back from ORT)."""
        if self._session is None:
            raise EmbedderError("embedder is closed")
        options = self._session.get_session_options()
        return options.get_session_config_entry("session.intra_op.allow_spinning") != "0"

    def embed(self, cards: Sequence[BGRImage]) -> npt.NDArray[np.float32]:
        if self._session is None:
            raise EmbedderError("embedder is closed")
        if len(cards) == 0:
            return np.zeros((0, self.dim), np.float32)
        return self.infer(self.prepare(cards))

    def prepare(self, cards: Sequence[BGRImage]) -> npt.NDArray[np.float32]:
        """The model's input tensor for these straightened cards (the first half of :meth:`embed`)."""
        return prepare_batch(cards, self.sidecar)

    def infer(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Embeddings of a prepared batch (the network alone; the second half of :meth:`embed`)."""
        if self._session is None:
            raise EmbedderError("embedder is closed")
        output = self._session.run([self.sidecar.output_name], {self.sidecar.input_name: batch})[0]
        vectors = np.asarray(output, np.float32).reshape(len(batch), -1)
        if vectors.shape[1] != self.dim:
            raise EmbedderError(f"model gave {vectors.shape[1]}-d vectors, sidecar says {self.dim}")
        return vectors if self.sidecar.l2_normalised else l2_normalise(vectors)

    def close(self) -> None:
        self._session = None


def _probe(model_path: Path) -> str | None:
    try:
        import onnxruntime  # noqa: F401
    except ImportError as error:
        return f"onnxruntime not installed ({error})"
    if not model_path.is_file():
        return f"model file {model_path} not found"
    return None


register_backend(
    BackendPlugin("onnx", _probe, lambda path, threads, spin_wait: OnnxEmbedder(path, threads, spin_wait=spin_wait))
)
