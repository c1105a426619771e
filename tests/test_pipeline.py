"""The live scanner on simulated clips (issue bar): one event per presentation, the right card,
unknown stays unknown, look-alikes never committed wrong, nothing for an empty scene."""

from __future__ import annotations

import csv
import math
import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from app.camera.base import BGRImage, Frame
from app.config import load_settings
from app.engine import Engine, load_engine
from app.imageio import read_image_bgr
from app.match.bundle import ReferenceBundle
from app.match.matcher import Matcher
from app.match.voting import VotingConfig
from app.ocr.fusion import NumberViews
from app.ocr.reader import NumberReader
from app.pipeline import ScanEvent, ScanPipeline
from models.sim.capture_sim import CaptureSimulator, ClipFrame, SimOptions, load_card_texture, render_clip
from models.sim.lookalike import bundle_with_card, renumber_card
from tests.toploaded import card_in_a_toploader

DECISIONS = {"identified", "uncertain", "unknown", "card_back"}


@pytest.fixture(scope="module")
def engine() -> Engine:
    settings = load_settings()
    engine = load_engine(settings)
    assert engine.reader is not None, engine.ocr_status
    return engine


def run(pipeline: ScanPipeline, frames: Sequence[ClipFrame]) -> list[ScanEvent]:
    events: list[ScanEvent] = []
    try:
        for i, clip_frame in enumerate(frames):
            events += pipeline.process(Frame(clip_frame.image, clip_frame.timestamp, i)).events
        events += pipeline.finish(frames[-1].timestamp)
    finally:
        pipeline.close()
    return events


def texture(catalog_dir: Path, card_id: str) -> BGRImage:
    set_id = card_id.split("-")[0]
    return load_card_texture(catalog_dir / "images" / set_id / f"{card_id}.jpg")


def decisions(events: list[ScanEvent]) -> list[ScanEvent]:
    return [e for e in events if e.event in DECISIONS]


def held_clip(sim: CaptureSimulator, seed: int, placements: list[tuple[int, np.ndarray]], seconds: float, fps: float):  # type: ignore[no-untyped-def]
    """Cards held still (hand tremor only) for ``seconds``."""
    rng = np.random.default_rng(seed)
    background = sim.background(rng)
    frames = []
    for k in range(int(seconds * fps)):
        t = k / fps
        shake = np.array([math.sin(7.1 * t), math.cos(5.3 * t)]) * 1.0
        scene = sim.render_scene(rng, [(i, q + shake) for i, q in placements], background=background, effects_seed=seed)
        frames.append(ClipFrame(scene.image, t, [q for _, q in placements], [i for i, _ in placements]))
    return frames


def test_the_live_pipeline_follows_cards_at_the_configured_network_cadence(engine: Engine) -> None:
    settings = load_settings()
    settings.finder.network_every = 6
    pipeline = engine.pipeline(settings, realtime=False)
    try:
        assert pipeline.finder.follow is not None and pipeline.finder.follow.network_every == 6
        # Its own stream memory; the engine's finder (single pictures) never follows.
        assert pipeline.finder is not engine.finder and engine.finder.follow is None
        assert pipeline.finder.detector is engine.finder.detector
    finally:
        pipeline.close()


def test_each_presentation_gives_one_event_with_the_right_card(engine: Engine, catalog_dir: Path) -> None:
    ids = ["sv3pt5-6", "sv5-97", "xy12-14"]
    sim = CaptureSimulator([texture(catalog_dir, c) for c in ids], SimOptions(dim_prob=0.0, defocus_prob=0.0))
    frames = render_clip(sim, np.random.default_rng(11), [0, 1, 2, 0], fps=15)
    events = run(engine.pipeline(load_settings(), realtime=False), frames)
    decided = decisions(events)
    assert [(e.event, e.card_id) for e in decided] == [("identified", c) for c in [*ids, ids[0]]]
    assert len({e.track for e in decided}) == 4  # re-presenting the first card is a new presentation
    lost = [e for e in events if e.event == "lost"]
    assert [e.track for e in lost] == [e.track for e in decided]
    assert all(e.crop is not None and e.crop.shape == (614, 440, 3) for e in decided)


def test_card_held_for_thirty_seconds_is_named_once(engine: Engine, catalog_dir: Path) -> None:
    sim = CaptureSimulator([texture(catalog_dir, "sv5-123")])
    quad = sim.pose(np.random.default_rng(2), 420.0)
    events = run(engine.pipeline(load_settings(), realtime=False), held_clip(sim, 2, [(0, quad)], 30.0, fps=10))
    assert [(e.event, e.card_id) for e in events] == [("identified", "sv5-123"), ("lost", "sv5-123")]


def test_two_cards_at_once_are_both_named(engine: Engine, catalog_dir: Path) -> None:
    ids = ["sv3pt5-25", "xy12-1"]
    sim = CaptureSimulator([texture(catalog_dir, c) for c in ids])
    left = np.array([[180, 160], [480, 160], [480, 580], [180, 580]], np.float64)
    right = left + np.array([620, 0])
    events = run(engine.pipeline(load_settings(), realtime=False), held_clip(sim, 5, [(0, left), (1, right)], 3.0, 15))
    assert sorted((e.event, e.card_id) for e in decisions(events)) == [("identified", c) for c in sorted(ids)]


def test_empty_scene_gives_no_event(engine: Engine) -> None:
    sim = CaptureSimulator([np.zeros((614, 440, 3), np.uint8)])
    frames = held_clip(sim, 9, [], 3.0, 15)
    assert run(engine.pipeline(load_settings(), realtime=False), frames) == []


def ebay_fronts(ebay_dir: Path, engine: Engine, count: int) -> list[BGRImage]:
    """Straightened real photos of cards outside the catalogue (the held-out half of the eBay fronts)."""
    import zlib

    with open(ebay_dir / "labels.csv", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["side"] == "front"]
    crops: list[BGRImage] = []
    for row in sorted(rows, key=lambda r: r["file"]):
        if zlib.crc32(row["source_photo"].encode()) % 2 == 0:
            continue
        engine.finder.reset()
        found = engine.finder.find_cards(read_image_bgr(ebay_dir / "images" / row["file"]))
        if len(found) == 1 and found[0].sharpness > 60:
            crops.append(found[0].warped.image)
        if len(crops) == count:
            break
    return crops


def test_card_not_in_the_catalogue_stays_unknown(engine: Engine, ebay_dir: Path) -> None:
    fronts = ebay_fronts(ebay_dir, engine, 3)
    sim = CaptureSimulator(fronts, SimOptions(dim_prob=0.0, defocus_prob=0.0))
    frames = render_clip(sim, np.random.default_rng(4), [0, 1, 2], fps=15)
    decided = decisions(run(engine.pipeline(load_settings(), realtime=False), frames))
    assert [e.event for e in decided] == ["unknown"] * 3
    assert all(e.card_id is None for e in decided)


def lookalike_scene(engine: Engine, catalog_dir: Path) -> tuple[ReferenceBundle, CaptureSimulator]:
    """The catalogue plus ``lk1-58``, a Pikachu ``sv3pt5-25`` re-numbered ``058/102`` (the same picture),
    and a simulator of the two held in focus and in light: only the number tells them apart."""
    original = texture(catalog_dir, "sv3pt5-25")
    assert engine.reader is not None
    lookalike = renumber_card(original, "058/102", engine.reader)
    meta = {**engine.bundle.metadata["sv3pt5-25"], "set_id": "lk1", "number": "58", "printed_total": 102}
    meta["ptcgo_code"] = None
    bundle = bundle_with_card(engine.bundle, "lk1-58", lookalike, meta, engine.embedder)
    return bundle, CaptureSimulator([original, lookalike], SimOptions(dim_prob=0.0, defocus_prob=0.0))


def test_lookalike_printings_are_split_by_the_number_never_committed_wrong(engine: Engine, catalog_dir: Path) -> None:
    bundle, sim = lookalike_scene(engine, catalog_dir)
    matcher = Matcher(bundle, engine.matcher.thresholds)
    truth = ["sv3pt5-25", "lk1-58"]
    right = 0
    for seed in (1, 3, 4):
        frames = render_clip(sim, np.random.default_rng(seed), [0, 1], fps=30)
        pipeline = ScanPipeline(engine.finder, engine.embedder, bundle, matcher, engine.reader, realtime=False)
        decided = decisions(run(pipeline, frames))
        assert len(decided) == 2
        for event, card_id in zip(decided, truth, strict=True):
            assert event.event in ("identified", "uncertain")
            if event.event == "identified":
                assert event.card_id == card_id, "confident wrong answer on a look-alike"
                assert event.ocr is not None  # committed on the number, not on the picture
                right += 1
            else:
                assert {a["card_id"] for a in event.alternatives[:2]} == set(truth)
    assert right >= 4


def test_the_number_is_read_from_the_cards_latest_still_frames_together(engine: Engine, catalog_dir: Path) -> None:
    bundle, sim = lookalike_scene(engine, catalog_dir)
    frames = render_clip(sim, np.random.default_rng(1), [0, 1], fps=30)
    pipeline = ScanPipeline(
        engine.finder,
        engine.embedder,
        bundle,
        Matcher(bundle, engine.matcher.thresholds),
        engine.reader,
        voting=VotingConfig(number_frames=2),
        realtime=False,
    )
    submitted: list[object] = []
    submit = pipeline.worker.submit_strip

    def record(track_id: int, strip: object, timestamp: float, corners: tuple[str, ...], set_code: bool) -> None:
        submitted.append(strip)
        assert not set_code  # 025/165 and 058/102: the number alone tells them apart
        submit(track_id, strip, timestamp, corners, set_code)  # type: ignore[arg-type]

    pipeline.worker.submit_strip = record  # type: ignore[method-assign]
    assert len(decisions(run(pipeline, frames))) == 2
    assert submitted and all(isinstance(s, NumberViews) for s in submitted)
    views = [s.views for s in submitted if isinstance(s, NumberViews)]
    # The first read comes as soon as the picture is ambiguous, a frame or two into the hold: as many
    # still frames as configured (2 here), never more.
    assert {len(v) for v in views} == {2}
    for frames_read in views:
        assert len({id(image) for image, _corners in frames_read}) == len(frames_read)  # distinct frames


class HeldReader:
    """The real number reader, each read held until the test lets it go (a slow read on a busy machine)."""

    def __init__(self, reader: NumberReader) -> None:
        self.reader = reader
        self.started = threading.Event()
        self.release = threading.Event()

    def read_strip(self, strip: BGRImage, min_score: float = 0.6, corners: tuple[str, ...] = (), set_code: bool = True):  # type: ignore[no-untyped-def]
        self.started.set()
        assert self.release.wait(30.0), "the test never let the read go"
        return self.reader.read_strip(strip, min_score, corners, set_code)


def test_a_lookalikes_crops_are_not_embedded_while_its_number_is_read(engine: Engine, catalog_dir: Path) -> None:
    """More votes cannot split two printings of one picture; the read gets the cores instead."""
    bundle, sim = lookalike_scene(engine, catalog_dir)
    frames = render_clip(sim, np.random.default_rng(1), [0], fps=30)
    reader = HeldReader(engine.reader)
    pipeline = ScanPipeline(
        engine.finder,
        engine.embedder,
        bundle,
        Matcher(bundle, engine.matcher.thresholds),
        reader,  # type: ignore[arg-type]
        realtime=True,
    )
    crops_while_read: list[int] = []
    submit = pipeline.worker.submit_crop

    def record(track_id: int, crop: BGRImage, timestamp: float) -> None:
        if reader.started.is_set():
            crops_while_read.append(track_id)
        submit(track_id, crop, timestamp)

    pipeline.worker.submit_crop = record  # type: ignore[method-assign]
    events: list[ScanEvent] = []
    held_frames = 0
    try:
        for i, clip_frame in enumerate(frames):
            events += pipeline.process(Frame(clip_frame.image, clip_frame.timestamp, i)).events
            if reader.started.is_set():
                held_frames += 1
                if held_frames == 10:
                    break
            else:
                pipeline.worker.wait_idle(10.0)  # let each vote land before the next frame
        assert held_frames == 10, "no number read was asked for"
        assert crops_while_read == []
        reader.release.set()
        assert pipeline.worker.wait_idle(30.0)
        events += pipeline.finish(frames[-1].timestamp)
    finally:
        reader.release.set()
        pipeline.close()
    decided = decisions(events)
    assert [(e.event, e.card_id) for e in decided] in ([("identified", "sv3pt5-25")], [("uncertain", "sv3pt5-25")])


class BrokenEmbedder:
    """Wraps the real embedder and fails on the first call, like a backend whose device vanished."""

    def __init__(self, real) -> None:  # type: ignore[no-untyped-def]
        self.real = real
        self.dim = real.dim

    def embed(self, cards):  # type: ignore[no-untyped-def]
        raise RuntimeError("device vanished")


def test_a_dead_worker_is_an_error_event_not_silence(engine: Engine, catalog_dir: Path) -> None:
    sim = CaptureSimulator([texture(catalog_dir, "sv5-10")])
    quad = sim.pose(np.random.default_rng(3), 420.0)
    pipeline = ScanPipeline(
        engine.finder, BrokenEmbedder(engine.embedder), engine.bundle, engine.matcher, realtime=False
    )  # type: ignore[arg-type]
    events = run(pipeline, held_clip(sim, 3, [(0, quad)], 1.0, 15))
    errors = [e for e in events if e.event == "error"]
    assert len(errors) == 1 and "device vanished" in (errors[0].message or "")
    assert pipeline.failed


class HeldBackEmbedder:
    """The real embedder, each call held until ``release`` is set (or ``hold_s`` passes): a slow or
    stuck model."""

    def __init__(self, embedder, hold_s: float) -> None:  # type: ignore[no-untyped-def]
        self.embedder = embedder
        self.dim = embedder.dim
        self.hold_s = hold_s
        self.release = threading.Event()

    def embed(self, cards):  # type: ignore[no-untyped-def]
        self.release.wait(self.hold_s)
        return self.embedder.embed(cards)


def still_card_clip(catalog_dir: Path) -> list[ClipFrame]:
    """One second of sv5-10 held still (15 fps)."""
    sim = CaptureSimulator([texture(catalog_dir, "sv5-10")])
    quad = sim.pose(np.random.default_rng(3), 420.0)
    return held_clip(sim, 3, [(0, quad)], 1.0, 15)


def test_live_mode_never_blocks_the_capture_loop_on_a_slow_worker(engine: Engine, catalog_dir: Path) -> None:
    slow = HeldBackEmbedder(engine.embedder, hold_s=10.0)
    release = slow.release
    frames = still_card_clip(catalog_dir)
    pipeline = ScanPipeline(engine.finder, slow, engine.bundle, engine.matcher, realtime=True)  # type: ignore[arg-type]
    try:
        results = [pipeline.process(Frame(f.image, f.timestamp, i)) for i, f in enumerate(frames)]
        assert all(r.process_s < 2.0 for r in results)
        # Stale crops were replaced, not queued: at most one per track is waiting.
        assert pipeline.worker.dropped_crops >= len(frames) - 5
    finally:
        release.set()
        pipeline.close()


def test_votes_short_of_the_accept_threshold_commit_when_the_card_lines_up_with_its_reference(
    engine: Engine, catalog_dir: Path
) -> None:
    """The layout check (app/match/layout.py) on the live path: with an accept threshold no picture
    reaches, a clean card is still named — and only because its frame lines up with the reference."""
    sim = CaptureSimulator([texture(catalog_dir, "sv5-123")])
    quad = sim.pose(np.random.default_rng(2), 420.0)
    frames = held_clip(sim, 2, [(0, quad)], 3.0, fps=10)
    outcomes = {}
    for layout_at in (engine.matcher.thresholds.layout_at, 2.0):
        thresholds = replace(engine.matcher.thresholds, accept_at=0.99, layout_at=layout_at)
        matcher = Matcher(engine.bundle, thresholds)
        pipeline = ScanPipeline(engine.finder, engine.embedder, engine.bundle, matcher, None, realtime=False)
        outcomes[layout_at] = [(e.event, e.card_id) for e in decisions(run(pipeline, frames))]
    assert outcomes[engine.matcher.thresholds.layout_at] == [("identified", "sv5-123")]
    assert outcomes[2.0] == [("uncertain", "sv5-123")]


def test_a_card_whose_toploader_the_finder_outlines_is_named_from_the_card_inside(
    engine: Engine, catalog_dir: Path
) -> None:
    """The finder sees only the plastic's outline here (the margin is part of the picture): the votes
    must come from the card inside it (``IdentifyWorker`` reads a crop that names nothing again)."""
    toploaded = card_in_a_toploader(texture(catalog_dir, "sv3pt5-1"))
    sim = CaptureSimulator([toploaded], SimOptions(dim_prob=0.0, defocus_prob=0.0))
    quad = sim.pose(np.random.default_rng(2), 420.0, roll=0.1)
    frames = held_clip(sim, 5, [(0, quad)], seconds=2.0, fps=15)
    decided = decisions(run(engine.pipeline(load_settings(), realtime=False), frames))
    assert [(e.event, e.card_id) for e in decided] == [("identified", "sv3pt5-1")]


def test_the_number_frames_setting_reaches_the_pipeline(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARDSIGHT_LIVE__NUMBER_FRAMES", "3")
    pipeline = engine.pipeline(load_settings(), realtime=False)
    try:
        assert pipeline.voting.number_frames == 3
    finally:
        pipeline.close()


class BlurredFirstEmbedder:
    """The real embedder, but its first ``blurred_calls`` answers are pulled halfway towards one fixed
    random direction: a camera still hunting for focus, then sharp."""

    def __init__(self, embedder, blurred_calls: int) -> None:  # type: ignore[no-untyped-def]
        self.embedder = embedder
        self.dim = embedder.dim
        self.blurred_calls = blurred_calls
        self.calls = 0
        self.noise = np.random.default_rng(0).standard_normal(embedder.dim).astype(np.float32)
        self.noise /= np.linalg.norm(self.noise)

    def embed(self, cards):  # type: ignore[no-untyped-def]
        vectors = self.embedder.embed(cards)
        self.calls += 1
        if self.calls <= self.blurred_calls:
            vectors = vectors + 2.5 * self.noise[None, :]
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors


def test_an_unsure_presentation_that_stays_is_identified_once_its_frames_are_clear(
    engine: Engine, catalog_dir: Path
) -> None:
    sim = CaptureSimulator([texture(catalog_dir, "sv5-123")])
    quad = sim.pose(np.random.default_rng(2), 420.0)
    embedder = BlurredFirstEmbedder(engine.embedder, blurred_calls=30)
    pipeline = ScanPipeline(engine.finder, embedder, engine.bundle, engine.matcher, realtime=False)  # type: ignore[arg-type]
    events = run(pipeline, held_clip(sim, 2, [(0, quad)], 5.0, fps=15))
    decided = decisions(events)
    assert [e.event for e in decided][-1] == "identified" and decided[-1].card_id == "sv5-123"
    assert decided[0].event in ("uncertain", "unknown") and len(decided) == 2
    assert len({e.track for e in events}) == 1  # one presentation: the same track says so


def test_an_events_confidence_is_its_cards_own_among_the_alternatives(engine: Engine, catalog_dir: Path) -> None:
    """One meaning of confidence: an ``uncertain`` card (no picture reaches this accept threshold, the
    layout check off) shows the same figure as its own entry among the alternatives."""
    sim = CaptureSimulator([texture(catalog_dir, "sv5-123")])
    quad = sim.pose(np.random.default_rng(2), 420.0)
    thresholds = replace(engine.matcher.thresholds, accept_at=0.99, layout_at=2.0)
    matcher = Matcher(engine.bundle, thresholds)
    pipeline = ScanPipeline(engine.finder, engine.embedder, engine.bundle, matcher, None, realtime=False)
    (event,) = decisions(run(pipeline, held_clip(sim, 2, [(0, quad)], 3.0, fps=10)))
    line = event.as_json()
    assert (line["event"], line["card_id"]) == ("uncertain", "sv5-123")
    own = next(a for a in line["alternatives"] if a["card_id"] == line["card_id"])
    assert line["confidence"] == own["confidence"]


def test_a_worker_that_stops_answering_a_recorded_source_is_one_error_and_the_scan_ends(
    engine: Engine, catalog_dir: Path
) -> None:
    stuck = HeldBackEmbedder(engine.embedder, hold_s=30.0)
    release = stuck.release
    frames = still_card_clip(catalog_dir)
    pipeline = ScanPipeline(engine.finder, stuck, engine.bundle, engine.matcher, realtime=False, worker_timeout_s=0.3)  # type: ignore[arg-type]
    try:
        events = [e for f in frames[:8] for e in pipeline.process(Frame(f.image, f.timestamp, 0)).events]
        assert [e.event for e in events if e.event == "error"] == ["error"] and pipeline.failed
    finally:
        release.set()
        pipeline.close()
