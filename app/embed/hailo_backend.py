"""Hailo-8L slot in the backend registry.

The backend itself (HailoRT ``VDevice`` / ``create_infer_model``) arrives with the Raspberry Pi issue;
until then the probe reports precisely why it is not used, so the registry falls back to ONNX with a
logged reason. ``hailo_platform`` is only ever imported here.
"""

from __future__ import annotations

import logging
from pathlib import Path

from app.embed.base import BackendPlugin, BackendUnavailable, EmbedderBackend, register_backend

logger = logging.getLogger(__name__)


def _probe(model_path: Path) -> str | None:
    try:
        import hailo_platform  # noqa: F401
    except ImportError:
        return "hailo_platform not installed (Raspberry Pi OS: sudo apt install hailo-all)"
    hef = model_path.with_suffix(".hef")
    if not hef.is_file():
        return f"no compiled model {hef.name} next to {model_path.name}"
    return "Hailo inference is not implemented in this version"


def _factory(model_path: Path, threads: int) -> EmbedderBackend:
    raise BackendUnavailable("Hailo inference is not implemented in this version")


register_backend(BackendPlugin("hailo", _probe, _factory))
