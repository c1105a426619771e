"""Builds the scanning engine from settings — the one place the CLI, the GUI and the benches share."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from app.catalog.database import CatalogDatabase
from app.catalog.install import installed_sets_dir
from app.config import Settings, runtime_from
from app.embed.base import EmbedderBackend
from app.identify import Identifier
from app.match.bundle import ReferenceBundle
from app.match.catalogue_rules import usable_catalog
from app.match.matcher import Matcher, MatchThresholds
from app.match.shards import load_reference
from app.match.voting import VotingConfig
from app.ocr.reader import NumberReader, OcrUnavailable
from app.pipeline import ScanPipeline
from app.vision.detect import CardDetector, DetectorSettings
from app.vision.finder import CardFinder, FollowSettings
from app.vision.tracker import TrackerConfig

logger = logging.getLogger(__name__)


def make_finder(settings: Settings) -> CardFinder:
    wide_reach = DetectorSettings.wide_reach_map_px if settings.finder.second_outline else 0
    return CardFinder(CardDetector(runtime_from(DetectorSettings, settings.finder, wide_reach_map_px=wide_reach)))


def embedder_spin_wait(settings: Settings, live: bool) -> bool:
    """``[embed] spin_wait``, or when unset: spin for a batch command, never next to the live scanner's
    finder and number reader."""
    return settings.embed.spin_wait if settings.embed.spin_wait is not None else not live


def make_embedder(settings: Settings, model: str | None = None, live: bool = True) -> EmbedderBackend:
    """``live``: for the live scanner (threads shared with the finder and OCR), else a batch command."""
    from app.embed import create_embedder

    e = settings.embed
    spin_wait = embedder_spin_wait(settings, live)
    return create_embedder(model or e.model, e.backends, e.threads, spin_wait=spin_wait)


def thresholds_from(settings: Settings) -> MatchThresholds:
    return runtime_from(MatchThresholds, settings.match)


def make_matcher(settings: Settings, reference: ReferenceBundle) -> Matcher:
    return Matcher(reference, thresholds_from(settings), settings.match.exact_search_below)


def reference_with_installed_sets(
    shipped: str | Path, embedder: EmbedderBackend, sets_dir: Path | None = None
) -> ReferenceBundle:
    """The bundle ``shipped`` and the sets installed in ``sets_dir`` (default: the user's folder), as
    the scanner uses them. Refused whole when the shipped bundle is damaged or from another model; an
    installed set that is is left out, with a line in the result's ``problems`` (app/match/shards.py)."""
    return load_reference(shipped, sets_dir or installed_sets_dir(), embedder.model_sha256, embedder.dim)


def make_reader(settings: Settings) -> tuple[NumberReader | None, str]:
    """The OCR reader, or None with the reason (OCR is an improvement, never a requirement)."""
    if not settings.ocr.enabled:
        return None, "collector-number OCR off in settings"
    try:
        return NumberReader(threads=settings.ocr.threads), "collector-number OCR on (rapidocr-onnxruntime)"
    except OcrUnavailable as error:
        logger.warning("%s", error)
        return None, str(error)


@dataclass
class Engine:
    finder: CardFinder
    embedder: EmbedderBackend
    bundle: ReferenceBundle
    matcher: Matcher
    reader: NumberReader | None
    ocr_status: str
    #: Every English card (None: unreadable): reprints of the bundle's cards, proposals from numbers.
    catalog: CatalogDatabase | None = None

    def pipeline(self, settings: Settings, realtime: bool) -> ScanPipeline:
        # Its own finder (the stream's memory), sharing the network session with the engine's.
        stream_finder = CardFinder(
            self.finder.detector, self.finder.size, runtime_from(FollowSettings, settings.finder)
        )
        return ScanPipeline(
            stream_finder,
            self.embedder,
            self.bundle,
            self.matcher,
            self.reader,
            runtime_from(TrackerConfig, settings.live),
            runtime_from(VotingConfig, settings.live, settings.match),
            realtime=realtime,
            catalog=self.catalog,
        )

    def identifier(self, settings: Settings) -> Identifier:
        """Single photos (``cardsight identify``): the engine's own finder, which never follows a stream."""
        return Identifier(
            self.finder,
            self.embedder,
            self.bundle,
            self.matcher,
            self.reader,
            settings.match.lookalike_within,
            catalog=self.catalog,
        )

    def close(self) -> None:
        self.embedder.close()


def load_engine(settings: Settings, bundle: str | None = None, model: str | None = None, live: bool = True) -> Engine:
    """Finder, embedder, bundle (refused if built with another model), matcher and OCR; ``live``: for
    the live scanner, else a batch command (``make_embedder``). The configured bundle comes with the
    sets the user installed; a ``bundle`` named explicitly (``--bundle``) is used alone, so a command
    run on it gives the same answers on any machine.
    Raises BundleError / EmbedderError with a message a user can act on."""
    embedder = make_embedder(settings, model, live)
    try:
        if bundle is None:
            reference = reference_with_installed_sets(settings.match.bundle, embedder)
        else:
            reference = load_reference(bundle, None, embedder.model_sha256, embedder.dim)
    except Exception:
        embedder.close()
        raise
    matcher = make_matcher(settings, reference)
    reader, ocr_status = make_reader(settings)
    return Engine(make_finder(settings), embedder, reference, matcher, reader, ocr_status, usable_catalog(None))
