"""The embedder contract and the backend registry.

A backend turns straightened card images into L2-normalised float32 vectors. Backends register a
factory and an availability probe; :func:`create_embedder` walks the preference list and takes the
first available one, logging why each earlier one was skipped (never silently).
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import numpy as np
import numpy.typing as npt

from app.camera.base import BGRImage
from app.config import EmbedConfig, default_of
from app.embed.sidecar import ModelSidecar, ModelSidecarError, load_model_sidecar

logger = logging.getLogger(__name__)


class EmbedderError(RuntimeError):
    """A backend failed to load or to run."""


class BackendUnavailable(EmbedderError):
    """This backend cannot run here (missing library, device, or compiled model)."""


class EmbedderBackend(abc.ABC):
    #: Registry name ("onnx", "hailo").
    name: str = "backend"

    def __init__(self, sidecar: ModelSidecar, model_path: Path) -> None:
        self.sidecar = sidecar
        self.model_path = model_path
        #: Human-readable, for the status bar: e.g. "ONNX Runtime CPU, 2 threads".
        self.description = self.name
        #: Why this backend was chosen (set by the registry).
        self.reason = ""

    @property
    def dim(self) -> int:
        return self.sidecar.dim

    @property
    def model_sha256(self) -> str:
        return self.sidecar.sha256

    @abc.abstractmethod
    def embed(self, cards: Sequence[BGRImage]) -> npt.NDArray[np.float32]:
        """float32 [N, dim], L2-normalised rows."""

    def close(self) -> None:  # noqa: B027 - optional for backends without resources
        """Release the session or device; idempotent."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def backend_sidecar(model_path: Path) -> ModelSidecar:
    """The model's verified sidecar; a missing or stale one makes the backend unavailable (the
    registry then says why and tries the next backend)."""
    try:
        return load_model_sidecar(model_path)
    except ModelSidecarError as error:
        raise BackendUnavailable(str(error)) from error


@dataclass(frozen=True)
class BackendPlugin:
    name: str
    #: Returns None when usable, else the reason it is not.
    probe: Callable[[Path], str | None]
    #: (model, CPU threads, spin-wait) → backend; backends that do not run on the CPU ignore the last two.
    factory: Callable[[Path, int, bool], EmbedderBackend]


_REGISTRY: dict[str, BackendPlugin] = {}


def register_backend(plugin: BackendPlugin) -> None:
    _REGISTRY[plugin.name] = plugin


def registered_backends() -> list[str]:
    _load_builtin_plugins()
    return list(_REGISTRY)


def _load_builtin_plugins() -> None:
    # Importing registers them; each keeps its optional hardware import inside itself.
    from app.embed import hailo_backend, onnx_backend  # noqa: F401


#: ``[embed] backends``' default, for callers without settings.
DEFAULT_BACKENDS: tuple[str, ...] = tuple(default_of(EmbedConfig, "backends"))


def create_embedder(
    model_path: str | Path,
    preference: Sequence[str] = DEFAULT_BACKENDS,
    threads: int = default_of(EmbedConfig, "threads"),
    spin_wait: bool = False,
) -> EmbedderBackend:
    """The first available backend in ``preference`` order, with ``reason`` saying why it won.
    ``spin_wait``: let a CPU backend's worker threads spin for work within a call (see ``OnnxEmbedder``)."""
    _load_builtin_plugins()
    model_path = Path(model_path)
    skipped: list[str] = []
    for name in preference:
        plugin = _REGISTRY.get(name)
        if plugin is None:
            skipped.append(f"{name}: unknown backend")
            continue
        why_not = plugin.probe(model_path)
        if why_not is not None:
            logger.info("Embedding backend %s unavailable: %s", name, why_not)
            skipped.append(f"{name}: {why_not}")
            continue
        try:
            backend = plugin.factory(model_path, threads, spin_wait)
        except BackendUnavailable as error:
            logger.warning("Embedding backend %s failed to start: %s", name, error)
            skipped.append(f"{name}: {error}")
            continue
        backend.reason = "; ".join([*skipped, f"{name}: available"]) if skipped else f"{name}: first choice"
        logger.info("Embedding with %s (%s)", backend.description, backend.reason)
        return backend
    raise EmbedderError("No embedding backend could start: " + "; ".join(skipped))
