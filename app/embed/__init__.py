"""Embedding backends: straightened card images → L2-normalised vectors."""

from app.embed.base import BackendUnavailable, EmbedderBackend, EmbedderError, create_embedder
from app.embed.sidecar import ModelSidecar, ModelSidecarError, load_model_sidecar

__all__ = [
    "BackendUnavailable",
    "EmbedderBackend",
    "EmbedderError",
    "ModelSidecar",
    "ModelSidecarError",
    "create_embedder",
    "load_model_sidecar",
]
