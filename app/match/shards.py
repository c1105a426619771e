"""The shipped reference bundle combined with the sets the user installed (one *shard* each).

A shard is a bundle folder of its own (``app.match.bundle`` layout: manifest with the model's
sha256 and dimension and every file's checksum, int8 vectors, row → card ids, metadata, thumbs)
under the installed-sets folder, named by its set id, so installing or removing a set never touches
another set's vectors. Loading stacks the shipped bundle's rows and each shard's (memory-mapped,
nothing is copied together) in a fixed order: shipped first, then shards by set id.

A shard that is damaged, unreadable or built with another model is **left out, with a one-line
problem** (``ReferenceBundle.problems``, also logged as a warning) naming it and the command that
reinstalls it, and the app scans with the rest: a set missing is the normal state of most sets
(the catalogue shows it as not installed), whereas refusing to start would take every other
installed set away for one bad download. Its vectors are never read, so it can never name a card.

The search graph over all cards (``app.match.card_graph``) is built when the sets change and cached
on disk under a name made from the kind of graph, the model, the shipped bundle and each shard's
vector checksums: a graph for another list of shards has another name and is never used, and a
missing one is rebuilt (once, then cached) at the first search that needs it.
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path
from typing import Any

from app.match.bundle import (
    BACK_PREFIX,
    THUMBS,
    VECTORS,
    BundleError,
    BundleSet,
    ReferenceBundle,
    reinstall_command,
)
from app.match.card_graph import GRAPH_FILE_SUFFIX, GRAPH_KIND
from app.match.vectors import StackedRows

logger = logging.getLogger(__name__)

#: Suffix of the folder next to the installed-sets folder that holds the combined graph.
INDEX_CACHE_SUFFIX = ".index"


def shard_names(sets_dir: Path | None) -> list[str]:
    """Set ids with a shard folder (or only the ``.previous`` one an interrupted install left)."""
    if sets_dir is None or not sets_dir.is_dir():
        return []
    names = set()
    for item in sets_dir.iterdir():
        if not item.is_dir() or item.name.startswith(".") or ".tmp-" in item.name:
            continue
        names.add(item.name.removesuffix(".previous"))
    return sorted(names)


def index_cache_dir(sets_dir: Path) -> Path:
    return sets_dir.with_name(sets_dir.name + INDEX_CACHE_SUFFIX)


def load_shards(
    sets_dir: Path | None,
    model_sha256: str | None = None,
    dim: int | None = None,
    skip_sets: frozenset[str] = frozenset(),
) -> tuple[list[ReferenceBundle], list[str]]:
    """Every installed shard that loads and checks out, and one problem line for each that does not."""
    shards: list[ReferenceBundle] = []
    problems: list[str] = []
    for set_id in shard_names(sets_dir):
        assert sets_dir is not None
        if set_id in skip_sets:
            logger.info("Set %s ships with cardsight; its installed copy in %s is not used", set_id, sets_dir)
            continue
        try:
            shard = ReferenceBundle.load(sets_dir / set_id, model_sha256, dim, thumbs_checked_when_shown=True)
        except BundleError as error:
            problems.append(_left_out(set_id, str(error)))
            continue
        set_ids = {s.id for s in shard.manifest.sets}
        if set_ids != {set_id}:
            problems.append(_left_out(set_id, f"{sets_dir / set_id} holds set(s) {sorted(set_ids)}, not {set_id}"))
            continue
        shards.append(shard)
    for problem in problems:
        logger.warning("%s", problem)
    return shards, problems


def _left_out(set_id: str, reason: str) -> str:
    reinstall = reinstall_command(set_id)
    if reinstall in reason:  # the bundle's own message already says how
        return f"Installed set {set_id} is left out: {reason}"
    # A bundle that cannot tell it is an installed set (its manifest unreadable) says to rebuild it
    # with `catalog build`, which is not how an installed set comes back.
    reason = re.split(r"[;.(]?\s*[Rr]ebuild (?:it|the bundle)\b", reason, maxsplit=1)[0]
    return f"Installed set {set_id} is left out: {reason.rstrip('.; ')}. Reinstall it: {reinstall}"


def load_reference(
    shipped: str | Path,
    sets_dir: Path | None,
    model_sha256: str | None = None,
    dim: int | None = None,
) -> ReferenceBundle:
    """The shipped bundle (refused whole if damaged or built with another model, as
    :meth:`ReferenceBundle.load` does) plus every installed shard that checks out."""
    base = ReferenceBundle.load(shipped, model_sha256, dim)
    shipped_sets = frozenset(s.id for s in base.manifest.sets)
    model = model_sha256 or base.manifest.model_sha256
    shards, problems = load_shards(sets_dir, model, dim or base.manifest.dim, shipped_sets)
    if not shards:
        base.problems = problems
        return base
    assert sets_dir is not None
    combined = combine(base, shards, problems)
    combined.index_cache = index_cache_dir(sets_dir) / f"{graph_key(base, shards)}{GRAPH_FILE_SUFFIX}"
    return combined


def combine(base: ReferenceBundle, shards: list[ReferenceBundle], problems: list[str]) -> ReferenceBundle:
    """One bundle whose rows are ``base``'s then each shard's, none of them copied."""
    parts = [base, *shards]
    row_card_ids: list[str] = []
    metadata: dict[str, dict[str, Any]] = {}
    thumb_dirs: dict[str, Path] = {}
    unchecked_thumbs: dict[Path, str] = {}
    sets: list[BundleSet] = list(base.manifest.sets)
    for part in parts:
        row_card_ids.extend(part.row_card_ids)
        metadata.update(part.metadata)
        if part is not base:
            sets.extend(part.manifest.sets)
            unchecked_thumbs.update(part.unchecked_thumbs)
            if part.path is not None:
                thumb_dirs.update(dict.fromkeys(part.metadata, part.path / THUMBS))
    cards = {c for c in row_card_ids if not c.startswith(BACK_PREFIX)}
    manifest = base.manifest.model_copy(
        update={
            "card_count": len(cards),
            "vector_count": len(row_card_ids),
            "sets": sets,
            "views_per_card": max(part.manifest.views_per_card for part in parts),
            "checksums": {},
        }
    )
    rows = StackedRows([part.embeddings for part in parts], base.manifest.dim)
    combined = ReferenceBundle(manifest, rows, row_card_ids, metadata, base.path, thumb_dirs=thumb_dirs)
    combined.problems = problems
    combined.unchecked_thumbs = unchecked_thumbs
    return combined


def graph_key(base: ReferenceBundle, shards: list[ReferenceBundle]) -> str:
    """A name for the combined graph that changes whenever any part's vectors do (or the kind of
    graph: ``GRAPH_KIND``)."""
    digest = hashlib.sha256(f"{GRAPH_KIND}|{base.manifest.model_sha256}".encode())
    for part in [base, *shards]:
        recorded = part.manifest.checksums.get(VECTORS) or f"{part.manifest.build_time}:{part.manifest.vector_count}"
        digest.update(f"|{part.path.name if part.path else ''}:{recorded}".encode())
    return digest.hexdigest()[:32]
