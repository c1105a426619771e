"""Install and remove a set's reference vectors (one shard per set, ``app.match.shards``).

The caller (``cardsight catalog download``, the GUI's Catalogue page) fetches and verifies the card
images; this module embeds them, writes the set's shard atomically (a crash or a cancel leaves the
set as it was before) and refreshes the combined search graph. Nothing here touches the network.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from app.catalog.build import REFERENCE_VIEWS, canonical_card_image, card_views, make_thumbnail, model_fields
from app.catalog.database import CardInfo, CatalogDatabase, user_catalog_path
from app.config import MatchConfig, default_of
from app.embed.base import EmbedderBackend
from app.imageio import ImageReadError
from app.match.bundle import (
    INSTALLED_SET,
    BundleError,
    BundleManifest,
    BundleSet,
    ReferenceBundle,
    read_manifest,
    safe_file_name,
)
from app.match.card_graph import cached_graph
from app.match.graph import GraphBuildCancelled
from app.match.shards import index_cache_dir, load_reference, shard_names

logger = logging.getLogger(__name__)

#: How an installed set's vectors are stored (``app.match.vectors``; its cost is measured in
#: bench/results/compact_vectors.json).
SHARD_DTYPE = "i8"
BATCH_SIZE = 16


class InstallCancelled(Exception):
    """``install_set`` stopped because its ``cancel`` event was set; the set is as it was before."""


@dataclass
class InstallReport:
    set_id: str
    embedded: int
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (card_id, reason)


def is_safe_id(name: str) -> bool:
    """Whether a set or card id (from the catalogue, which ``catalog update`` fills from the network)
    can name a file or folder as it is: letters, digits, ``-``, ``_`` and ``.`` only, and not ``.`` or
    ``..`` — anything else could write outside the folder it belongs in."""
    return safe_file_name(name) == name and name.strip(".") != ""


def installed_sets_dir() -> Path:
    """``$XDG_DATA_HOME/cardsight/sets`` (default ``~/.local/share/cardsight/sets``), next to the
    catalogue database's user copy."""
    return user_catalog_path().parent / "sets"


def install_set(
    set_id: str,
    images: Mapping[str, Path],
    embedder: EmbedderBackend,
    catalog: CatalogDatabase,
    *,
    sets_dir: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
    views: int = REFERENCE_VIEWS,
    shipped: Path | None = None,
    refresh_graph: bool = True,
) -> InstallReport:
    """Embed the set's cards from ``images`` (card id → verified local image file) and write the set's
    shard, replacing an earlier install of it only once the new one is complete.

    Cards the catalogue does not list in ``set_id`` and images that do not decode are skipped with
    the reason; if no card is left, nothing is written. ``progress(done, total)`` follows the
    cards; ``cancel`` is checked between batches (:class:`InstallCancelled`). The combined search
    graph over ``shipped`` (default: the configured default bundle) and the installed sets is
    rebuilt afterwards when the matcher will search through it; installing many sets, pass
    ``refresh_graph=False`` and call :func:`refresh_search_graph` once at the end (each rebuild
    covers every installed set).
    Raises ValueError for a set id the catalogue does not know.
    """
    sets_dir = sets_dir or installed_sets_dir()
    info = {s.set_id: s for s in catalog.sets()}.get(set_id)
    if info is None or not is_safe_id(set_id):
        raise ValueError(f"Unknown set {set_id!r}: `cardsight catalog sets` lists the set ids")
    report = InstallReport(set_id=set_id, embedded=0)
    cards: list[CardInfo] = []
    in_set = {card.card_id: card for card in catalog.cards_in_set(set_id)}
    for card_id in images:
        if card_id not in in_set:
            report.skipped.append((card_id, f"not a card of set {set_id} in the catalogue"))
    cards = [card for card_id, card in in_set.items() if card_id in images]
    say = progress or (lambda done, total: None)
    vectors: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory(prefix=f"cardsight-install-{set_id}-") as tmp:
        thumbs = Path(tmp) / "thumbs"
        thumbs.mkdir()
        say(0, len(cards))
        for start in range(0, len(cards), BATCH_SIZE):
            if cancel is not None and cancel.is_set():
                raise InstallCancelled(f"Installing {set_id} was cancelled; the set is as it was")
            loaded = []
            for card in cards[start : start + BATCH_SIZE]:
                try:
                    loaded.append((card, canonical_card_image(images[card.card_id])))
                except ImageReadError as error:
                    report.skipped.append((card.card_id, str(error)))
                    logger.warning("Skipping %s: %s", card.card_id, error)
            if loaded:
                batch = [view for card, image in loaded for view in card_views(card.card_id, image, views)]
                embedded = embedder.embed(batch).reshape(len(loaded), views, -1)
                for (card, image), card_vectors in zip(loaded, embedded, strict=True):
                    vectors[card.card_id] = card_vectors
                    (thumbs / f"{safe_file_name(card.card_id)}.jpg").write_bytes(make_thumbnail(image))
            report.embedded += len(loaded)
            say(min(start + BATCH_SIZE, len(cards)), len(cards))
        if cancel is not None and cancel.is_set():
            raise InstallCancelled(f"Installing {set_id} was cancelled; the set is as it was")
        if not vectors:
            logger.warning("No card of set %s could be embedded; nothing installed", set_id)
            return report
        order = [card for card in cards if card.card_id in vectors]
        shard = ReferenceBundle(
            BundleManifest(
                **model_fields(embedder),
                dtype=SHARD_DTYPE,
                card_count=len(order),
                vector_count=len(order) * views,
                sets=[BundleSet(id=set_id, name=info.name, cards=len(order))],
                build_time=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                catalog=f"{INSTALLED_SET}{set_id}",
                views_per_card=views,
                missing_images=sorted(card.card_id for card in in_set.values() if card.card_id not in vectors),
            ),
            np.vstack([vectors[card.card_id] for card in order]).astype(np.float32),
            [card.card_id for card in order for _ in range(views)],
            {card.card_id: card.metadata() for card in order},
        )
        shard.save(sets_dir / set_id, thumbs_from=thumbs, with_index=False)
    logger.info("Installed set %s: %d card(s), %d skipped", set_id, report.embedded, len(report.skipped))
    if refresh_graph:
        refresh_search_graph(shipped, sets_dir, embedder.model_sha256, embedder.dim, cancel=cancel)
    return report


def remove_set(
    set_id: str, *, sets_dir: Path | None = None, shipped: Path | None = None, refresh_graph: bool = True
) -> bool:
    """Delete the set's shard (and what an interrupted install left of it); False when none was
    installed. The combined search graph is refreshed for the sets that remain (``refresh_graph``)."""
    sets_dir = sets_dir or installed_sets_dir()
    if not is_safe_id(set_id):
        return False
    removed = False
    for folder in (sets_dir / set_id, sets_dir / f"{set_id}.previous"):
        if folder.is_dir():
            shutil.rmtree(folder)
            removed = True
    if removed:
        logger.info("Removed set %s from %s", set_id, sets_dir)
        if refresh_graph:
            refresh_search_graph(shipped, sets_dir)
    return removed


@dataclass(frozen=True)
class PresentSets:
    """Sets whose reference vectors are present."""

    #: The reference bundle's sets (they ship with cardsight); None when its manifest is unreadable.
    shipped: frozenset[str] | None
    #: Each installed shard's set, by folder (a damaged shard is still listed — loading it says why).
    downloaded: frozenset[str]
    #: Why ``shipped`` is unknown, one line; None when the manifest was read.
    problem: str | None = None

    @property
    def installed(self) -> frozenset[str]:
        """Every set present: the shipped ones known and the downloaded ones."""
        return (self.shipped or frozenset()) | self.downloaded


def present_sets(bundle_path: Path, sets_dir: Path | None = None) -> PresentSets:
    """The sets the reference bundle at ``bundle_path`` (or its ``.previous`` copy) ships and the sets
    installed in ``sets_dir`` (default :func:`installed_sets_dir`)."""
    downloaded = frozenset(shard_names(sets_dir or installed_sets_dir()))
    try:
        return PresentSets(frozenset(s.id for s in read_manifest(bundle_path).sets), downloaded)
    except BundleError as error:
        logger.warning("%s", error)
        return PresentSets(None, downloaded, str(error))


def refresh_search_graph(
    shipped: Path | None = None,
    sets_dir: Path | None = None,
    model_sha256: str | None = None,
    dim: int | None = None,
    exact_below: int | None = None,
    cancel: threading.Event | None = None,
) -> None:
    """Build and cache the graph over the shipped bundle and the installed sets now, so the next
    start does not; skipped when the matcher would search them exactly (fewer vectors than
    ``exact_below``, by default the ``match.exact_search_below`` setting's default). A ``cancel``
    stops the build and caches nothing: the next load builds the graph instead."""
    shipped = shipped or default_of(MatchConfig, "bundle")
    sets_dir = sets_dir or installed_sets_dir()
    try:
        combined = load_reference(shipped, sets_dir, model_sha256, dim)
    except BundleError as error:
        logger.warning("Search graph not refreshed: %s", error)
        return
    if combined.index_cache is None:
        # No installed set left: a graph cached for earlier sets would only take disk space.
        shutil.rmtree(index_cache_dir(sets_dir), ignore_errors=True)
    elif len(combined.row_card_ids) >= (exact_below or default_of(MatchConfig, "exact_search_below")):
        if cancel is not None and cancel.is_set():
            logger.info("Search graph not refreshed (cancelled); the next start builds it")
            return
        try:
            cached_graph(combined, combined.index_cache, cancel)
        except GraphBuildCancelled:
            logger.info("Search graph not refreshed (cancelled); the next start builds it")
