"""The one scan loop behind ``cardsight scan`` / ``watch``, the GUI's scanner thread and bench/live.py.

A source's ``open``, ``read`` and ``close`` run on a daemon thread of their own and the loop waits on
them in short slices, so a stop request or the time limit ends the loop even while OpenCV blocks on a
silent stream. A source that never delivered a frame has failed (:class:`SourceFailed`): a wrong path
or URL is not a lost camera. A source that worked and then stopped is *lost*: it is closed and reopened
after growing delays until it delivers again, ``stop`` is set or the time limit passes.

Front ends hear from the loop through a :class:`ScanListener` (plain callbacks on the loop's thread:
``app`` never imports Qt) and get a :class:`ScanSummary` at the end.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, Literal, Protocol, TypeVar

import cv2

from app.camera.base import CameraError, Frame, FrameSource
from app.camera.exposure import GlareExposure
from app.camera.image_folder import ImageFolderSource
from app.camera.reconnect import backoff_delays
from app.camera.select import SourceChoice, choose_best_source, source_from_spec
from app.config import CameraConfig, Settings, default_of
from app.identify import IdentifiedCard, Identifier
from app.match.decision import Metadata
from app.pipeline import FrameResult, ScanEvent, ScanPipeline, TrackView, decision_event
from app.vision.finder import CardFinder, FoundCard

logger = logging.getLogger(__name__)

#: How long a source may take to open and deliver its first frame before it counts as failed.
OPEN_TIMEOUT_S = 10.0
#: How long cleanup waits for a source stuck in a read before leaving it to its daemon thread.
CLOSE_TIMEOUT_S = 0.5
#: The longest the loop goes without looking at ``stop`` and the clock while a source call blocks.
POLL_S = 0.05

DECISIONS = frozenset({"identified", "uncertain", "unknown", "card_back"})
#: How many photos of a folder a display shows a second (a headless scan does not wait).
PHOTOS_PER_SECOND = 1.0

DecisionKind = Literal["identified", "uncertain", "unknown", "card_back"]
EndReason = Literal["finished", "stopped", "time limit", "recogniser failed"]

T = TypeVar("T")


class SourceFailed(CameraError):
    """The source never delivered a frame: it could not be opened, had no frames, or stayed silent."""


class ScanProcessor(Protocol):
    """What the loop needs of :class:`app.pipeline.ScanPipeline`."""

    @property
    def failed(self) -> bool: ...

    def process(self, frame: Frame) -> FrameResult: ...

    def finish(self, t: float) -> list[ScanEvent]: ...

    def close(self) -> None: ...


def _ignore(*_: object) -> None:
    return None


@dataclass(frozen=True)
class ScanListener:
    """What a front end hears from the loop, called on the loop's thread; leave out what you do not need.

    ``on_frame``: every processed frame, with the tracks to draw. ``on_event``: every scan event,
    those :meth:`ScanPipeline.finish` settles at the end included. ``on_lost``: a source that was
    delivering stopped (why, and the seconds until the next try to reopen it). ``on_restored``: a lost
    source delivers frames again.
    """

    on_frame: Callable[[FrameResult], None] = _ignore
    on_event: Callable[[ScanEvent], None] = _ignore
    on_lost: Callable[[str, float], None] = _ignore
    on_restored: Callable[[], None] = _ignore


@dataclass(frozen=True)
class ScanOptions:
    #: Stop after this long (0: until the source ends or ``stop`` is set), time to open, read and
    #: wait for a lost source included.
    max_seconds: float = 0.0
    open_timeout_s: float = OPEN_TIMEOUT_S
    reconnect_initial_s: float = default_of(CameraConfig, "reconnect_initial_s")
    reconnect_max_s: float = default_of(CameraConfig, "reconnect_max_s")

    @classmethod
    def from_settings(cls, settings: Settings, max_seconds: float = 0.0) -> ScanOptions:
        camera = settings.camera
        return cls(max_seconds, OPEN_TIMEOUT_S, camera.reconnect_initial_s, camera.reconnect_max_s)


@dataclass(frozen=True)
class ScanSummary:
    ended: EndReason
    frames: int
    #: Decision events: one per presentation of a card.
    cards: int
    identified: int
    errors: int
    elapsed_s: float
    #: Photos of a folder (``stills``) in which no card was found; 0 for a video or a camera.
    photos_without_card: int = 0

    def describe(self) -> str:
        """One line for the user, e.g. ``finished — 3 cards (2 identified), 95 frames in 4.1 s`` (and
        ``, 2 photos without a card`` when a folder's photos had none)."""
        plural = "" if self.cards == 1 else "s"
        line = (
            f"{self.ended} — {self.cards} card{plural} ({self.identified} identified), "
            f"{self.frames} frames in {self.elapsed_s:.1f} s"
        )
        if self.photos_without_card:
            photos = "photo" if self.photos_without_card == 1 else "photos"
            line += f", {self.photos_without_card} {photos} without a card"
        return line


def choose_source(spec: str | None, settings: Settings, paced: bool) -> SourceChoice:
    """The source named by ``spec`` (None: the configured one; ``auto``: the best one attached), at the
    configured size. ``paced`` replays files at their own frame rate (a display wants that; a scan of a
    file does not). Nothing is opened here: the loop opens it."""
    spec = spec or settings.camera.source
    if spec == "auto":
        return choose_best_source(realtime_demo=paced)
    size = (settings.camera.width, settings.camera.height)
    source = source_from_spec(spec, realtime=paced, size=size)
    if paced and isinstance(source, ImageFolderSource) and source.fps is None:
        # Each photo stays on screen long enough to be seen with its outline.
        source.fps = PHOTOS_PER_SECOND
    return SourceChoice(source, f"source {spec!r} given", spec == "demo")


def decision_kind(card: IdentifiedCard) -> DecisionKind:
    status = card.match.status
    return status if status in ("identified", "uncertain", "card_back") else "unknown"


def photo_event(card: IdentifiedCard, t: float, track: int, metadata: Metadata) -> ScanEvent:
    """One photo's card as a decision event, by the live scanner's rule (``decision_event``)."""
    crop = card.found.warped.image
    crop = cv2.rotate(crop, cv2.ROTATE_180) if card.turned else crop
    return decision_event(card.match, t, track, metadata, crop, ocr=card.number_read)


class PhotoByPhoto:
    """A :class:`ScanProcessor` for unrelated photos (an image folder): every card of a photo is
    identified at once, as ``cardsight identify`` does, and is a presentation of its own. Tracking them
    across photos as if they were frames of one video would make one blurred presentation of many."""

    def __init__(self, identifier: Identifier, close: Callable[[], None] = _ignore) -> None:
        self.identifier = identifier
        self._close = close
        self._next_track = 1
        self._failed = False
        self.photos_without_card = 0

    @property
    def failed(self) -> bool:
        return self._failed

    def process(self, frame: Frame) -> FrameResult:
        started, started_at = time.perf_counter(), time.monotonic()
        try:
            cards = self.identifier.identify_image(frame.image)
        except Exception as error:  # the recogniser's own failure ends the scan as an error event
            logger.exception("Identification of photo %d failed", frame.index)
            self._failed = True
            event = ScanEvent(t=frame.timestamp, track=0, event="error", message=str(error))
            return FrameResult(frame, [], [event], time.perf_counter() - started, started_at)
        if not cards:
            self.photos_without_card += 1
            logger.info("Photo %d: no card found", frame.index)
        events, views = [], []
        for card in cards:
            event = photo_event(card, frame.timestamp, self._next_track, self.identifier.rules.metadata)
            self._next_track += 1
            events.append(event)
            named = event.card_id if event.event == "identified" else None
            views.append(TrackView(event.track, card.found.corners, decision_kind(card), named, card.found.glare))
        return FrameResult(frame, views, events, time.perf_counter() - started, started_at)

    def finish(self, t: float) -> list[ScanEvent]:
        return []

    def close(self) -> None:
        self._close()


def per_photo(pipeline: ScanProcessor) -> ScanProcessor:
    """The live pipeline's finder, embedder, matcher and number reader, photo by photo; a processor
    that is not a :class:`ScanPipeline` is used as it is."""
    if not isinstance(pipeline, ScanPipeline):
        return pipeline
    finder = CardFinder(pipeline.finder.detector, pipeline.finder.size)  # no following: photos are unrelated
    identifier = Identifier(
        finder,
        pipeline.worker.embedder,
        pipeline.bundle,
        pipeline.matcher,
        pipeline.reader,
        pipeline.voting.lookalike_within,
    )
    return PhotoByPhoto(identifier, pipeline.close)


class _GaveUp(Exception):
    """A source call was still running when the loop stopped waiting for it."""

    def __init__(self, why: Literal["stopped", "time limit", "timeout"]) -> None:
        super().__init__(why)
        self.why = why


class _Call(Generic[T]):
    def __init__(self, function: Callable[[], T]) -> None:
        self.function = function
        self.done = threading.Event()
        self.result: T | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.function()
        except BaseException as error:  # handed to the waiting loop, which decides
            self.error = error
        finally:
            self.done.set()


class SourceThread:
    """Runs one source's calls in order on a daemon thread, so a call that blocks (OpenCV on a silent
    stream) cannot hold the loop, and the process can exit while it still blocks."""

    def __init__(self, name: str) -> None:
        self._calls: queue.SimpleQueue[_Call[object] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while (call := self._calls.get()) is not None:
            call.run()

    def call(self, function: Callable[[], T], until: float, stop: threading.Event | None) -> T:
        """``function()``'s result (or its exception), unless ``stop`` is set or the monotonic clock
        passes ``until`` first: then :class:`_GaveUp`, and the call finishes on its own later."""
        job: _Call[T] = _Call(function)
        self._calls.put(job)  # type: ignore[arg-type]
        while not job.done.wait(max(0.0, min(POLL_S, until - time.monotonic()))):
            if stop is not None and stop.is_set():
                raise _GaveUp("stopped")
            if time.monotonic() >= until:
                raise _GaveUp("timeout")
        if job.error is not None:
            raise job.error
        return job.result  # type: ignore[return-value]

    def shut(self) -> None:
        self._calls.put(None)


class ScanLoop:
    """Frames from ``source`` until it ends, ``stop`` is set or ``options.max_seconds`` pass; a lost
    source is reopened with backoff. :meth:`scan` feeds the frames to the pipeline, :meth:`watch` to
    the card finder alone. The clock starts when the loop is made; one loop runs once."""

    def __init__(
        self,
        source: FrameSource,
        stop: threading.Event | None = None,
        options: ScanOptions | None = None,
        listener: ScanListener | None = None,
    ) -> None:
        self.source = source
        self.stop = stop or threading.Event()
        self.options = options or ScanOptions()
        self.listener = listener or ScanListener()
        self.started = time.monotonic()
        self.deadline = self.started + self.options.max_seconds if self.options.max_seconds > 0 else math.inf
        self.ended: EndReason = "finished"
        self.frames = 0
        self.delivered = False
        #: Tracks that got a decision (one per presentation: an unsure one later named counts once).
        self._decided_tracks: set[int] = set()
        self.identified = 0
        self.errors = 0
        self.photos_without_card = 0
        self._io: SourceThread | None = None
        self._closed = False

    # ------------------------------------------------------------------ front ends
    def scan(self, pipeline: ScanProcessor) -> ScanSummary:
        """The live scanner: each frame through the pipeline, glare steering the exposure where the
        source can, events to the listener; ``pipeline.finish`` settles the rest at the end. Raises
        :class:`SourceFailed` when the source never delivered. Closes the pipeline and the source.
        A source of unrelated photos (``stills``, an image folder) is identified photo by photo."""
        if getattr(self.source, "stills", False):
            pipeline = per_photo(pipeline)
        exposure = GlareExposure()
        last_t = 0.0
        try:
            for frame in self.frames_from_source():
                result = pipeline.process(frame)
                last_t = frame.timestamp
                exposure.apply(self.source, result.worst_glare)
                self.listener.on_frame(result)
                for event in result.events:
                    self._emit(event)
                if pipeline.failed:
                    self.ended = "recogniser failed"
                    break
            for event in pipeline.finish(last_t):
                self._emit(event)
        finally:
            if isinstance(pipeline, PhotoByPhoto):
                self.photos_without_card = pipeline.photos_without_card
            pipeline.close()
            self.close()
        return self.summary()

    def watch(self, finder: CardFinder, on_cards: Callable[[Frame, list[FoundCard]], None]) -> ScanSummary:
        """The card finder alone on each frame (``cardsight watch``). Closes the source."""
        try:
            for frame in self.frames_from_source():
                on_cards(frame, finder.find_cards(frame.image, frame.analysis))
        finally:
            self.close()
        return self.summary()

    def summary(self) -> ScanSummary:
        elapsed = time.monotonic() - self.started
        return ScanSummary(
            self.ended,
            self.frames,
            len(self._decided_tracks),
            self.identified,
            self.errors,
            elapsed,
            self.photos_without_card,
        )

    def close(self) -> None:
        """Close the source (bounded: a source stuck in a call is left to its daemon thread). Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._io is None:
            return
        self.source.interrupt()
        self._close_source(time.monotonic() + CLOSE_TIMEOUT_S)
        self._io.shut()

    # ------------------------------------------------------------------ frames
    def frames_from_source(self) -> Iterator[Frame]:
        """The source's frames, reconnecting when a working source is lost; sets :attr:`ended`."""
        delays = backoff_delays(self.options.reconnect_initial_s, self.options.reconnect_max_s)
        lost = False
        while True:
            if self.stop.is_set():
                self.ended = "stopped"
                return
            if time.monotonic() >= self.deadline:
                self._check_delivered(None)
                self.ended = "time limit"
                return
            try:
                frame = self._next_frame()
            except _GaveUp as gave_up:
                if gave_up.why == "stopped":
                    self.ended = "stopped"
                    return
                self._check_delivered(None)
                if time.monotonic() >= self.deadline:
                    self.ended = "time limit"
                    return
                self._lose(CameraError(f"{self.source.description} did not answer"), delays)
                lost = True
                continue
            except CameraError as error:
                self._check_delivered(error)
                self._lose(error, delays)
                lost = True
                continue
            if frame is None:
                self._check_delivered(None, "has no frames")
                return
            if lost:
                logger.info("%s delivers frames again", self.source.description)
                self.listener.on_restored()
                delays = backoff_delays(self.options.reconnect_initial_s, self.options.reconnect_max_s)
                lost = False
            self.delivered = True
            self.frames += 1
            yield frame

    def _next_frame(self) -> Frame | None:
        io = self._source_thread()
        until = self.deadline
        if not self.delivered:
            until = min(until, self.started + self.options.open_timeout_s)
        if not self.source.is_open:
            io.call(self.source.open, min(until, time.monotonic() + self.options.open_timeout_s), self.stop)
        return io.call(self.source.read, until, self.stop)

    def _check_delivered(self, error: CameraError | None, what: str | None = None) -> None:
        """A source that never delivered a frame fails here, with the reason."""
        if self.delivered:
            return
        if error is not None:
            raise SourceFailed(str(error)) from error
        waited = min(self.deadline - self.started, self.options.open_timeout_s)
        raise SourceFailed(f"{self.source.description} {what or f'gave no frame in {waited:.1f} s'}")

    def _lose(self, error: CameraError, delays: Iterator[float]) -> None:
        """Close the lost source, tell the listener, wait before the next try (``stop`` and the time
        limit cut the wait short)."""
        self._close_source(time.monotonic() + CLOSE_TIMEOUT_S)
        delay = next(delays)
        logger.warning("%s; retrying in %.1f s", error, delay)
        self.listener.on_lost(str(error), delay)
        self.stop.wait(max(0.0, min(delay, self.deadline - time.monotonic())))

    def _close_source(self, until: float) -> None:
        if self._io is None:
            return
        try:
            self._io.call(self.source.close, until, None)
        except _GaveUp:
            logger.info("%s did not close in time; leaving it to its own thread", self.source.description)
        except Exception as error:  # a failing close must not hide why the loop ended
            logger.warning("Closing %s failed: %s", self.source.description, error)

    def _source_thread(self) -> SourceThread:
        if self._io is None:
            self._io = SourceThread(f"cardsight-source-{self.source.description}")
        return self._io

    def _emit(self, event: ScanEvent) -> None:
        if event.event in DECISIONS:
            self._decided_tracks.add(event.track)
        self.identified += event.event == "identified"
        self.errors += event.event == "error"
        self.listener.on_event(event)
