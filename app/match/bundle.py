"""Reference bundles: the vectors, index and metadata of a catalogue, built with one model.

Layout (DESIGN.md)::

    manifest.json    format version, model name + sha256 + dim + preprocessing, metric, dtype,
                     card count, vector count, sets, build time, sha256 of every other file
    embeddings.npy   float32 [N, D], L2-normalised, row i ↔ index key i; or, with dtype "i8",
                     int8 codes memory-mapped, with scales.npy float32 [N] (app/match/vectors.py)
    usearch.index    HNSW, cosine (optional: built in memory when absent)
    index.json       row → card_id
    metadata.json    card_id → {name, set_id, set_name, number, printed_total, rarity, supertype, ...}
    thumbs/          optional small card images for the GUI

Writes go to a sibling temporary folder that replaces the bundle only when complete; a crash
leaves the previous bundle in place (or as ``<name>.previous``, which :meth:`load` falls back to).
:meth:`load` refuses a bundle whose files differ from the checksums its manifest recorded, or
whose vectors are not finite unit vectors: a damaged bundle would otherwise name wrong cards.
An installed set is a bundle of its own (a *shard*); ``app.match.shards`` combines the shipped
bundle with them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ValidationError

from app.match.card_graph import cached_graph
from app.match.graph import INDEX_DTYPE, build_index, restore_index
from app.match.vectors import QuantizedRows, StackedRows, quantize_rows

logger = logging.getLogger(__name__)

BUNDLE_FORMAT = 1
#: Reference rows that are card backs, not catalogue cards.
BACK_PREFIX = "back:"
MANIFEST = "manifest.json"
VECTORS = "embeddings.npy"
SCALES = "scales.npy"
THUMBS = "thumbs"
#: Scalar types a bundle's vectors may be stored in (``BundleManifest.dtype``).
VECTOR_DTYPES = ("f32", "i8")
#: How far a stored vector's length may be from 1: float32 rounding of a normalised 768-d vector
#: stays within ~1e-6; a damaged row (zeros, random bits) is nowhere near.
UNIT_NORM_TOLERANCE = 1e-3


class BundleError(ValueError):
    """The bundle is missing, incomplete or inconsistent."""


class BundleModelMismatch(BundleError):
    """The bundle's vectors come from another model than the one running."""


class BundleSet(BaseModel):
    id: str
    name: str
    cards: int


class BundleManifest(BaseModel):
    format_version: int = BUNDLE_FORMAT
    model_name: str
    model_sha256: str
    dim: int
    preprocessing: dict[str, Any]
    metric: str = "cos"
    #: embeddings.npy scalar type; the usearch graph's own type is ``index_dtype``.
    dtype: str = "f32"
    index_dtype: str = INDEX_DTYPE
    card_count: int
    vector_count: int
    sets: list[BundleSet]
    build_time: str
    catalog: str = ""
    views_per_card: int = 1
    back_vectors: int = 0
    missing_images: list[str] = []
    #: sha256 of every file of the bundle but the manifest, by path relative to the bundle (posix).
    checksums: dict[str, str] = {}


#: ``BundleManifest.catalog`` of an installed set: this prefix, then the set id.
INSTALLED_SET = "installed set "


def reinstall_command(set_id: str) -> str:
    return f"cardsight catalog remove {set_id} && cardsight catalog download {set_id}"


def rebuild_command(catalog: str, out: Path) -> str:
    """The command that makes the bundle at ``out`` again: an installed set is downloaded again."""
    if catalog.startswith(INSTALLED_SET):
        return reinstall_command(catalog.removeprefix(INSTALLED_SET))
    return f"cardsight catalog build --catalog {catalog or '<catalogue folder>'} --out {out}"


@dataclass
class ReferenceBundle:
    manifest: BundleManifest
    #: Row i's vector; float32 in memory, or int8 codes read as float32 (``app.match.vectors``).
    embeddings: npt.NDArray[np.float32] | QuantizedRows | StackedRows
    row_card_ids: list[str]
    metadata: dict[str, dict[str, Any]]
    path: Path | None = None
    _index: Any = field(default=None, repr=False)
    #: Thumbnail folders of cards that come from installed sets (the rest are under ``path``).
    thumb_dirs: dict[str, Path] = field(default_factory=dict, repr=False)
    #: Installed sets left out at load, one line each saying which and how to reinstall it.
    problems: list[str] = field(default_factory=list)
    #: Where the graph over these rows is cached when it is not the bundle's own (combined bundles).
    index_cache: Path | None = None
    #: Thumbnails whose checksum is checked when first shown rather than at load: path → sha256.
    unchecked_thumbs: dict[Path, str] = field(default_factory=dict, repr=False)
    #: When these rows were read (``time.time()``): a cached graph written after it may be for a
    #: newer list of installed sets (``app.match.card_graph``).
    made_at: float = field(default_factory=time.time, repr=False)

    # ------------------------------------------------------------------ load
    @classmethod
    def load(
        cls,
        path: str | Path,
        model_sha256: str | None = None,
        dim: int | None = None,
        verify_checksums: bool = True,
        thumbs_checked_when_shown: bool = False,
    ) -> ReferenceBundle:
        """Load and check a bundle; refuse one built with another model (sha256 or dimension), one
        whose files differ from its manifest's checksums (``verify_checksums``) and one whose
        vectors are not finite unit vectors. ``thumbs_checked_when_shown``: thumbnails are checked
        by :meth:`thumb_path` instead (a damaged one is not shown), so loading many sets does not
        read every thumbnail."""
        path = _existing_bundle(Path(path))
        manifest = _read_manifest(path)
        _check_model(path, manifest, model_sha256, dim)
        unchecked = {name: sha for name, sha in manifest.checksums.items() if name.startswith(THUMBS + "/")}
        if not thumbs_checked_when_shown:
            unchecked = {}
        if verify_checksums:
            _verify_checksums(path, manifest, skip=set(unchecked))
        try:
            embeddings = _read_vectors(path, manifest)
            row_card_ids = json.loads((path / "index.json").read_text())
            metadata = json.loads((path / "metadata.json").read_text())
        except (OSError, ValueError) as error:
            raise BundleError(
                f"Bundle {path} is damaged ({error}); rebuild it: {rebuild_command(manifest.catalog, path)}"
            ) from error
        if len(row_card_ids) != embeddings.shape[0] or embeddings.shape[0] != manifest.vector_count:
            raise BundleError(
                f"Bundle {path} is inconsistent: {embeddings.shape[0]} vectors, {len(row_card_ids)} index rows, "
                f"manifest says {manifest.vector_count}"
            )
        sealed = verify_checksums and {VECTORS, SCALES} <= manifest.checksums.keys()
        if manifest.dtype == "f32" or not sealed:
            # int8 rows are unit vectors by construction and checked when written; once their
            # checksum matches, decoding every row here would only pull the whole memory-mapped
            # file into memory.
            _check_vectors(path, manifest, embeddings)
        missing = sorted({c for c in row_card_ids if c not in metadata})
        if missing:
            raise BundleError(f"Bundle {path}: metadata lacks {len(missing)} card(s), e.g. {missing[:3]}")
        bundle = cls(manifest, embeddings, list(row_card_ids), metadata, path)
        bundle.unchecked_thumbs = {path / name: sha for name, sha in unchecked.items()}
        index_path = path / "usearch.index"
        if index_path.is_file():
            bundle._index = restore_index(index_path, manifest.dim, len(row_card_ids))
        return bundle

    # ------------------------------------------------------------------ index
    @property
    def graph_over_cards(self) -> bool:
        """Whether :attr:`index` is a graph over cards (each card's mean view, keyed by
        :func:`card_numbers`) rather than over rows: the combined graph of the installed sets is, so
        that it stays small and fast at catalogue scale (docs/catalogue.md); a single bundle's is not."""
        return self.index_cache is not None

    @property
    def index(self) -> Any:
        if self._index is None:
            if self.index_cache is not None:
                self._index = cached_graph(self, self.index_cache)
            else:
                self._index = build_index(self.embeddings)
        return self._index

    def dense_embeddings(self) -> npt.NDArray[np.float32]:
        """Every row as float32 in memory (copies compact or memory-mapped rows)."""
        if isinstance(self.embeddings, np.ndarray):
            return np.asarray(self.embeddings, np.float32)
        return self.embeddings.dense()

    def card_ids(self) -> list[str]:
        return sorted({c for c in self.row_card_ids if not c.startswith(BACK_PREFIX)})

    def thumb_path(self, card_id: str) -> Path | None:
        folder = self.thumb_dirs.get(card_id) or (self.path / "thumbs" if self.path is not None else None)
        if folder is None:
            return None
        candidate = folder / f"{safe_file_name(card_id)}.jpg"
        if not candidate.is_file():
            return None
        expected = self.unchecked_thumbs.get(candidate)
        if expected is not None:
            if _sha256(candidate) != expected:
                logger.warning("Thumbnail %s is damaged (its sha256 differs from the manifest's); not shown", candidate)
                return None
            self.unchecked_thumbs.pop(candidate, None)  # another thread may have checked it meanwhile
        return candidate

    # ------------------------------------------------------------------ save
    def save(self, out: str | Path, thumbs_from: Path | None = None, with_index: bool = True) -> Path:
        """Write atomically: a complete sibling folder replaces ``out`` in two renames. The vectors
        are written in the manifest's ``dtype``; ``with_index=False`` leaves the HNSW graph out (an
        installed set's graph is the combined one, ``app.match.shards``)."""
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = out.with_name(f"{out.name}.tmp-{os.getpid()}-{int(time.time() * 1000)}")
        staging.mkdir()
        try:
            _write_vectors(staging, self.manifest.dtype, self.embeddings)
            (staging / "index.json").write_text(json.dumps(self.row_card_ids))
            (staging / "metadata.json").write_text(
                json.dumps(self.metadata, ensure_ascii=False, indent=1, sort_keys=True)
            )
            if with_index and not self.graph_over_cards:  # a graph over cards is a cache, kept elsewhere
                self.index.save(str(staging / "usearch.index"))
            if thumbs_from is not None and thumbs_from.is_dir():
                shutil.copytree(thumbs_from, staging / "thumbs")
            # The manifest goes last: a folder without it is never mistaken for a bundle.
            self.manifest = self.manifest.model_copy(update={"checksums": file_checksums(staging)})
            write_manifest(staging, self.manifest)
            _fsync_tree(staging)
            previous = out.with_name(out.name + ".previous")
            if previous.exists():
                shutil.rmtree(previous)
            if out.exists():
                os.replace(out, previous)
            os.replace(staging, out)
            if previous.exists():
                shutil.rmtree(previous)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        self.path = out
        logger.info(
            "Wrote bundle %s (%d vectors, %d cards)",
            out,
            self.manifest.vector_count,
            self.manifest.card_count,
        )
        return out


def write_manifest(folder: Path, manifest: BundleManifest) -> None:
    """Replace ``folder``'s manifest in one rename, so a reader never sees half of one."""
    partial = folder / f"{MANIFEST}.tmp-{os.getpid()}"
    partial.write_text(manifest.model_dump_json(indent=2) + "\n")
    os.replace(partial, folder / MANIFEST)


def file_checksums(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` but the manifest, by posix path relative to it."""
    return {
        item.relative_to(folder).as_posix(): _sha256(item)
        for item in sorted(folder.rglob("*"))
        if item.is_file() and item.relative_to(folder).as_posix() != MANIFEST
    }


def _sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _existing_bundle(path: Path) -> Path:
    """``path``, or its ``.previous`` sibling left by an interrupted rebuild."""
    if (path / MANIFEST).is_file():
        return path
    previous = path.with_name(path.name + ".previous")
    if (previous / MANIFEST).is_file():
        logger.warning("Bundle %s is incomplete (interrupted rebuild?); using %s", path, previous)
        return previous
    raise BundleError(f"No reference bundle at {path} (build one: {rebuild_command('', path)})")


def read_manifest(path: str | Path) -> BundleManifest:
    """The manifest of the bundle at ``path`` (or of its ``.previous`` copy), without its files."""
    return _read_manifest(_existing_bundle(Path(path)))


def _read_manifest(path: Path) -> BundleManifest:
    try:
        manifest = BundleManifest.model_validate_json((path / MANIFEST).read_text())
    except (ValidationError, OSError, UnicodeDecodeError) as error:
        raise BundleError(
            f"{path / MANIFEST} is unreadable ({_describe(error)}); rebuild the bundle: {rebuild_command('', path)}"
        ) from error
    if manifest.format_version != BUNDLE_FORMAT:
        raise BundleError(
            f"Bundle {path} has format {manifest.format_version}, this cardsight reads {BUNDLE_FORMAT}: "
            f"rebuild it ({rebuild_command(manifest.catalog, path)})"
        )
    return manifest


def _check_model(path: Path, manifest: BundleManifest, model_sha256: str | None, dim: int | None) -> None:
    if model_sha256 is not None and manifest.model_sha256 != model_sha256:
        raise BundleModelMismatch(
            f"Bundle {path} was built with model {manifest.model_name} ({manifest.model_sha256[:12]}…), "
            f"but the running model is {model_sha256[:12]}…; its vectors would be meaningless. "
            f"Rebuild it: {rebuild_command(manifest.catalog, path)}"
        )
    if dim is not None and manifest.dim != dim:
        raise BundleModelMismatch(
            f"Bundle {path} holds {manifest.dim}-d vectors, the running model makes {dim}-d ones. "
            f"Rebuild it: {rebuild_command(manifest.catalog, path)}"
        )


def _verify_checksums(path: Path, manifest: BundleManifest, skip: set[str] | None = None) -> None:
    """Refuse a bundle with a file missing or different from when it was written (but ``skip``)."""
    rebuild = rebuild_command(manifest.catalog, path)
    if not manifest.checksums:
        # Accepted, with a warning: bundles written before checksums were recorded are otherwise
        # sound, and refusing them would stop every existing scanner until a full re-embed. The
        # vector checks below still catch damaged vectors; a damaged thumbnail or index would not be.
        logger.warning(
            "Bundle %s records no checksums, so damage to its files cannot be detected; rebuild it to add them: %s",
            path,
            rebuild,
        )
        return
    checked = {name: sha for name, sha in manifest.checksums.items() if not skip or name not in skip}
    missing = [name for name in checked if not (path / name).is_file()]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise BundleError(f"Bundle file {path / missing[0]} is missing{more}; rebuild the bundle: {rebuild}")
    for name, expected in checked.items():
        if _sha256(path / name) != expected:
            raise BundleError(
                f"Bundle file {path / name} is damaged (its sha256 differs from the manifest's); "
                f"rebuild the bundle: {rebuild}"
            )


def _read_vectors(path: Path, manifest: BundleManifest) -> npt.NDArray[np.float32] | QuantizedRows:
    """The bundle's vectors in the manifest's ``dtype``: float32 read into memory, int8 codes
    memory-mapped (only the rows a search touches are read)."""
    vectors_path = path / VECTORS
    if manifest.dtype not in VECTOR_DTYPES:
        raise BundleError(
            f"Bundle {path} stores {manifest.dtype} vectors; this cardsight reads {', '.join(VECTOR_DTYPES)}: "
            f"rebuild it ({rebuild_command(manifest.catalog, path)})"
        )
    if manifest.dtype == "f32":
        embeddings = np.load(vectors_path, allow_pickle=False)
        _check_shape(vectors_path, embeddings, manifest.dim, np.float32)
        return np.asarray(embeddings, np.float32)
    codes = np.load(vectors_path, mmap_mode="r", allow_pickle=False)
    scales = np.load(path / SCALES, allow_pickle=False)
    _check_shape(vectors_path, codes, manifest.dim, np.int8)
    if scales.dtype != np.float32 or scales.shape != (codes.shape[0],):
        raise BundleError(
            f"{path / SCALES} has shape {scales.shape} {scales.dtype}, expected [{codes.shape[0]}] float32"
        )
    return QuantizedRows(codes, scales)


def _check_shape(path: Path, array: np.ndarray, dim: int, dtype: type) -> None:
    if array.dtype != dtype or array.ndim != 2 or array.shape[1] != dim:
        raise BundleError(
            f"{path} has shape {array.shape} {array.dtype}, manifest says [N, {dim}] {np.dtype(dtype).name}"
        )


def _write_vectors(folder: Path, dtype: str, embeddings: Any) -> None:
    dense = embeddings if isinstance(embeddings, np.ndarray) else embeddings.dense()
    dense = np.ascontiguousarray(dense, np.float32)
    if dtype == "f32":
        np.save(folder / VECTORS, dense)
    elif dtype == "i8":
        norms = _row_norms(dense)
        if not np.all(np.isfinite(norms) & (np.abs(norms - 1.0) <= UNIT_NORM_TOLERANCE)):
            raise ValueError("refusing to store vectors that are not finite unit vectors")
        codes, scales = quantize_rows(dense)
        np.save(folder / VECTORS, codes)
        np.save(folder / SCALES, scales)
    else:
        raise ValueError(f"cannot store vectors as {dtype!r}; choose one of {', '.join(VECTOR_DTYPES)}")


#: Rows checked at a time, so checking a memory-mapped int8 bundle never decodes all of it at once.
_CHECK_CHUNK = 8192


def _check_vectors(path: Path, manifest: BundleManifest, embeddings: npt.NDArray[np.float32] | QuantizedRows) -> None:
    """Refuse vectors that are not finite unit vectors: they would match the wrong cards, or none."""
    norms = np.concatenate(
        [
            _row_norms(embeddings[np.arange(start, min(start + _CHECK_CHUNK, len(embeddings)))])
            for start in range(0, len(embeddings), _CHECK_CHUNK)
        ]
        or [np.zeros(0, np.float32)]
    )
    bad = np.flatnonzero(~np.isfinite(norms) | (np.abs(norms - 1.0) > UNIT_NORM_TOLERANCE))
    if len(bad):
        raise BundleError(
            f"Bundle file {path / 'embeddings.npy'} is damaged: {len(bad)} of {len(embeddings)} vectors are "
            f"not finite unit vectors (first: row {bad[0]}); rebuild the bundle: "
            f"{rebuild_command(manifest.catalog, path)}"
        )


def _row_norms(rows: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    with np.errstate(over="ignore", invalid="ignore"):  # random bits overflow; isfinite catches them
        return np.linalg.norm(rows, axis=1)


def _describe(error: Exception) -> str:
    """One line for a user: pydantic's own message spans several lines and links."""
    if isinstance(error, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'file'}: {e['msg']}" for e in error.errors()[:3])
    return str(error).strip().replace("\n", " ") or type(error).__name__


def safe_file_name(card_id: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in card_id)


def _fsync_tree(folder: Path) -> None:
    for item in folder.rglob("*"):
        if item.is_file():
            with open(item, "rb") as handle:
                os.fsync(handle.fileno())
