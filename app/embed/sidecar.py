"""The model sidecar: what the exporter knew about the model, read by every runtime backend."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

logger = logging.getLogger(__name__)


class ModelSidecarError(ValueError):
    """The sidecar is missing, malformed, or does not match its model file."""


class ModelSidecar(BaseModel):
    """``<model>.json`` next to ``<model>.onnx``."""

    name: str
    format_version: int = 1
    input_name: str = "image"
    output_name: str = "embedding"
    layout: Literal["NCHW", "NHWC"] = "NCHW"
    input_size: tuple[int, int] = (224, 224)  # width, height
    colour_order: Literal["RGB", "BGR"] = "RGB"
    #: Per-channel mean/std on 0..255 values, in ``colour_order``; ignored when normalised in the graph.
    mean: tuple[float, float, float] = (127.0, 127.0, 127.0)
    std: tuple[float, float, float] = (128.0, 128.0, 128.0)
    normalised_in_graph: bool = False
    dim: int = Field(gt=0)
    l2_normalised: bool = True
    sha256: str
    #: The ONNX file this sidecar describes (relative to the sidecar).
    model_file: str
    parent_sha256: str | None = None
    recipe: dict[str, object] = Field(default_factory=dict)

    @classmethod
    def read(cls, path: str | Path) -> ModelSidecar:
        path = Path(path)
        if not path.is_file():
            raise ModelSidecarError(f"Model sidecar missing: {path} (re-run the export that made the model)")
        try:
            return cls.model_validate(json.loads(path.read_text()))
        except (json.JSONDecodeError, ValidationError) as error:
            raise ModelSidecarError(f"Model sidecar {path} is malformed: {error}") from error

    def write(self, path: str | Path) -> None:
        Path(path).write_text(self.model_dump_json(indent=2) + "\n")

    def model_path(self, sidecar_path: str | Path) -> Path:
        return Path(sidecar_path).parent / self.model_file


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sidecar_path_for(model_path: str | Path) -> Path:
    return Path(model_path).with_suffix(".json")


def load_model_sidecar(model_path: str | Path, verify: bool = True) -> ModelSidecar:
    """Read the sidecar of ``model_path`` and check that it describes this very file."""
    sidecar = ModelSidecar.read(sidecar_path_for(model_path))
    if verify:
        actual = sha256_file(model_path)
        if actual != sidecar.sha256:
            raise ModelSidecarError(
                f"{model_path} does not match its sidecar (sha256 {actual[:12]}… vs {sidecar.sha256[:12]}…): "
                "the model was replaced without re-exporting"
            )
    return sidecar
