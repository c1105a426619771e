"""The identification workers: one thread embeds the newest steady crop of each track, another reads
number strips.

Two threads because a number read costs ~0.1–0.3 s: on one thread it would stop the votes of every
track for that long, and the read could only start after the votes were in. Bounded by construction:
at most one pending crop per track (a newer crop replaces an older one that was not started yet —
stale work is dropped, never queued) and a small OCR queue. Every wait has a timeout; a crash inside
either thread is reported as a :class:`WorkerFailure` result and the worker stays dead, so the
pipeline can surface it instead of waiting for answers that never come.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from app.camera.base import BGRImage
from app.embed.base import EmbedderBackend
from app.match.decision import LayoutProbe, Rules, Sighting, better_way_up, decide_card
from app.match.layout import LayoutCheck
from app.match.matcher import Matcher, MatchResult
from app.match.voting import VotingConfig
from app.ocr.fusion import NumberViews
from app.ocr.reader import NumberReader, StripReading
from app.vision.warp import inset_image

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EmbedResult:
    track_id: int
    upright: npt.NDArray[np.float32]
    turned: npt.NDArray[np.float32]
    #: This frame alone, the better way up.
    frame_match: MatchResult
    crop: BGRImage
    timestamp: float
    #: How well this crop lines up with ``frame_match``'s card (``app.match.layout``); None when not
    #: checked — only a frame whose own match the check could upgrade is.
    layout: float | None = None
    #: The way up ``layout`` was measured (and ``frame_match`` made).
    turned_for_layout: bool = False
    #: The crop as found named nothing and the card inside it, read as a top-loader's outline, did:
    #: ``crop``, the vectors and the match are that inner card's (``app.vision.warp.inset_image``).
    inside_toploader: bool = False


@dataclass(frozen=True)
class _Measured:
    """What embedding one crop measured, for the :class:`EmbedResult` of the reading kept."""

    crop: BGRImage
    vectors: npt.NDArray[np.float32]
    #: The picture's decision, the better way up (before the layout).
    picture: MatchResult
    #: (card, turned) → layout agreement, for each one the rule asked for.
    layout: dict[tuple[str, bool], float | None]


@dataclass(frozen=True)
class OcrResult:
    track_id: int
    reading: StripReading
    timestamp: float


@dataclass(frozen=True)
class WorkerFailure:
    message: str


WorkerResult = EmbedResult | OcrResult | WorkerFailure


class IdentifyWorker:
    def __init__(
        self,
        embedder: EmbedderBackend,
        matcher: Matcher,
        reader: NumberReader | None = None,
        lookalike_within: float = VotingConfig.lookalike_within,
        rules: Rules | None = None,
    ) -> None:
        self.embedder = embedder
        self.matcher = matcher
        self.reader = reader
        # Here, not on the capture thread: a crop that does not line up is realigned (tens of ms).
        self.layout = LayoutCheck(matcher.bundle)
        self.lookalike_within = lookalike_within
        #: The pipeline's rules (the catalogue behind the bundle); by default the bundle's alone.
        self.rules = rules or Rules(matcher.thresholds, matcher.bundle.metadata, lookalike_within)
        self._crops: dict[int, tuple[BGRImage, float]] = {}
        # One pending strip per track (a newer one replaces it), oldest track first: bounded by the cards
        # in view, and a track waiting for its read always gets an answer (none is dropped unanswered).
        self._ocr: dict[int, tuple[int, BGRImage | NumberViews, float, tuple[str, ...], bool]] = {}
        self._results: list[WorkerResult] = []
        self._lock = threading.Condition()
        #: Jobs started and not finished, per thread ("embed", "ocr").
        self._busy: dict[str, bool] = {"embed": False, "ocr": False}
        self._stopping = False
        self.failure: str | None = None
        self.dropped_crops = 0
        self._threads = [threading.Thread(target=self._run, args=("embed",), name="cardsight-identify", daemon=True)]
        if reader is not None:
            self._threads.append(threading.Thread(target=self._run, args=("ocr",), name="cardsight-ocr", daemon=True))
        for thread in self._threads:
            thread.start()

    # ------------------------------------------------------------------ producer side
    def submit_crop(self, track_id: int, crop: BGRImage, timestamp: float) -> None:
        """Newest crop wins: replaces a pending, not yet started crop of the same track."""
        with self._lock:
            if track_id in self._crops:
                self.dropped_crops += 1
            self._crops[track_id] = (crop, timestamp)
            self._lock.notify_all()  # both threads wait on this condition: wake the embedder for sure

    def submit_strip(
        self,
        track_id: int,
        strip: BGRImage | NumberViews,
        timestamp: float,
        corners: tuple[str, ...] = ("left", "right"),
        set_code: bool = True,
    ) -> None:
        """A number strip to read, or the frames to fuse one from (warped here, off the capture thread).
        ``corners`` and ``set_code``: as ``NumberReader.read_strip`` takes them."""
        if self.reader is None:
            raise RuntimeError("number strip submitted to a worker without a number reader")
        with self._lock:
            self._ocr.pop(track_id, None)
            self._ocr[track_id] = (track_id, strip, timestamp, corners, set_code)
            self._lock.notify_all()  # both threads wait on this condition: wake the reader for sure

    def forget(self, track_id: int) -> None:
        """The track ended: its pending work is no longer wanted."""
        with self._lock:
            self._crops.pop(track_id, None)
            # A strip not yet read belongs to a card that left: reading it would only cost time.
            self._ocr.pop(track_id, None)

    def take_results(self) -> list[WorkerResult]:
        """Everything finished since the last call (never blocks)."""
        with self._lock:
            results, self._results = self._results, []
        return results

    def wait_for_results(self, timeout_s: float) -> bool:
        """Block until a result is ready to take (or the timeout passes): False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while not self._results:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._lock.wait(remaining)
        return True

    def wait_idle(self, timeout_s: float) -> bool:
        """Block until no work is pending or running (used for recorded sources, where results must
        not depend on machine speed). False on timeout or when the worker died."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while self._crops or self._ocr or any(self._busy.values()):
                if self.failure is not None:
                    return False
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._lock.wait(remaining)
        return self.failure is None

    @property
    def alive(self) -> bool:
        return all(thread.is_alive() for thread in self._threads)

    def stop(self, timeout_s: float = 5.0) -> None:
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                logger.warning("Worker thread %s did not stop within %.1f s", thread.name, timeout_s)

    # ------------------------------------------------------------------ worker side
    def _next_job(self, kind: str) -> tuple[Any, ...] | None:
        with self._lock:
            while not (self._stopping or self.failure or (self._crops if kind == "embed" else self._ocr)):
                self._lock.wait(0.5)
            if self._stopping or self.failure:
                return None
            self._busy[kind] = True
            if kind == "ocr":
                return self._ocr.pop(next(iter(self._ocr)))
            # Oldest track first, so one busy track cannot starve the others.
            track_id = next(iter(self._crops))
            crop, timestamp = self._crops.pop(track_id)
            return track_id, crop, timestamp

    def _run(self, kind: str) -> None:
        try:
            while (job := self._next_job(kind)) is not None:
                result: WorkerResult = self._embed(*job) if kind == "embed" else self._read(*job)
                with self._lock:
                    self._results.append(result)
                    self._busy[kind] = False
                    self._lock.notify_all()
        except Exception as error:  # a dead worker must be loud: the pipeline turns this into an event
            logger.exception("Identification worker (%s) died", kind)
            with self._lock:
                self.failure = f"identification worker ({kind}) died: {error!r}"
                self._results.append(WorkerFailure(self.failure))
                self._busy[kind] = False
                self._lock.notify_all()

    def _embed(self, track_id: int, crop: BGRImage, timestamp: float) -> EmbedResult:
        """This frame judged on its own (``app.match.decision.decide_card``, no number: the pipeline
        reads it from several frames): as found, or — when that names nothing and matches only loosely
        — the card inside it read as a top-loader's outline."""
        measured: dict[bool, _Measured] = {}
        outcome = decide_card(
            self._evidence(crop, measured, inside=False),
            lambda: self._evidence(inset_image(crop), measured, inside=True),
            None,
            self.rules,
        )
        seen = measured[outcome.inside]
        layout = seen.layout.get((outcome.decision.card_id, outcome.turned)) if outcome.decision.card_id else None
        # The frame's own picture decision goes to the votes; the layout that may confirm it goes along.
        return EmbedResult(
            track_id,
            seen.vectors[0],
            seen.vectors[1],
            seen.picture,
            seen.crop,
            timestamp,
            layout,
            outcome.turned,
            outcome.inside,
        )

    def _evidence(self, crop: BGRImage, measured: dict[bool, _Measured], inside: bool) -> tuple[Sighting, LayoutProbe]:
        """Embeds ``crop`` both ways up; its vectors, picture decision and any layout agreement the rule
        asks for are kept in ``measured[inside]``."""
        turned_crop = cv2.rotate(crop, cv2.ROTATE_180)
        vectors = self.embedder.embed([crop, turned_crop])
        upright, turned = self.matcher.search(vectors)
        picture, _ = better_way_up(self.matcher.decide(upright), self.matcher.decide(turned))
        seen = measured[inside] = _Measured(crop, vectors, picture, {})

        def layout(card_id: str, flip: bool) -> float | None:
            # Here, not on the capture thread: a crop that does not line up is realigned (tens of ms).
            value = self.layout.agreement(turned_crop if flip else crop, card_id)
            seen.layout[(card_id, flip)] = value
            return value

        return Sighting(upright, turned), layout

    def _read(
        self,
        track_id: int,
        strip: BGRImage | NumberViews,
        timestamp: float,
        corners: tuple[str, ...],
        set_code: bool,
    ) -> OcrResult:
        assert self.reader is not None
        image = strip.strip() if isinstance(strip, NumberViews) else strip
        return OcrResult(track_id, self.reader.read_strip(image, corners=corners, set_code=set_code), timestamp)
