"""Builds the scanning engine from settings — the one place the CLI, the GUI and the benches share."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from app.config import Settings
from app.embed.base import EmbedderBackend
from app.identify import Identifier
from app.match.bundle import ReferenceBundle
from app.match.matcher import Matcher, MatchThresholds
from app.match.voting import VotingConfig
from app.ocr.reader import NumberReader, OcrUnavailable
from app.pipeline import ScanPipeline
from app.vision.detect import CardDetector, FinderSettings
from app.vision.finder import CardFinder, FollowSettings
from app.vision.tracker import TrackerConfig

logger = logging.getLogger(__name__)


def make_finder(settings: Settings) -> CardFinder:
    detector = CardDetector(
        FinderSettings(
            model_path=settings.finder.model,
            threads=settings.finder.threads,
            mirror_pass=settings.finder.mirror_pass,
            min_area_frac=settings.finder.min_area_frac,
            wide_reach_map_px=FinderSettings.wide_reach_map_px if settings.finder.second_outline else 0,
            edge_check=settings.finder.edge_check,
        )
    )
    return CardFinder(detector)


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
    m = settings.match
    return MatchThresholds(
        unknown_below=m.unknown_below,
        accept_at=m.accept_at,
        min_margin=m.min_margin,
        back_at=m.back_at,
        unknown_margin=m.unknown_margin,
        lookalike_above=m.lookalike_above,
        layout_margin=m.layout_margin,
        layout_at=m.layout_at,
    )


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

    def pipeline(self, settings: Settings, realtime: bool) -> ScanPipeline:
        live = settings.live
        # Its own finder (the stream's memory), sharing the network session with the engine's.
        stream_finder = CardFinder(
            self.finder.detector, self.finder.size, FollowSettings(network_every=settings.finder.network_every)
        )
        return ScanPipeline(
            stream_finder,
            self.embedder,
            self.bundle,
            self.matcher,
            self.reader,
            TrackerConfig(
                max_motion=live.max_motion,
                min_sharpness=live.min_sharpness,
                max_glare=live.max_glare,
                steady_frames=live.steady_frames,
                lost_after_s=live.lost_after_s,
                changed_below=live.changed_below,
                changed_frames=live.changed_frames,
            ),
            VotingConfig(
                min_votes=live.min_votes,
                min_votes_reject=live.min_votes_reject,
                decide_within_s=live.decide_within_s,
                lookalike_within=live.lookalike_within,
                max_ocr_attempts=live.max_ocr_attempts,
                number_frames=live.number_frames,
                same_card_above=live.same_card_above,
            ),
            realtime=realtime,
        )

    def identifier(self, settings: Settings) -> Identifier:
        """Single photos (``cardsight identify``): the engine's own finder, which never follows a stream."""
        return Identifier(
            self.finder, self.embedder, self.bundle, self.matcher, self.reader, settings.live.lookalike_within
        )

    def close(self) -> None:
        self.embedder.close()


def load_engine(settings: Settings, bundle: str | None = None, model: str | None = None, live: bool = True) -> Engine:
    """Finder, embedder, bundle (refused if built with another model), matcher and OCR; ``live``: for
    the live scanner, else a batch command (``make_embedder``).
    Raises BundleError / EmbedderError with a message a user can act on."""
    embedder = make_embedder(settings, model, live)
    try:
        reference = ReferenceBundle.load(bundle or settings.match.bundle, embedder.model_sha256, embedder.dim)
    except Exception:
        embedder.close()
        raise
    matcher = Matcher(reference, thresholds_from(settings), settings.match.exact_search_below)
    reader, ocr_status = make_reader(settings)
    return Engine(make_finder(settings), embedder, reference, matcher, reader, ocr_status)
