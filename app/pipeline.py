"""The live scanner: frames → finder → tracker → identification worker → votes → ``ScanEvent``s.

The capture side (``process``) never waits for inference on live sources: it hands the newest steady
crop of each track to the worker and folds in whatever the worker has finished. For recorded sources
(``realtime=False``) it waits for the worker after each frame (with a timeout), so a file gives the
same events on any machine.

One presentation of a card gives one decision event (``identified | uncertain | unknown |
card_back``), then ``lost`` when it leaves the view or another card takes its place (the tracker flags
a new, stable picture; the embedding confirms it is another card before the track is split). A
presentation decided ``uncertain`` or ``unknown`` keeps looking while it stays: when its later frames
name the card clearly, one ``identified`` event follows for the same track.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from app.camera.base import BGRImage, Frame
from app.catalog.database import CatalogDatabase
from app.embed.base import EmbedderBackend
from app.identify_worker import EmbedResult, IdentifyWorker, OcrResult, WorkerFailure
from app.match.bundle import ReferenceBundle
from app.match.catalogue_rules import catalogue_rules, installed_sets, usable_catalog
from app.match.decision import (
    Candidate,
    Decision,
    Metadata,
    check_printings,
    close_lookalike,
    confirm_by_layout,
    decide_by_read,
    decide_by_votes,
    decide_second_look,
    frame_best,
    read_turned,
    settle,
    wants_number_check,
    wants_proposals,
)
from app.match.matcher import Matcher
from app.match.voting import TrackVotes, VoteOutcome, VotingConfig, combined_match
from app.ocr.fusion import NumberViews
from app.ocr.proposals import number_read
from app.ocr.reader import NumberReader
from app.ocr.rerank import needs_set_code, where_to_read
from app.vision.finder import CardFinder
from app.vision.geometry import FloatArray, turned_180
from app.vision.tracker import CardTracker, Track, TrackerConfig, TrackState
from app.vision.warp import inset_corners

logger = logging.getLogger(__name__)

#: Decisions after which a presentation keeps looking for a clearer answer while it stays.
SECOND_LOOK_STATES = ("uncertain", "unknown")

EventKind = Literal["identified", "uncertain", "unknown", "card_back", "lost", "error"]


@dataclass(frozen=True)
class ScanEvent:
    t: float
    track: int
    event: EventKind
    card_id: str | None = None
    name: str | None = None
    set_id: str | None = None
    number: str | None = None
    confidence: float = 0.0
    alternatives: list[dict[str, Any]] = field(default_factory=list)
    #: The straightened crop that was identified (for the GUI and the collection; not in JSON).
    crop: BGRImage | None = field(default=None, repr=False, compare=False)
    #: Wall-clock seconds from the track turning steady to this event.
    latency_s: float | None = None
    #: What the number strip said, when it was read.
    ocr: str | None = None
    message: str | None = None
    #: Why an ``uncertain`` card is not named (``same art as Base Set 58/102 — number not read``).
    reason: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The public ``cardsight scan --json`` line (keep stable)."""
        out: dict[str, Any] = {
            "t": round(self.t, 3),
            "track": self.track,
            "event": self.event,
            "card_id": self.card_id,
            "name": self.name,
            "set_id": self.set_id,
            "number": self.number,
            "confidence": round(self.confidence, 4),
            "alternatives": self.alternatives,
        }
        if self.ocr is not None:
            out["ocr"] = self.ocr
        if self.message is not None:
            out["message"] = self.message
        if self.reason is not None:
            out["reason"] = self.reason
        return out


@dataclass(frozen=True)
class TrackView:
    """What the GUI draws for one card in the current frame."""

    track_id: int
    corners: FloatArray
    state: TrackState
    card_id: str | None
    #: Blown-out share of the card in this frame (drives exposure compensation where the camera can).
    glare: float = 0.0


@dataclass(frozen=True)
class FrameResult:
    frame: Frame
    tracks: list[TrackView]
    events: list[ScanEvent]
    #: Seconds the capture side spent on this frame (finder + tracker + bookkeeping).
    process_s: float
    #: ``time.monotonic()`` when processing of the frame began (for end-to-end display latency).
    started_at: float = 0.0

    @property
    def worst_glare(self) -> float | None:
        return max((t.glare for t in self.tracks), default=None)


@dataclass
class _TrackWork:
    votes: TrackVotes = field(default_factory=TrackVotes)
    steady_wall: float | None = None
    ocr_pending: bool = False
    ocr_done: bool = False
    ocr_attempts: int = 0
    last_outcome: VoteOutcome | None = None
    last_crop: BGRImage | None = None
    #: The card's latest still frames and its corners in each, oldest first: the number strip is read
    #: from them all, at full resolution, aligned and averaged (``app.ocr.fusion``).
    still_views: deque[tuple[BGRImage, FloatArray]] = field(default_factory=deque)
    #: The latest embedded frame named the card inside a top-loader outline, not the outline itself.
    inside_toploader: bool = False
    #: The pending read is to split look-alike printings: more votes cannot (the pictures are the
    #: same), so the track's crops are not embedded until it is back — its two cores go to the read.
    votes_wait_for_number: bool = False
    #: The tracker saw a new picture at this time: the next embedding from then on says whether it is
    #: still the same card.
    recheck_from: float | None = None
    #: The presentation's mean embedding (upright) when it was decided: what a new picture is checked
    #: against.
    decided_vector: npt.NDArray[np.float32] | None = None
    #: The latest embeddings after an ``uncertain``/``unknown`` decision (a second look, on the card
    #: as it lies now: earlier frames may have been the ones that left it unsure).
    second_look: deque[EmbedResult] = field(default_factory=deque)
    last_second_look: float = -math.inf


class ScanPipeline:
    def __init__(
        self,
        finder: CardFinder,
        embedder: EmbedderBackend,
        bundle: ReferenceBundle,
        matcher: Matcher | None = None,
        reader: NumberReader | None = None,
        tracker_config: TrackerConfig | None = None,
        voting: VotingConfig | None = None,
        realtime: bool = True,
        worker_timeout_s: float = 10.0,
        catalog: CatalogDatabase | None = None,
    ) -> None:
        self.finder = finder
        self.bundle = bundle
        self.matcher = matcher or Matcher(bundle)
        self.reader = reader
        self.tracker = CardTracker(tracker_config)
        self.voting = voting or VotingConfig()
        self.realtime = realtime
        self.worker_timeout_s = worker_timeout_s
        #: Every "which card" judgement is ``app.match.decision``'s; this class decides when to ask. The
        #: catalogue behind the bundle names same-art printings of sets not installed.
        self.catalog = usable_catalog(catalog)
        self.rules = catalogue_rules(
            self.matcher.thresholds, bundle.metadata, self.voting.lookalike_within, self.catalog
        )
        #: A number read proposes cards of the other sets only (the picture would have found these).
        self.installed = installed_sets(bundle.metadata)
        self.worker = IdentifyWorker(
            embedder, self.matcher, reader, lookalike_within=self.voting.lookalike_within, rules=self.rules
        )
        self._work: dict[int, _TrackWork] = {}
        self._failed = False
        self._pending_since: float | None = None

    # ------------------------------------------------------------------ public
    def process(self, frame: Frame) -> FrameResult:
        started = time.perf_counter()
        started_at = time.monotonic()
        t = frame.timestamp
        events: list[ScanEvent] = []
        found = self.finder.find_cards(frame.image, frame.analysis)
        seen, ended = self.tracker.update(found, t)
        for track in seen:
            work = self._work.get(track.track_id)
            if work is None:
                work = self._work[track.track_id] = _TrackWork(still_views=deque(maxlen=self.voting.number_frames))
            if track.still_frames > 0 and not track.decided:  # still, sharp and not blown out
                work.still_views.append((frame.image, track.card.corners))
            else:
                work.still_views.clear()  # moved, or decided: whole frames are not kept for nothing
            if not track.appearance_changed:
                work.recheck_from = None  # the picture came back before the check answered
            if track.appearance_changed and work.recheck_from is None and track.still_frames > 0:
                # Only a still, sharp crop free of glare is worth judging: another card, or not.
                work.recheck_from = t
                self.worker.submit_crop(track.track_id, track.card.warped.image, t)
            elif track.state == "steady":
                if work.steady_wall is None:
                    work.steady_wall = time.monotonic()
                # Votes go on while a number is read (its own thread) for a card the picture is unsure
                # of: they may settle it first. Not for a look-alike (``votes_wait_for_number``).
                if not (work.ocr_pending and work.votes_wait_for_number):
                    self.worker.submit_crop(track.track_id, track.card.warped.image, t)
            elif (
                track.state in SECOND_LOOK_STATES
                and track.still_frames > 0
                and t - work.last_second_look >= self.voting.second_look_every_s
            ):
                work.last_second_look = t
                self.worker.submit_crop(track.track_id, track.card.warped.image, t)
        if (
            not self.realtime
            and not self._failed
            and not self.worker.wait_idle(self.worker_timeout_s)
            and self.worker.failure is None
        ):
            # Once: a worker that does not answer now will not answer the next frame either.
            self._failed = True
            events.append(self._error(t, f"identification took longer than {self.worker_timeout_s:.0f} s"))
        events += self._fold_results(t)
        events += self._check_deadlines(t)
        for track in ended:
            events += self._end_track(track, t)
        events += self._check_worker(t)
        views = [
            TrackView(tr.track_id, tr.card.corners, tr.state, tr.decided_card_id, tr.card.glare)
            for tr in self.tracker.tracks.values()
            if tr.last_seen == t
        ]
        return FrameResult(frame, views, events, time.perf_counter() - started, started_at)

    def finish(self, t: float) -> list[ScanEvent]:
        """The stream ended: settle what the worker still has, close every track."""
        events: list[ScanEvent] = []
        if not self._failed:
            self.worker.wait_idle(self.worker_timeout_s)
            events += self._fold_results(t)
        for track in self.tracker.end_all():
            events += self._end_track(track, t)
        return events

    def close(self) -> None:
        self.worker.stop()

    def __enter__(self) -> ScanPipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ results
    def _fold_results(self, t: float) -> list[ScanEvent]:
        events: list[ScanEvent] = []
        for result in self.worker.take_results():
            if isinstance(result, WorkerFailure):
                events += self._check_worker(t)
                continue
            track = self.tracker.tracks.get(result.track_id)
            work = self._work.get(result.track_id)
            if track is None or work is None:
                continue
            if isinstance(result, EmbedResult):
                if work.recheck_from is not None and result.timestamp >= work.recheck_from:
                    if self._is_another_card(track, work, result):
                        events += self._split(track, t)
                        continue
                    self.tracker.confirm_same(track)
                    work.recheck_from = None
                if not track.decided:
                    events += self._on_embedding(track, work, result, t)
                elif track.state in SECOND_LOOK_STATES:
                    events += self._on_second_look(track, work, result, t)
            elif isinstance(result, OcrResult) and not track.decided:
                events += self._on_reading(track, work, result, t)
        return events

    def _is_another_card(self, track: Track, work: _TrackWork, result: EmbedResult) -> bool:
        """The new picture the tracker saw is another card (or the card's other side): its embedding,
        either way up, is not close to what the presentation was decided (or is being decided) on."""
        reference = work.decided_vector
        if reference is None and work.votes.count:
            reference = work.votes.mean_vectors()[0]
        if reference is None:
            return False  # nothing seen yet to differ from
        similarity = max(float(np.dot(result.upright, reference)), float(np.dot(result.turned, reference)))
        logger.debug("Track %d: new picture, %.2f like the presentation's", track.track_id, similarity)
        return similarity < self.voting.same_card_above

    def _split(self, track: Track, t: float) -> list[ScanEvent]:
        """Another card took ``track``'s place: its presentation ends here and a new one begins."""
        self.tracker.split(track, t)
        return self._end_track(track, t)

    def _on_second_look(self, track: Track, work: _TrackWork, result: EmbedResult, t: float) -> list[ScanEvent]:
        """A presentation decided ``uncertain``/``unknown`` that stays: identified when its latest
        frames, on their own, name the card as clearly as a first decision needs — more of them, and
        each of them naming it."""
        window = max(self.voting.min_votes, self.voting.min_votes_reject)
        work.second_look.append(result)
        while len(work.second_look) > window:
            work.second_look.popleft()
        if len(work.second_look) < window:
            return []
        votes = TrackVotes()
        for seen in work.second_look:
            votes.add(seen.upright, seen.turned, frame_best(seen.frame_match))
        outcome = self._confirm_by_layout(combined_match(self.matcher, votes), result)
        decision = decide_second_look(outcome.match, votes.frame_best, self._wants_number_check(outcome.match))
        if decision is None:
            return []
        work.last_crop = result.crop
        return [self._decide(track, work, decision, outcome.turned, t)]

    def _on_embedding(self, track: Track, work: _TrackWork, result: EmbedResult, t: float) -> list[ScanEvent]:
        work.votes.add(result.upright, result.turned, frame_best(result.frame_match))
        work.last_crop = result.crop
        work.inside_toploader = result.inside_toploader
        outcome = self._confirm_by_layout(combined_match(self.matcher, work.votes), result)
        work.last_outcome = outcome
        number_wanted = self._wants_number_check(outcome.match) and not work.ocr_done
        # A picture that matches nothing: its number may name a card of a set not installed. The votes
        # wait for that read (``decide_by_votes``: a read in flight) — at most ``max_ocr_attempts``
        # of them, and none past ``decide_within_s`` (``_check_deadlines``).
        proposals_wanted = self._wants_proposals(outcome.match) and not work.ocr_done
        if outcome.consistent and (number_wanted or proposals_wanted) and not work.ocr_pending:
            # From the first ambiguous vote: a read takes longer than the remaining votes.
            self._request_ocr(track, work, outcome, t)
        decision = decide_by_votes(
            outcome.match, outcome.votes, outcome.consistent, self.voting, number_wanted, work.ocr_pending
        )
        if decision is not None:
            # The votes alone are clear now: a read an earlier, ambiguous vote asked for is not waited for.
            return [self._decide(track, work, decision, outcome.turned, t)]
        return []

    def _confirm_by_layout(self, outcome: VoteOutcome, result: EmbedResult) -> VoteOutcome:
        """The votes' decision with this frame's layout agreement, when the frame's own best card is the
        votes' best, the same way up (the worker measured it for the frame's card only); a card whose
        art is printed in sets not installed stays ``identified`` only when that layout lines up."""
        same_reading = (
            result.frame_match.card_id == outcome.match.card_id and result.turned_for_layout == outcome.turned
        )
        agreement = result.layout if same_reading else None
        match = check_printings(confirm_by_layout(outcome.match, agreement, self.rules), agreement, self.rules)
        return replace(outcome, match=match)

    def _wants_number_check(self, match: Decision) -> bool:
        return self.reader is not None and wants_number_check(match, self.rules)

    def _wants_proposals(self, match: Decision) -> bool:
        return self.reader is not None and wants_proposals(match, self.rules)

    def _request_ocr(self, track: Track, work: _TrackWork, outcome: VoteOutcome, t: float) -> None:
        if not work.still_views:
            return
        views = []
        for image, corners in work.still_views:
            card = inset_corners(corners) if work.inside_toploader else corners
            views.append((image, turned_180(card) if read_turned(outcome.match, outcome.turned) else card))
        metadata = self.rules.metadata
        work.ocr_pending = True
        work.ocr_attempts += 1
        work.votes_wait_for_number = close_lookalike(outcome.match, metadata, self.voting.lookalike_within)
        # A retry reads the frames still by then: the ones this read shares with it are averaged with new ones.
        where = where_to_read(outcome.match, metadata)
        set_code = needs_set_code(outcome.match, metadata)
        self.worker.submit_strip(track.track_id, NumberViews(tuple(views), where), t, where, set_code)

    def _on_reading(self, track: Track, work: _TrackWork, result: OcrResult, t: float) -> list[ScanEvent]:
        work.ocr_pending = False
        outcome = work.last_outcome
        if outcome is None:
            return []
        read = number_read(outcome.match, result.reading, self.rules.metadata, self.installed, self.catalog)
        # Blurred or misread: another read comes on the next steady frames, until the attempts run out.
        final = work.ocr_attempts >= self.voting.max_ocr_attempts
        decision = decide_by_read(outcome.match, read, self.rules, final)
        if decision is None:
            return []
        work.ocr_done = True
        if decision.status == "unknown":
            # The number proposed nothing: the votes decide, as they would have without a read.
            decision = decide_by_votes(decision, outcome.votes, outcome.consistent, self.voting, False, False)
            return [] if decision is None else [self._decide(track, work, decision, outcome.turned, t)]
        # A number that changed nothing the picture had not already settled is not shown as the reason.
        shown = None if decision.status == "identified" and read.supported is None else read.text
        return [self._decide(track, work, decision, outcome.turned, t, shown)]

    def _check_deadlines(self, t: float) -> list[ScanEvent]:
        events = []
        for track in list(self.tracker.tracks.values()):
            work = self._work.get(track.track_id)
            if track.decided or work is None or work.last_outcome is None or track.steady_since is None:
                continue
            if work.ocr_pending or t - track.steady_since < self.voting.decide_within_s:
                continue
            events.append(self._settle(track, work, t))
        return events

    def _settle(self, track: Track, work: _TrackWork, t: float) -> ScanEvent:
        """Out of time: report the best honest answer (``app.match.decision.settle``)."""
        assert work.last_outcome is not None
        return self._decide(track, work, settle(work.last_outcome.match), work.last_outcome.turned, t)

    def _end_track(self, track: Track, t: float) -> list[ScanEvent]:
        events: list[ScanEvent] = []
        work = self._work.pop(track.track_id, None)
        self.worker.forget(track.track_id)
        if not track.decided and work is not None and work.last_outcome is not None and work.votes.count >= 1:
            # Taken away before a decision: still report what was seen, so no scan is lost.
            events.append(self._settle(track, work, t))
        if track.reported:
            events.append(ScanEvent(t=t, track=track.track_id, event="lost", card_id=track.decided_card_id))
        return events

    # ------------------------------------------------------------------ events
    def _decide(
        self, track: Track, work: _TrackWork, decision: Decision, turned: bool, t: float, ocr: str | None = None
    ) -> ScanEvent:
        """The event of ``track``'s decision (``turned``: the way up it was read, kept for the record)."""
        track.state = decision.status
        track.reported = True
        track.decided_card_id = decision.card_id if decision.status == "identified" else None
        latency = time.monotonic() - work.steady_wall if work.steady_wall is not None else None
        if work.votes.count:
            work.decided_vector = work.votes.mean_vectors()[0]
        event = decision_event(decision, t, track.track_id, self.rules.metadata, work.last_crop, latency, ocr)
        logger.info(
            "Track %d: %s %s (%.2f): %s", track.track_id, event.event, event.card_id, event.confidence, decision.reason
        )
        return event

    def _error(self, t: float, message: str) -> ScanEvent:
        logger.error("%s", message)
        return ScanEvent(t=t, track=0, event="error", message=message)

    def _check_worker(self, t: float) -> list[ScanEvent]:
        if self._failed:
            return []
        if self.worker.failure is not None or not self.worker.alive:
            self._failed = True
            return [self._error(t, self.worker.failure or "identification worker stopped")]
        return []

    @property
    def failed(self) -> bool:
        return self._failed


def decision_event(
    decision: Decision,
    t: float,
    track: int,
    metadata: Metadata,
    crop: BGRImage | None = None,
    latency_s: float | None = None,
    ocr: str | None = None,
) -> ScanEvent:
    """The scan event of one decision — a live presentation's and a photo's card alike: the card it
    names (an ``uncertain`` one's best guess), with the catalogue's metadata, and its top-5."""
    kind: EventKind = decision.status
    card_id = decision.card_id if kind in ("identified", "uncertain") else None
    if kind == "uncertain" and card_id is None and decision.alternatives:
        card_id = decision.alternatives[0].card_id
    meta = metadata.get(card_id, {}) if card_id else {}
    return ScanEvent(
        t=t,
        track=track,
        event=kind,
        card_id=card_id,
        name=meta.get("name"),
        set_id=meta.get("set_id"),
        number=meta.get("number"),
        confidence=decision.confidence if kind != "unknown" else 0.0,
        alternatives=[event_alternative(a, metadata) for a in decision.alternatives[:5]],
        crop=crop,
        latency_s=latency_s,
        ocr=ocr,
        reason=decision.reason if kind == "uncertain" else None,
    )


def event_alternative(candidate: Candidate, metadata: Metadata) -> dict[str, Any]:
    """One of an event's alternatives, named from the catalogue (a printing not installed too)."""
    meta = metadata.get(candidate.card_id, {})
    return {
        "card_id": candidate.card_id,
        "name": meta.get("name"),
        "set_id": meta.get("set_id"),
        "number": meta.get("number"),
        "similarity": round(candidate.similarity, 4),
        "confidence": round(candidate.confidence, 4),
    }
