"""Preprocessing for the embedding models: pure array → array functions.

The whole straightened card is resized to the model's input size — never centre-cropped, which
would cut off the card name and the collector number.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from app.camera.base import BGRImage
from app.embed.sidecar import ModelSidecar
from app.imageops import area_downscale


def resize_whole_card(card: BGRImage, size: tuple[int, int]) -> BGRImage:
    """Resize the full card (aspect not kept: the model was trained on the same squeeze)."""
    if card.ndim != 3 or card.shape[2] != 3:
        raise ValueError(f"expected an H×W×3 card image, got shape {card.shape}")
    return area_downscale(card, size)


def to_model_colour(image: BGRImage, colour_order: str) -> BGRImage:
    return image[:, :, ::-1] if colour_order == "RGB" else image


def normalise(
    image: npt.NDArray[np.uint8] | npt.NDArray[np.float32], mean: Sequence[float], std: Sequence[float]
) -> npt.NDArray[np.float32]:
    m = np.asarray(mean, np.float32)
    s = np.asarray(std, np.float32)
    return (image.astype(np.float32) - m) / s


def to_layout(batch_nhwc: npt.NDArray[np.float32], layout: str) -> npt.NDArray[np.float32]:
    return np.ascontiguousarray(batch_nhwc.transpose(0, 3, 1, 2) if layout == "NCHW" else batch_nhwc)


def prepare_batch(cards: Sequence[BGRImage], sidecar: ModelSidecar) -> npt.NDArray[np.float32]:
    """BGR uint8 cards → the model's input tensor, as its sidecar describes it."""
    if sidecar.layout == "NCHW" and not sidecar.normalised_in_graph and len(set(sidecar.std)) == 1:
        # One OpenCV pass does the channel swap, (x − mean) / std and HWC → CHW: a third of the
        # time of the NumPy steps below, which it equals (the tests pin that).
        return np.asarray(
            cv2.dnn.blobFromImages(
                [resize_whole_card(card, sidecar.input_size) for card in cards],
                scalefactor=1.0 / float(sidecar.std[0]),
                mean=tuple(float(m) for m in sidecar.mean),
                swapRB=sidecar.colour_order == "RGB",
                crop=False,
            ),
            np.float32,
        )
    resized = [to_model_colour(resize_whole_card(card, sidecar.input_size), sidecar.colour_order) for card in cards]
    batch = np.stack(resized).astype(np.float32)
    if not sidecar.normalised_in_graph:
        batch = normalise(batch, sidecar.mean, sidecar.std)
    return to_layout(batch, sidecar.layout)


def l2_normalise(vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)
