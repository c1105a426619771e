"""Training and evaluation images: capture-simulator views of catalogue cards, straightened by the real
card finder, so training sees the crops the scanner sees at run time.

Every view is rendered from a seed derived from (recipe seed, card, view), so a cache can be rebuilt
bit for bit and split across processes. Cards the finder misses in a frame are re-rendered (up to
``attempts`` times) and the misses are counted, never silently dropped.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import multiprocessing as mp
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from app.camera.base import BGRImage
from app.catalog.build import load_card_image, reference_views
from app.catalog.pokemontcg import read_catalog
from app.embed.preprocess import resize_whole_card
from app.imageio import ImageReadError, read_image_bgr
from app.vision.finder import CardFinder
from app.vision.segment import DEFAULT_MODEL
from models.sim.capture_sim import CaptureSimulator, SimOptions, load_card_texture

logger = logging.getLogger(__name__)

U8 = npt.NDArray[np.uint8]
VIEWS_VERSION = 1  # bump when rendering changes, so stale caches are not reused


@dataclass(frozen=True)
class ViewKind:
    """How a set of views is made: ``capture`` (simulated camera + finder) or ``reference`` (bundle views)."""

    name: str
    per_card: int
    seed: int
    frame: tuple[int, int] = (960, 540)
    source: str = "capture"


@dataclass
class ViewSet:
    """Square model inputs (BGR uint8) for a list of cards; ``labels`` index into ``card_ids``."""

    card_ids: list[str]
    labels: npt.NDArray[np.int32]
    images: dict[int, U8]  # side length → [N, side, side, 3]
    misses: int
    #: Per view: the finder's mean corner error vs the simulator's exact corners, as a fraction of
    #: the card diagonal (NaN where there is no ground truth). A 90°-misread card scores ~0.5.
    corner_error: npt.NDArray[np.float32] | None = None

    def well_straightened(self, max_error: float = 0.03) -> npt.NDArray[np.bool_]:
        if self.corner_error is None:
            return np.ones(len(self), bool)
        return np.nan_to_num(self.corner_error, nan=0.0) <= max_error

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        arrays: dict[str, np.ndarray] = {f"images_{side}": im for side, im in self.images.items()}
        arrays.update(labels=self.labels, card_ids=np.asarray(self.card_ids), misses=np.asarray(self.misses))
        if self.corner_error is not None:
            arrays["corner_error"] = self.corner_error
        np.savez(tmp, **arrays)  # type: ignore[arg-type]
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> ViewSet:
        with np.load(path) as data:
            images = {int(k.split("_")[1]): data[k] for k in data.files if k.startswith("images_")}
            errors = data["corner_error"] if "corner_error" in data.files else None
            return cls([str(c) for c in data["card_ids"]], data["labels"], images, int(data["misses"]), errors)


def catalogue_cards(catalog: Path, set_ids: Sequence[str] | None = None) -> list[tuple[str, str, Path]]:
    """(card id, set id, image path) of every catalogue card with an image, sorted by card id."""
    cat = read_catalog(catalog, list(set_ids) if set_ids else None)
    if cat.missing_images:
        logger.warning("Cards without a readable image, skipped: %s", ", ".join(cat.missing_images))
    return sorted((c.card_id, c.set_id, c.image_path) for c in cat.cards if c.image_path is not None)


def _squares(crop: BGRImage, sides: Sequence[int]) -> dict[int, U8]:
    return {side: resize_whole_card(crop, (side, side)) for side in sides}


_WORKER: dict[str, object] = {}


def _init_worker(paths: list[str], frame: tuple[int, int]) -> None:
    import cv2

    cv2.setNumThreads(1)
    _WORKER["sim"] = CaptureSimulator([load_card_texture(p) for p in paths], SimOptions(size=frame))
    _WORKER["finder"] = CardFinder()


def corner_error(found: npt.NDArray[np.float64], truth: npt.NDArray[np.float64]) -> float:
    """Mean distance between corresponding corners (TL, TR, BR, BL of the upright card) / diagonal."""
    diagonal = float(np.linalg.norm(truth[2] - truth[0]))
    return float(np.linalg.norm(np.asarray(found) - np.asarray(truth), axis=1).mean() / max(diagonal, 1e-6))


Rendered = tuple[int, list[dict[int, U8]], int, list[float]]


def _render_card(job: tuple[int, int, int, tuple[int, ...], int]) -> Rendered:
    index, per_card, seed, sides, attempts = job
    sim: CaptureSimulator = _WORKER["sim"]  # type: ignore[assignment]
    finder: CardFinder = _WORKER["finder"]  # type: ignore[assignment]
    out: list[dict[int, U8]] = []
    errors: list[float] = []
    misses = 0
    for view in range(per_card):
        rng = np.random.default_rng([seed, index, view])
        for _ in range(attempts):
            finder.reset()
            capture = sim.render(rng, card_index=index)
            found = finder.find_cards(capture.image)
            if found:
                best = max(found, key=lambda f: f.quad.area_frac)
                out.append(_squares(best.warped.image, sides))
                errors.append(corner_error(best.corners, capture.quads[0]))
                break
            misses += 1
    return index, out, misses, errors


def render_capture_views(
    cards: Sequence[tuple[str, str, Path]], kind: ViewKind, sides: Sequence[int], workers: int = 2, attempts: int = 3
) -> ViewSet:
    """``kind.per_card`` simulated captures of every card, straightened by the finder."""
    paths = [str(p) for _, _, p in cards]
    jobs = [(i, kind.per_card, kind.seed, tuple(sides), attempts) for i in range(len(cards))]
    results: list[Rendered] = []
    if workers > 1:
        with mp.get_context("spawn").Pool(workers, _init_worker, (paths, kind.frame)) as pool:
            for n, result in enumerate(pool.imap_unordered(_render_card, jobs, chunksize=4), 1):
                results.append(result)
                if n % 50 == 0 or n == len(jobs):
                    logger.info("%s views: %d/%d cards", kind.name, n, len(jobs))
    else:
        _init_worker(paths, kind.frame)
        results = [_render_card(job) for job in jobs]
    results.sort(key=lambda r: r[0])
    labels = [i for i, views, _, _ in results for _ in views]
    images = {side: np.stack([v[side] for _, views, _, _ in results for v in views]) for side in sides}
    misses = sum(m for _, _, m, _ in results)
    errors = np.asarray([e for *_, errs in results for e in errs], np.float32)
    if misses:
        logger.info("%s views: the finder missed %d simulated frames (re-rendered)", kind.name, misses)
    return ViewSet([c for c, _, _ in cards], np.asarray(labels, np.int32), images, misses, errors)


def render_reference_views(cards: Sequence[tuple[str, str, Path]], per_card: int, sides: Sequence[int]) -> ViewSet:
    """The views the reference-bundle builder embeds (the scan plus camera-like variants, same seeds)."""
    from app.catalog.pokemontcg import CatalogCard

    labels: list[int] = []
    squares: list[dict[int, U8]] = []
    for i, (card_id, set_id, path) in enumerate(cards):
        card = CatalogCard(card_id, card_id, set_id, set_id, "", None, None, None, image_path=path)
        for view in reference_views(load_card_image(card), per_card, zlib.crc32(card_id.encode())):
            labels.append(i)
            squares.append(_squares(view, sides))
    images = {side: np.stack([s[side] for s in squares]) for side in sides}
    return ViewSet([c for c, _, _ in cards], np.asarray(labels, np.int32), images, 0)


def ebay_front_crops(ebay_dir: Path, split: str, sides: Sequence[int]) -> ViewSet:
    """Real photos of fronts *not* in the catalogue, straightened by the finder — negatives for training.

    ``split`` ``train`` takes source photos with even crc32 (the split the finder was trained on);
    ``heldout`` the odd ones. Each source photo is one class (its files are augmented copies).
    """
    finder = CardFinder()
    groups: dict[str, int] = {}
    labels: list[int] = []
    squares: list[dict[int, U8]] = []
    with (ebay_dir / "labels.csv").open(newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r.get("side") == "front"]
    for row in rows:
        even = zlib.crc32(row["source_photo"].encode()) % 2 == 0
        if even != (split == "train"):
            continue
        try:
            image = read_image_bgr(ebay_dir / "images" / row["file"])
        except ImageReadError as exc:
            logger.warning("eBay photo skipped: %s", exc)
            continue
        finder.reset()
        found = finder.find_cards(image)
        if not found:
            continue
        best = max(found, key=lambda f: f.quad.area_frac)
        labels.append(groups.setdefault(row["source_photo"], len(groups)))
        squares.append(_squares(best.warped.image, sides))
    images = {
        side: np.stack([s[side] for s in squares]) if squares else np.zeros((0, side, side, 3), np.uint8)
        for side in sides
    }
    return ViewSet(list(groups), np.asarray(labels, np.int32), images, 0)


def cache_key(*parts: object) -> str:
    text = json.dumps([VIEWS_VERSION, *[str(p) for p in parts]], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def finder_digest(model_path: Path | None = None) -> str:
    """The card finder's model, by content: capture views are straightened by it, so views cached with
    another finder are other crops and must not be reused."""
    path = model_path or DEFAULT_MODEL
    if not path.is_file():
        raise FileNotFoundError(f"card finder model missing: {path} (rebuild with: python -m models.finder.train)")
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def card_digest(cards: Sequence[tuple[str, str, Path]]) -> str:
    h = hashlib.sha256()
    for card_id, _, path in cards:
        h.update(card_id.encode())
        h.update(str(path.stat().st_size).encode())
    return h.hexdigest()[:16]
