"""Training scenes for CardSegNet, rendered by the capture simulator with exact masks."""

from __future__ import annotations

import csv
import logging
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from app.vision.geometry import CANONICAL_SIZE
from app.vision.segment import net_input_size, preprocess
from models.sim.capture_sim import CaptureSimulator, SimCapture, SimOptions, load_card_texture
from models.sim.multicard import SCENE_KINDS, MultiCardSimulator

logger = logging.getLogger(__name__)

#: Frame shapes seen in practice: webcam 16:9 and 4:3, phone portrait, listing photos (card aspect).
FRAME_SIZES = [(1280, 720), (640, 480), (720, 1280), (296, 416)]


def ebay_card_textures(ebay_dir: Path, split: str = "train") -> list[npt.NDArray[np.uint8]]:
    """Card crops from the eBay photos (old card designs and card backs) for texture variety.

    Split by source photo (crc32 parity): ``train`` textures never come from the photos held out for
    the finder's real-photo check.
    """
    textures = []
    boxes = {}
    with open(ebay_dir / "boxes.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["class"] == "Card":
                boxes[row["filename"]] = row
    with open(ebay_dir / "labels.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            in_train = zlib.crc32(row["source_photo"].encode()) % 2 == 0
            if (split == "train") != in_train or row["file"] not in boxes:
                continue
            box = boxes[row["file"]]
            image = cv2.imread(str(ebay_dir / "images" / row["file"]))
            if image is None:
                continue
            x0, y0, x1, y1 = (int(box[k]) for k in ("xmin", "ymin", "xmax", "ymax"))
            crop = image[y0:y1, x0:x1]
            if crop.size == 0 or crop.shape[0] < crop.shape[1]:
                continue
            textures.append(cv2.resize(crop, CANONICAL_SIZE, interpolation=cv2.INTER_AREA))
    return textures


@dataclass(frozen=True)
class TextureSplit:
    """Card textures for fitting a finder classifier and for its held-out figures: four fifths of the
    catalogue scans (seeded) with the training eBay crops, and the other fifth with the held-out ones."""

    fit: list[npt.NDArray[np.uint8]]
    heldout: list[npt.NDArray[np.uint8]]
    #: Every scan and the training eBay crops (the held-out eBay crops never train anything).
    everything: list[npt.NDArray[np.uint8]]
    scans: int
    heldout_scans: int
    ebay_train: int
    ebay_heldout: int

    def provenance(self, catalog_dir: Path, ebay_dir: Path) -> dict[str, str]:
        """Where the textures came from, for a trainer's sidecar."""
        return {
            "catalogue": f"{catalog_dir}: {self.scans} scans; held out for the figures: {self.heldout_scans} (seeded)",
            "ebay": f"{ebay_dir}: {self.ebay_train} training crops; {self.ebay_heldout} held-out crops, "
            "for the figures only",
        }


def split_textures(catalog_dir: Path, ebay_dir: Path, seed: int) -> TextureSplit:
    """Raises FileNotFoundError when the catalogue has no scans."""
    scans = [load_card_texture(p) for p in sorted((catalog_dir / "images").glob("*/*.jpg"))]
    if not scans:
        raise FileNotFoundError(f"no card scans under {catalog_dir / 'images'}")
    ebay_train = ebay_card_textures(ebay_dir, "train")
    ebay_heldout = ebay_card_textures(ebay_dir, "heldout")
    order = np.random.default_rng(seed).permutation(len(scans))
    held = {int(i) for i in order[: len(scans) // 5]}
    return TextureSplit(
        fit=[s for i, s in enumerate(scans) if i not in held] + ebay_train,
        heldout=[scans[i] for i in sorted(held)] + ebay_heldout,
        everything=scans + ebay_train,
        scans=len(scans),
        heldout_scans=len(held),
        ebay_train=len(ebay_train),
        ebay_heldout=len(ebay_heldout),
    )


def is_heldout_ebay_photo(source_photo: str) -> bool:
    return zlib.crc32(source_photo.encode()) % 2 == 1


def targets_for(capture: SimCapture, net_w: int, net_h: int, scale: float) -> npt.NDArray[np.uint8]:
    """(2, H/2, W/2) uint8 masks: card surface and outline band, at the network's output size."""
    out_w, out_h = net_w // 2, net_h // 2
    f = scale / 2.0
    card = np.zeros((out_h, out_w), np.uint8)
    band = np.zeros((out_h, out_w), np.uint8)
    for quad in capture.quads:
        # Map pixel i covers frame pixels [i, i + 1) / f, so its centre is at frame (i + 0.5) / f.
        pts = np.round((quad * f - 0.5) * 8).astype(np.int32)  # 3 fractional bits for sub-pixel drawing
        cv2.fillConvexPoly(card, pts, 1, cv2.LINE_8, shift=3)
        cv2.polylines(band, [pts], True, 1, 2, cv2.LINE_8, shift=3)
    return np.stack([card, band])


def render_sample(
    sims: dict[tuple[int, int], CaptureSimulator],
    rng: np.random.Generator,
    multi: MultiCardSimulator | None = None,
    multi_share: float = 0.0,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.uint8]]:
    """One training sample: the network's input and its targets. ``multi_share`` of them are
    multi-card scenes of ``multi`` (binder pages, top-loader rows, touching and cut cards), whose pages
    and groups are no card but every card in them, cut ones too, is."""
    if multi is not None and multi_share > 0 and rng.random() < multi_share:
        scene = multi.render(rng, SCENE_KINDS[int(rng.integers(0, len(SCENE_KINDS)))])
        height, width = scene.image.shape[:2]
        x, scale = preprocess(scene.image)
        net_w, net_h, _ = net_input_size(width, height)
        return x[0], targets_for(SimCapture(scene.image, scene.cards + scene.cut), net_w, net_h, scale)
    size = FRAME_SIZES[int(rng.choice(len(FRAME_SIZES), p=[0.4, 0.25, 0.15, 0.2]))]
    sim = sims[size]
    kind = rng.random()
    if size == (296, 416):
        capture = sim.render(rng)
    elif kind < 0.25:
        capture = sim.render_binder_page(rng, int(rng.integers(1, 10)))
    elif kind < 0.4:
        capture = sim.render_multi(rng, int(rng.integers(2, 5)))
    elif kind < 0.48:
        capture = SimCapture(sim.background(rng))
    else:
        capture = sim.render(rng)
    x, scale = preprocess(capture.image)
    net_w, net_h, _ = net_input_size(size[0], size[1])
    return x[0], targets_for(capture, net_w, net_h, scale)


def make_simulators(textures: list[npt.NDArray[np.uint8]]) -> dict[tuple[int, int], CaptureSimulator]:
    base = SimOptions()
    sims = {}
    for size in FRAME_SIZES:
        # Plastic is over-represented (bench rates are 0.2 / 0.1): a sleeve's or top-loader's rim is
        # the finder's most common wrong outline on bench/detect.py's captures.
        options = replace(base, size=size, closeup_prob=0.25, sleeve_prob=0.3, toploader_prob=0.2)
        if size == (296, 416):
            options = replace(options, closeup_prob=0.85, clutter_prob=0.2)
        sims[size] = CaptureSimulator(textures, options)
    return sims


def load_textures(
    catalog_dir: Path, ebay_dir: Path, max_catalogue: int = 240, seed: int = 0
) -> list[npt.NDArray[np.uint8]]:
    paths = sorted((catalog_dir / "images").glob("*/*.jpg"))
    rng = np.random.default_rng(seed)
    chosen = [paths[i] for i in sorted(rng.choice(len(paths), size=min(max_catalogue, len(paths)), replace=False))]
    textures = [load_card_texture(p) for p in chosen]
    textures += ebay_card_textures(ebay_dir, "train")
    logger.info("Finder textures: %d catalogue scans + %d eBay crops", len(chosen), len(textures) - len(chosen))
    return textures
