"""Build (or extend) a reference bundle from a catalogue folder."""

from __future__ import annotations

import csv
import logging
import shutil
import tempfile
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from app.camera.base import BGRImage
from app.catalog.pokemontcg import Catalog, CatalogCard, card_sort_key, read_catalog
from app.embed.base import EmbedderBackend
from app.imageio import ImageReadError, read_image_bgr
from app.match.bundle import (
    BACK_PREFIX,
    BundleManifest,
    BundleSet,
    ReferenceBundle,
    file_checksums,
    safe_file_name,
    write_manifest,
)
from app.vision.geometry import CANONICAL_SIZE

logger = logging.getLogger(__name__)

#: Vectors per card a new bundle or installed set gets: the scan plus camera-like variants.
REFERENCE_VIEWS = 4
THUMB_WIDTH = 150
THUMB_MAX_BYTES = 30_000
BACK_NAMES = {"en": "Card back (English)", "jp": "Card back (Japanese “Pocket Monsters”)"}


@dataclass
class BuildReport:
    bundle: ReferenceBundle
    embedded: int = 0
    kept: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (card id, reason)
    seconds: float = 0.0


def make_thumbnail(card: BGRImage) -> bytes:
    """A small JPEG (≤ 30 KB) of the whole card: the GUI shows it, the layout check compares crops with it."""
    height = round(THUMB_WIDTH * card.shape[0] / card.shape[1])
    small = cv2.resize(card, (THUMB_WIDTH, height), interpolation=cv2.INTER_AREA)
    for quality in (85, 75, 65, 50, 35):
        ok, buffer = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if ok and len(buffer) <= THUMB_MAX_BYTES:
            return buffer.tobytes()
    raise ValueError("thumbnail does not fit in 30 KB")


def reference_views(card: BGRImage, views: int, seed: int) -> list[BGRImage]:
    """The scan itself plus ``views - 1`` camera-like variants (imperfect corners, light, blur, JPEG).

    Seeded per card, so a card's vectors are the same whichever build embeds it.
    """
    out = [card]
    rng = np.random.default_rng(seed)
    h, w = card.shape[:2]
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    for _ in range(views - 1):
        dst = (src + rng.normal(0, 0.012, (4, 2)) * [w, h]).astype(np.float32)
        view = cv2.warpPerspective(card, cv2.getPerspectiveTransform(src, dst), (w, h), borderMode=cv2.BORDER_REPLICATE)
        gains = rng.uniform(0.85, 1.15, 3).astype(np.float32) * np.float32(rng.uniform(0.6, 1.2))
        view = view.astype(np.float32) * gains
        if rng.random() < 0.5:
            cx, cy = rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h
            yy, xx = np.ogrid[0:h, 0:w]
            sigma = rng.uniform(0.05, 0.15) * w
            view += (np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma**2)) * rng.uniform(80, 200))[..., None]
        view_u8 = np.clip(view, 0, 255).astype(np.uint8)
        if rng.random() < 0.5:
            view_u8 = cv2.GaussianBlur(view_u8, (0, 0), rng.uniform(0.8, 2.0))
        ok, buffer = cv2.imencode(".jpg", view_u8, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(50, 90))])
        out.append(cv2.imdecode(buffer, cv2.IMREAD_COLOR) if ok else view_u8)
    return out


def load_card_image(card: CatalogCard) -> BGRImage:
    if card.image_path is None:
        raise ImageReadError("no image file in the catalogue")
    return canonical_card_image(card.image_path)


def canonical_card_image(path: Path) -> BGRImage:
    """A card scan read and brought to the canonical shape (scans are the straightened card already)."""
    return cv2.resize(read_image_bgr(path), CANONICAL_SIZE, interpolation=cv2.INTER_AREA)


def card_views(card_id: str, image: BGRImage, views: int) -> list[BGRImage]:
    """The views of one card that are embedded as its reference vectors (seeded by its id)."""
    return reference_views(image, views, _seed(card_id))


def model_fields(embedder: EmbedderBackend) -> dict[str, Any]:
    """The manifest fields that name the model a bundle's vectors come from."""
    sidecar = embedder.sidecar
    return {
        "model_name": sidecar.name,
        "model_sha256": sidecar.sha256,
        "dim": sidecar.dim,
        "preprocessing": {
            "input_size": list(sidecar.input_size),
            "colour_order": sidecar.colour_order,
            "mean": list(sidecar.mean),
            "std": list(sidecar.std),
            "resize": "whole card, no crop",
        },
    }


def card_back_images(folder: Path, finder: Callable[[BGRImage], BGRImage | None]) -> list[tuple[str, BGRImage]]:
    """Card-back photos as (``back:<style>``, straightened image).

    A folder in the eBay layout (``labels.csv`` with ``side``/``back_style``) contributes its backs
    from the training split only (source photos with even crc32); a plain folder counts as English
    backs. Each photo goes through the card finder, as a live capture would.
    """
    items: list[tuple[str, Path]] = []
    labels = folder / "labels.csv"
    if labels.is_file():
        with open(labels, newline="") as handle:
            for row in csv.DictReader(handle):
                if row.get("side") == "back" and zlib.crc32(row["source_photo"].encode()) % 2 == 0:
                    items.append((f"{BACK_PREFIX}{row.get('back_style') or 'en'}", folder / "images" / row["file"]))
    else:
        items = [
            (f"{BACK_PREFIX}en", p) for p in sorted(folder.iterdir()) if p.suffix.lower() in {".jpg", ".jpeg", ".png"}
        ]
    out = []
    for back_id, path in items:
        try:
            photo = read_image_bgr(path)
        except ImageReadError as error:
            logger.warning("Skipping card back %s: %s", path, error)
            continue
        card = finder(photo)
        if card is not None:
            out.append((back_id, card))
    return out


def build_bundle(
    catalog_dir: str | Path,
    out: str | Path,
    embedder: EmbedderBackend,
    set_ids: Sequence[str] | None = None,
    add: bool = False,
    backs: Sequence[tuple[str, BGRImage]] = (),
    thumbs: bool = True,
    views: int = 1,
    batch_size: int = 16,
    progress: Callable[[str], None] | None = None,
) -> BuildReport:
    """Embed the catalogue's cards and write the bundle atomically.

    ``add=True`` keeps the vectors of an existing bundle at ``out`` and embeds only cards it lacks
    (a new set); the result equals a full rebuild. Cards whose image is missing or unreadable are
    reported by id and skipped.
    """
    started = time.monotonic()
    out = Path(out)
    say = progress or (lambda message: logger.info("%s", message))
    catalog: Catalog = read_catalog(catalog_dir, list(set_ids) if set_ids else None)
    existing: ReferenceBundle | None = None
    if add and (out / "manifest.json").is_file():
        existing = ReferenceBundle.load(out, model_sha256=embedder.model_sha256, dim=embedder.dim)
    report = BuildReport(bundle=None)  # type: ignore[arg-type]
    if existing is not None and existing.manifest.views_per_card != views:
        raise ValueError(
            f"{out} was built with {existing.manifest.views_per_card} view(s) per card; add with --views "
            f"{existing.manifest.views_per_card} or rebuild it whole"
        )
    rows: dict[str, np.ndarray] = {}  # card id → [views, dim]
    metadata: dict[str, dict[str, object]] = {}
    sets: dict[str, BundleSet] = {}
    if existing is not None:
        for card_id in {c for c in existing.row_card_ids if not c.startswith(BACK_PREFIX)}:
            rows[card_id] = existing.embeddings[[i for i, c in enumerate(existing.row_card_ids) if c == card_id]]
        metadata.update({k: v for k, v in existing.metadata.items() if not k.startswith(BACK_PREFIX)})
        sets.update({s.id: s for s in existing.manifest.sets})
        report.kept = len(rows)
    with tempfile.TemporaryDirectory() as tmp:
        thumbs_dir = Path(tmp) / "thumbs"
        thumbs_dir.mkdir()
        if existing is not None and existing.path is not None and (existing.path / "thumbs").is_dir():
            shutil.copytree(existing.path / "thumbs", thumbs_dir, dirs_exist_ok=True)
        todo = [c for c in catalog.cards if c.card_id not in rows]
        for card_id in catalog.missing_images:
            report.skipped.append((card_id, "no image file"))
        todo = [c for c in todo if c.image_path is not None]
        say(f"Embedding {len(todo)} card(s) with {embedder.description} ({report.kept} kept from the existing bundle)")
        for start in range(0, len(todo), batch_size):
            chunk = todo[start : start + batch_size]
            images, cards = [], []
            for card in chunk:
                try:
                    images.append(load_card_image(card))
                    cards.append(card)
                except ImageReadError as error:
                    report.skipped.append((card.card_id, str(error)))
                    logger.warning("Skipping %s: %s", card.card_id, error)
            if not images:
                continue
            batch = [
                view
                for card, image in zip(cards, images, strict=True)
                for view in card_views(card.card_id, image, views)
            ]
            vectors = embedder.embed(batch).reshape(len(cards), views, -1)
            for card, image, vector in zip(cards, images, vectors, strict=True):
                rows[card.card_id] = vector
                metadata[card.card_id] = card.metadata()
                if thumbs:
                    (thumbs_dir / f"{safe_file_name(card.card_id)}.jpg").write_bytes(make_thumbnail(image))
            report.embedded += len(cards)
            say(f"  {min(start + batch_size, len(todo))}/{len(todo)} embedded")
        for set_id, info in catalog.sets.items():
            count = sum(1 for m in metadata.values() if m.get("set_id") == set_id)
            sets[set_id] = BundleSet(id=set_id, name=str(info.get("name", set_id)), cards=count)
        # Canonical row order (set, number) so an incremental add equals a full rebuild.
        card_ids = sorted(rows, key=lambda cid: card_sort_key(_card_from_metadata(cid, metadata[cid])))
        back_ids: list[str] = []
        back_vectors: list[np.ndarray] = []
        if backs:
            images = [image for _, image in backs]
            vectors = np.concatenate(
                [embedder.embed(images[i : i + batch_size]) for i in range(0, len(images), batch_size)]
            )
            for (back_id, _), vector in zip(backs, vectors, strict=True):
                back_ids.append(back_id)
                back_vectors.append(vector)
                style = back_id[len(BACK_PREFIX) :]
                metadata[back_id] = {
                    "card_id": back_id,
                    "name": BACK_NAMES.get(style, "Card back"),
                    "supertype": "Card back",
                }
        elif existing is not None:
            for row, card_id in enumerate(existing.row_card_ids):
                if card_id.startswith(BACK_PREFIX):
                    back_ids.append(card_id)
                    back_vectors.append(existing.embeddings[row])
                    metadata[card_id] = existing.metadata[card_id]
        card_vectors = [rows[c].reshape(-1, embedder.dim) for c in card_ids]
        backs_array = np.asarray(back_vectors, np.float32).reshape(-1, embedder.dim)
        embeddings = np.vstack([*card_vectors, backs_array]).astype(np.float32)
        row_ids = [c for c, v in zip(card_ids, card_vectors, strict=True) for _ in range(len(v))] + back_ids
        manifest = BundleManifest(
            **model_fields(embedder),
            card_count=len(card_ids),
            vector_count=len(embeddings),
            sets=sorted(sets.values(), key=lambda s: s.id),
            build_time=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            catalog=str(catalog_dir),
            back_vectors=len(back_ids),
            views_per_card=views,
            missing_images=sorted(card_id for card_id, _ in report.skipped),
        )
        bundle = ReferenceBundle(manifest, embeddings, row_ids, metadata)
        bundle.save(out, thumbs_from=thumbs_dir if thumbs else None)
    report.bundle = bundle
    report.seconds = time.monotonic() - started
    for card_id, reason in report.skipped:
        say(f"  skipped {card_id}: {reason}")
    say(
        f"Bundle {out}: {manifest.card_count} cards, {manifest.vector_count} vectors, "
        f"{len(report.skipped)} skipped, {report.seconds:.1f} s"
    )
    return report


def write_checksums(bundle_dir: str | Path) -> BundleManifest:
    """(Re)write the manifest's checksums from the bundle's files as they are now.

    For a bundle written before checksums were recorded: the files are checked first as far as
    they can be without checksums (shapes, counts, finite unit vectors), so obvious damage is not
    sealed in. :meth:`ReferenceBundle.save` records the same checksums (:func:`file_checksums`)
    when it writes a bundle.
    """
    bundle_dir = Path(bundle_dir)
    manifest = ReferenceBundle.load(bundle_dir, verify_checksums=False).manifest
    manifest = manifest.model_copy(update={"checksums": file_checksums(bundle_dir)})
    write_manifest(bundle_dir, manifest)
    logger.info("Recorded the checksums of %d file(s) in %s", len(manifest.checksums), bundle_dir)
    return manifest


def _seed(card_id: str) -> int:
    return zlib.crc32(card_id.encode())


def _card_from_metadata(card_id: str, meta: dict[str, object]) -> CatalogCard:
    return CatalogCard(
        card_id=card_id,
        name=str(meta.get("name", "")),
        set_id=str(meta.get("set_id", "")),
        set_name=str(meta.get("set_name", "")),
        number=str(meta.get("number", "")),
        printed_total=None,
        rarity=None,
        supertype=None,
    )
