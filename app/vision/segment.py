"""Card segmentation with the shipped CardSegNet ONNX model (pure preprocessing + one ORT session).

The network marks card pixels and card outlines at low resolution; :mod:`app.vision.detect` turns
the blobs into quads and refines their sides on the full-resolution frame.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from app.camera.base import BGRImage
from app.config import FinderConfig, default_of
from app.embed.ort_session import create_session
from app.imageops import shrink_by_odd_factor

logger = logging.getLogger(__name__)

DEFAULT_MODEL: Path = default_of(FinderConfig, "model")
INPUT_LONG_SIDE = 256
STRIDE = 16
MEAN = 0.5
STD = 0.25


def net_input_size(width: int, height: int, long_side: int = INPUT_LONG_SIDE) -> tuple[int, int, float]:
    """(net width, net height, scale): the frame scaled to ``long_side`` and padded up to /16."""
    scale = long_side / max(width, height)
    w = int(np.ceil(width * scale / STRIDE) * STRIDE)
    h = int(np.ceil(height * scale / STRIDE) * STRIDE)
    return w, h, scale


def preprocess(frame: BGRImage, long_side: int = INPUT_LONG_SIDE) -> tuple[npt.NDArray[np.float32], float]:
    """BGR uint8 frame → NCHW float32 network input (scaled, zero-padded bottom/right) and the scale."""
    height, width = frame.shape[:2]
    net_w, net_h, scale = net_input_size(width, height, long_side)
    sw, sh = max(1, round(width * scale)), max(1, round(height * scale))
    factor = width // sw
    if factor % 2 == 1 and sw * factor == width and sh * factor == height:
        small = shrink_by_odd_factor(frame, factor)  # 1280×720: the same pixels as below, faster
    else:
        small = cv2.resize(frame, (sw, sh), interpolation=cv2.INTER_AREA)
    padded = np.zeros((net_h, net_w, 3), np.uint8)
    padded[:sh, :sw] = small
    # (x / 255 - MEAN) / STD, as NCHW, in one pass.
    blob = cv2.dnn.blobFromImage(padded, scalefactor=1.0 / (255.0 * STD), mean=(MEAN * 255.0,) * 3, swapRB=False)
    return np.asarray(blob, np.float32), scale


@dataclass(frozen=True)
class SegmentationResult:
    #: Probability maps at half the network input resolution.
    card: npt.NDArray[np.float32]
    outline: npt.NDArray[np.float32]
    #: Frame pixels per map pixel.
    frame_per_map_px: float
    #: Map coordinate u lies at frame coordinate (u + offset) * frame_per_map_px.
    offset: float = 0.5


class CardSegmenter:
    """Runs CardSegNet. One ONNX Runtime session; explicit thread count (the finder runs per frame);
    ``mirror_pass``: run it on the mirrored frame as well and average the two."""

    def __init__(
        self,
        model_path: str | Path = DEFAULT_MODEL,
        threads: int = default_of(FinderConfig, "threads"),
        mirror_pass: bool = default_of(FinderConfig, "mirror_pass"),
    ) -> None:
        self.model_path = Path(model_path)
        self.mirror_pass = mirror_pass
        if not self.model_path.is_file():
            raise FileNotFoundError(
                f"Card finder model missing: {self.model_path} (rebuild with: python -m models.finder.train)"
            )
        sidecar = self.model_path.with_suffix(".json")
        self.long_side = INPUT_LONG_SIDE
        self.offset = 0.0
        if sidecar.is_file():
            meta = json.loads(sidecar.read_text())
            self.long_side = int(meta.get("input_long_side", INPUT_LONG_SIDE))
            self.offset = float(meta.get("map_pixel_centre_offset", 0.0))
        # No per-session arena: it keeps the high-water mark of every shape it saw (RSS, bench/live.py).
        # No spin-wait: with more than one thread, ORT's workers would busy-wait between frames on the
        # cores the embedder and the number reader share (see app/embed/onnx_backend.py).
        self._session = create_session(self.model_path, threads=threads, memory_arena=False, spin_wait=False)
        self._input = self._session.get_inputs()[0].name

    def segment(self, frame: BGRImage, long_side: int | None = None) -> SegmentationResult:
        """The network's maps of ``frame`` scaled to ``long_side`` (default: the size it was trained at;
        the network is fully convolutional, so a larger size shows small cards at its usual card size)."""
        x, scale = preprocess(frame, long_side or self.long_side)
        logits = self._session.run(None, {self._input: x})[0][0]
        if self.mirror_pass:
            # The mean of the logits of the frame and of its mirror image (mirrored back): the two passes
            # err in different places, so the average outlines more cards right for the cost of a second
            # network run (bench/results/detect.json).
            mirrored = self._session.run(None, {self._input: np.ascontiguousarray(x[:, :, :, ::-1])})[0][0]
            logits = (logits + mirrored[:, :, ::-1]) * 0.5
        prob = 1.0 / (1.0 + np.exp(-logits))
        return SegmentationResult(card=prob[0], outline=prob[1], frame_per_map_px=2.0 / scale, offset=self.offset)
