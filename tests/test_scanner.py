"""The one scan loop (app/scanner.py) with fake sources and a fake pipeline: no model needed."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from app.camera import CameraDisconnected, CameraError, Frame, FrameSource, OpenCVDeviceSource, VideoFileSource
from app.camera.picamera2_source import Picamera2Source
from app.config import Settings
from app.pipeline import FrameResult, ScanEvent
from app.scanner import ScanListener, ScanLoop, ScanOptions, SourceFailed, choose_source
from tests.camera.silent_server import silent_server


def blank_frame(index: int) -> Frame:
    return Frame(np.zeros((4, 4, 3), np.uint8), index / 30.0, index)


class FakeSource(FrameSource):
    """Scripted: ``open_errors`` are raised by successive opens (None: the open works); after the k-th
    successful open, reads deliver ``frames_per_open[k]`` frames, then raise ``CameraDisconnected`` —
    or, after the last entry, end the source (None). ``block_reads``: once the first entry's frames
    are delivered, a read hangs until ``release`` is set."""

    def __init__(
        self,
        frames_per_open: list[int],
        open_errors: list[CameraError | None] | None = None,
        block_reads: bool = False,
        live: bool = True,
    ) -> None:
        super().__init__()
        self.description = "fake camera"
        self.is_recorded = not live
        self.frames_per_open = frames_per_open
        self.open_errors = list(open_errors or [])
        self.block_reads = block_reads
        self.release = threading.Event()
        self.opens = 0
        self.good_opens = 0
        self.closes = 0
        self.delivered = 0
        self._left = 0
        self._last = False

    def _open(self) -> None:
        self.opens += 1
        error = self.open_errors.pop(0) if self.open_errors else None
        if error is not None:
            raise error
        script = self.frames_per_open
        self._left = script[self.good_opens] if self.good_opens < len(script) else 0
        self.good_opens += 1
        self._last = self.good_opens >= len(script)

    def _read(self) -> Frame | None:
        if self.block_reads and self.delivered >= self.frames_per_open[0]:
            self.release.wait(30.0)
            return None
        if self._left == 0:
            if self._last:
                return None
            raise CameraDisconnected("unplugged")
        self._left -= 1
        self.delivered += 1
        return blank_frame(self.delivered)

    def _close(self) -> None:
        self.closes += 1


class EndlessSource(FrameSource):
    """A live camera that never ends: a frame every ``interval_s``."""

    description = "endless camera"

    def __init__(self, interval_s: float = 0.005) -> None:
        super().__init__()
        self.interval_s = interval_s

    def _open(self) -> None:
        pass

    def _read(self) -> Frame | None:
        time.sleep(self.interval_s)
        return blank_frame(self._frames_read)

    def _close(self) -> None:
        pass


class FakePipeline:
    """Counts its calls; every ``decide_every``-th frame gives one ``identified`` event."""

    def __init__(self, decide_every: int = 0, fail_after: int = 0) -> None:
        self.decide_every = decide_every
        self.fail_after = fail_after
        self.processed = 0
        self.finish_calls: list[float] = []
        self.close_calls = 0

    @property
    def failed(self) -> bool:
        return bool(self.fail_after) and self.processed >= self.fail_after

    def process(self, frame: Frame) -> FrameResult:
        self.processed += 1
        events = []
        if self.decide_every and self.processed % self.decide_every == 0:
            events.append(ScanEvent(t=frame.timestamp, track=self.processed, event="identified", card_id="sv5-97"))
        return FrameResult(frame, [], events, 0.0)

    def finish(self, t: float) -> list[ScanEvent]:
        self.finish_calls.append(t)
        return [ScanEvent(t=t, track=1, event="lost", card_id="sv5-97")]

    def close(self) -> None:
        self.close_calls += 1


class Heard:
    """Records what the loop told its listener."""

    def __init__(self) -> None:
        self.frames = 0
        self.events: list[ScanEvent] = []
        self.lost: list[tuple[str, float]] = []
        self.restored = 0

    def listener(self) -> ScanListener:
        return ScanListener(
            on_frame=lambda result: setattr(self, "frames", self.frames + 1),
            on_event=self.events.append,
            on_lost=lambda message, delay: self.lost.append((message, delay)),
            on_restored=lambda: setattr(self, "restored", self.restored + 1),
        )


def quick(max_seconds: float = 0.0, open_timeout_s: float = 5.0) -> ScanOptions:
    return ScanOptions(max_seconds, open_timeout_s, reconnect_initial_s=0.01, reconnect_max_s=0.04)


@pytest.fixture
def stop_later() -> Iterator[threading.Event]:
    stop = threading.Event()
    yield stop
    stop.set()


# ---------------------------------------------------------------------- sources that never delivered


def test_a_source_that_cannot_open_fails_at_once_and_is_not_retried() -> None:
    source = FakeSource([5], open_errors=[CameraError("Cannot read video file x.mp4 (unsupported or corrupt)")])
    heard = Heard()
    started = time.monotonic()
    with pytest.raises(SourceFailed, match="unsupported or corrupt"):
        ScanLoop(source, options=quick(), listener=heard.listener()).scan(FakePipeline())
    assert time.monotonic() - started < 1.0
    assert source.opens == 1 and heard.lost == []


def test_a_source_without_frames_fails_instead_of_finishing_empty() -> None:
    source = FakeSource([0], live=False)  # opens fine, the first read ends the source
    with pytest.raises(SourceFailed, match="fake camera has no frames"):
        ScanLoop(source, options=quick()).scan(FakePipeline())


def test_a_source_that_stays_silent_fails_after_the_open_timeout() -> None:
    source = FakeSource([0], block_reads=True)
    started = time.monotonic()
    try:
        with pytest.raises(SourceFailed, match=r"gave no frame in 0\.[3-9]"):
            ScanLoop(source, options=quick(open_timeout_s=0.3)).scan(FakePipeline())
        assert time.monotonic() - started < 1.5
    finally:
        source.release.set()


def test_the_time_limit_ends_the_wait_for_a_first_frame_as_a_failure() -> None:
    source = FakeSource([0], block_reads=True)
    started = time.monotonic()
    try:
        with pytest.raises(SourceFailed, match="gave no frame"):
            ScanLoop(source, options=quick(max_seconds=0.3, open_timeout_s=30.0)).scan(FakePipeline())
        assert time.monotonic() - started < 1.5
    finally:
        source.release.set()


def test_a_stream_that_accepts_and_never_answers_fails_within_the_open_timeout() -> None:
    with silent_server() as port:
        source = OpenCVDeviceSource(f"rtsp://127.0.0.1:{port}/x", timeout_s=30.0)
        started = time.monotonic()
        with pytest.raises(SourceFailed, match=f"127.0.0.1:{port}"):
            ScanLoop(source, options=quick(open_timeout_s=1.0)).scan(FakePipeline())
        assert time.monotonic() - started < 2.5


# ---------------------------------------------------------------------- a source that worked, then stopped


def test_a_lost_source_is_reopened_with_growing_backoff_and_delivers_again() -> None:
    # 3 frames, unplugged, three failed reopens, then 4 more frames and the end.
    refused = [None, CameraDisconnected("not found"), CameraDisconnected("not found"), CameraError("busy")]
    source = FakeSource([3, 4], open_errors=refused)
    heard = Heard()
    summary = ScanLoop(source, options=quick(), listener=heard.listener()).scan(FakePipeline())
    assert [delay for _, delay in heard.lost] == [0.01, 0.02, 0.04, 0.04]
    assert heard.lost[0][0] == "unplugged" and heard.lost[1][0] == "not found"
    assert heard.restored == 1
    assert summary.frames == heard.frames == 7 and summary.ended == "finished"


def test_backoff_starts_short_again_after_the_source_recovered() -> None:
    source = FakeSource([2, 2, 2], open_errors=[None, CameraError("busy"), None, None])
    heard = Heard()
    ScanLoop(source, options=quick(), listener=heard.listener()).scan(FakePipeline())
    # Outage 1: unplugged (0.01), reopen refused (0.02). Outage 2: unplugged again, from 0.01.
    assert [delay for _, delay in heard.lost] == [0.01, 0.02, 0.01]
    assert heard.restored == 2


def test_the_time_limit_ends_the_wait_for_a_lost_camera() -> None:
    source = FakeSource([2, 1], open_errors=[None] + [CameraError("gone")] * 1000)
    options = ScanOptions(max_seconds=0.5, reconnect_initial_s=5.0, reconnect_max_s=5.0)
    started = time.monotonic()
    summary = ScanLoop(source, options=options).scan(FakePipeline())
    assert time.monotonic() - started < 1.0
    assert summary.ended == "time limit" and summary.frames == 2


# ---------------------------------------------------------------------- bounds and stopping


def test_the_time_limit_ends_a_source_that_keeps_delivering() -> None:
    started = time.monotonic()
    summary = ScanLoop(EndlessSource(), options=quick(max_seconds=0.4)).scan(FakePipeline())
    assert 0.35 < time.monotonic() - started < 1.0
    assert summary.ended == "time limit" and summary.frames > 5


def test_stop_ends_the_loop_within_a_second_while_a_read_blocks() -> None:
    source = FakeSource([2], block_reads=True)
    stop = threading.Event()
    pipeline = FakePipeline()
    threading.Timer(0.3, stop.set).start()
    started = time.monotonic()
    try:
        summary = ScanLoop(source, stop, quick()).scan(pipeline)
        assert time.monotonic() - started < 0.3 + 1.0
    finally:
        source.release.set()
    assert summary.ended == "stopped" and summary.frames == 2
    assert len(pipeline.finish_calls) == 1 and pipeline.close_calls == 1


def test_stop_ends_the_wait_for_a_lost_camera(stop_later: threading.Event) -> None:
    source = FakeSource([1, 1], open_errors=[None] + [CameraError("gone")] * 1000)
    options = ScanOptions(reconnect_initial_s=30.0, reconnect_max_s=30.0)
    threading.Timer(0.2, stop_later.set).start()
    started = time.monotonic()
    assert ScanLoop(source, stop_later, options).scan(FakePipeline()).ended == "stopped"
    assert time.monotonic() - started < 1.0


# ---------------------------------------------------------------------- the pipeline's side


def test_finish_is_called_once_with_the_last_frame_time_and_everything_closed_once() -> None:
    source = FakeSource([6, 3], open_errors=[None, None])
    pipeline = FakePipeline()
    loop = ScanLoop(source, options=quick())
    loop.scan(pipeline)
    loop.close()
    assert pipeline.finish_calls == [pytest.approx(9 / 30.0)]
    assert pipeline.close_calls == 1
    # One close for the outage, one at the end; the second loop.close() does nothing.
    assert source.closes == 2 and source.opens == 2


def test_the_pipeline_and_source_are_closed_when_the_source_fails() -> None:
    source = FakeSource([1], open_errors=[CameraError("no such file")])
    pipeline = FakePipeline()
    with pytest.raises(SourceFailed):
        ScanLoop(source, options=quick()).scan(pipeline)
    assert pipeline.close_calls == 1 and pipeline.finish_calls == []
    assert not source.is_open


def test_events_reach_the_listener_and_the_summary_counts_the_cards() -> None:
    heard = Heard()
    summary = ScanLoop(FakeSource([10], live=False), options=quick(), listener=heard.listener()).scan(
        FakePipeline(decide_every=4)
    )
    assert [e.event for e in heard.events] == ["identified", "identified", "lost"]
    assert (summary.cards, summary.identified, summary.errors, summary.photos_without_card) == (2, 2, 0, 0)
    assert summary.describe().startswith("finished — 2 cards (2 identified), 10 frames in ")
    assert "without a card" not in summary.describe()  # a video's frames are not photos


def test_a_failed_recogniser_ends_the_loop_and_still_finishes_once() -> None:
    pipeline = FakePipeline(fail_after=3)
    summary = ScanLoop(EndlessSource(), options=quick()).scan(pipeline)
    assert summary.ended == "recogniser failed" and summary.frames == 3
    assert len(pipeline.finish_calls) == 1


def test_watch_hands_every_frame_to_the_finder() -> None:
    class NoCardsFinder:
        def find_cards(self, image: np.ndarray, analysis: np.ndarray | None = None) -> list[object]:
            return []

    finder = NoCardsFinder()
    seen: list[int] = []
    source = FakeSource([5], live=False)
    summary = ScanLoop(source, options=quick()).watch(finder, lambda frame, cards: seen.append(frame.index))  # type: ignore[arg-type]
    assert seen == [1, 2, 3, 4, 5] and summary.frames == 5 and summary.ended == "finished"
    assert not source.is_open


# ---------------------------------------------------------------------- opening


def test_sources_get_the_configured_size_and_pacing_wherever_they_are_chosen(tmp_path: Path) -> None:
    settings = Settings()
    settings.camera.width, settings.camera.height = 640, 480
    device = choose_source("0", settings, paced=False).source
    assert isinstance(device, OpenCVDeviceSource) and (device.width, device.height) == (640, 480)
    pi = choose_source("picamera2", settings, paced=True).source
    assert isinstance(pi, Picamera2Source) and pi.size == (640, 480)
    video = tmp_path / "v.mp4"
    video.write_bytes(b"x")
    paced = choose_source(str(video), settings, paced=True).source
    unpaced = choose_source(str(video), settings, paced=False).source
    assert isinstance(paced, VideoFileSource) and isinstance(unpaced, VideoFileSource)
    assert paced.realtime and not unpaced.realtime
    settings.camera.source = str(video)
    assert choose_source(None, settings, paced=False).reason == f"source {str(video)!r} given"


# ---------------------------------------------------------------------- the GUI's worker runs the same loop


class FakeEngine:
    def __init__(self) -> None:
        self.pipelines: list[FakePipeline] = []

    def pipeline(self, settings: Settings, realtime: bool) -> FakePipeline:
        self.pipelines.append(FakePipeline(decide_every=2))
        return self.pipelines[-1]


def run_worker(source: FrameSource, settings: Settings) -> dict[str, list[object]]:
    from ui.engine_thread import ScanWorker, SourceInfo

    worker = ScanWorker(FakeEngine(), settings, lambda: (source, SourceInfo(source.description, "test")))  # type: ignore[arg-type]
    heard: dict[str, list[object]] = {"failed": [], "lost": [], "restored": [], "done": [], "events": []}
    worker.failed.connect(heard["failed"].append)
    worker.camera_lost.connect(heard["lost"].append)
    worker.camera_restored.connect(lambda: heard["restored"].append(True))
    worker.scan_done.connect(heard["done"].append)
    worker.scan_event.connect(heard["events"].append)
    worker.run()  # on this thread: the connections are direct
    return heard


def test_the_gui_worker_reports_a_source_that_never_delivered_as_failed() -> None:
    settings = Settings()
    heard = run_worker(FakeSource([3], open_errors=[CameraError("Cannot read video file x.mp4")]), settings)
    assert heard["failed"] == ["Cannot open the camera: Cannot read video file x.mp4"]
    assert heard["lost"] == [] and heard["done"] == []


def test_the_gui_worker_reports_a_lost_camera_and_its_return_then_the_summary() -> None:
    settings = Settings()
    settings.camera.reconnect_initial_s = 0.01
    heard = run_worker(FakeSource([2, 2], open_errors=[None, CameraError("busy"), None]), settings)
    assert len(heard["lost"]) == 2 and "unplugged" in str(heard["lost"][0])
    assert heard["restored"] == [True] and heard["failed"] == []
    (summary,) = heard["done"]
    assert summary.frames == 4 and summary.cards == 2  # type: ignore[attr-defined]
    assert [e.event for e in heard["events"]] == ["identified", "identified", "lost"]  # type: ignore[attr-defined]


# ---------------------------------------------------------------------- a folder of photos


def write_photos(folder: Path, catalog_dir: Path, card_ids: list[str]) -> None:
    """One simulated photo per card, in name order."""
    import cv2

    from models.sim.capture_sim import CaptureSimulator, SimOptions, load_card_texture

    textures = [load_card_texture(catalog_dir / "images" / c.split("-")[0] / f"{c}.jpg") for c in card_ids]
    sim = CaptureSimulator(textures, SimOptions(dim_prob=0.0, defocus_prob=0.0))
    rng = np.random.default_rng(5)
    folder.mkdir()
    for i in range(len(card_ids)):
        cv2.imwrite(str(folder / f"photo{i:02d}.jpg"), sim.render(rng, card_index=i).image)


def test_an_image_folder_gives_one_decision_per_photo_like_identify_and_counts_photos_without_a_card(
    tmp_path: Path, catalog_dir: Path
) -> None:
    import cv2

    from app.engine import load_engine
    from app.identify import Identifier
    from app.vision.finder import CardFinder

    settings = Settings()
    settings.ocr.enabled = False
    cards = ["sv5-123", "sv3pt5-6", "sv5-123", "sv3pt5-6"]
    folder = tmp_path / "photos"
    write_photos(folder, catalog_dir, cards)
    cv2.imwrite(str(folder / "photo99.jpg"), np.full((720, 1280, 3), 128, np.uint8))  # an empty table
    engine = load_engine(settings)
    try:
        identifier = Identifier(CardFinder(engine.finder.detector), engine.embedder, engine.bundle, engine.matcher)
        expected = [[c.match.card_id for c in identifier.identify_image(cv2_read(p))] for p in sorted(folder.iterdir())]
        events: list[ScanEvent] = []
        source = choose_source(str(folder), settings, paced=False).source
        loop = ScanLoop(source, listener=ScanListener(on_event=events.append))
        summary = loop.scan(engine.pipeline(settings, realtime=False))
    finally:
        engine.close()
    assert [[c] for c in cards] + [[]] == expected  # what `cardsight identify` names on each photo
    decisions = [e for e in events if e.event in ("identified", "uncertain", "unknown", "card_back")]
    assert [e.card_id for e in decisions] == cards
    assert len({e.track for e in decisions}) == len(cards)  # each photo its own presentation
    assert summary.ended == "finished" and summary.cards == len(cards) and summary.identified == len(cards)
    assert summary.describe().startswith("finished — 4 cards")
    assert summary.photos_without_card == 1 and summary.describe().endswith(", 1 photo without a card")


def cv2_read(path: Path) -> np.ndarray:
    from app.imageio import read_image_bgr

    return read_image_bgr(path)


def test_a_paced_image_folder_shows_each_photo_for_a_while(tmp_path: Path) -> None:
    from app.camera.image_folder import ImageFolderSource
    from app.scanner import PHOTOS_PER_SECOND

    (tmp_path / "a.jpg").write_bytes(b"")
    shown = choose_source(str(tmp_path), Settings(), paced=True).source
    unpaced = choose_source(str(tmp_path), Settings(), paced=False).source
    assert isinstance(shown, ImageFolderSource) and shown.fps == PHOTOS_PER_SECOND
    assert isinstance(unpaced, ImageFolderSource) and unpaced.fps is None
