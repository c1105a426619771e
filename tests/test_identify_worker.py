"""The identification workers: embedding and number reading on their own threads, failures loud."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from app.camera.base import BGRImage
from app.identify_worker import EmbedResult, IdentifyWorker, OcrResult, WorkerFailure
from app.match.matcher import Matcher
from app.ocr.fusion import NumberViews, fuse_strips
from app.ocr.reader import STRIP_CARD_WIDTH, StripReading, corner_columns, warp_number_strip
from app.vision.warp import TOPLOADER_INSET
from tests.match.test_matcher import synthetic_bundle, unit


class ConstantEmbedder:
    """Every card embeds to the same vector (the worker's threading is under test, not the model)."""

    dim = 3

    def embed(self, cards: Sequence[BGRImage]) -> np.ndarray:
        return np.stack([unit(1, 0, 0) for _ in cards])


class BlockingReader:
    """A number reader that holds each read until the test releases it (a slow OCR read)."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()

    def read_strip(
        self, strip: BGRImage, min_score: float = 0.6, corners: tuple[str, ...] = (), set_code: bool = True
    ) -> StripReading:
        self.started.set()
        assert self.release.wait(10.0), "test never released the read"
        return StripReading(None, None, ())


class FailingReader:
    def read_strip(
        self, strip: BGRImage, min_score: float = 0.6, corners: tuple[str, ...] = (), set_code: bool = True
    ) -> StripReading:
        raise RuntimeError("ocr model unreadable")


def matcher() -> Matcher:
    return Matcher(synthetic_bundle(["a", "b"], np.stack([unit(1, 0, 0), unit(0, 1, 0)])))


def wait_for(worker: IdentifyWorker, kind: type, timeout_s: float = 10.0) -> list[object]:
    """Results taken until one of ``kind`` arrived."""
    taken: list[object] = []
    while not any(isinstance(r, kind) for r in taken):
        assert worker.wait_for_results(timeout_s), f"no {kind.__name__} within {timeout_s} s"
        taken += worker.take_results()
    return taken


def test_a_slow_number_read_does_not_hold_up_the_embeddings() -> None:
    reader = BlockingReader()
    worker = IdentifyWorker(ConstantEmbedder(), matcher(), reader)  # type: ignore[arg-type]
    card = np.zeros((614, 440, 3), np.uint8)
    try:
        worker.submit_strip(1, np.zeros((40, 1320, 3), np.uint8), 0.0)
        assert reader.started.wait(10.0)
        worker.submit_crop(1, card, 0.1)
        results = wait_for(worker, EmbedResult)  # while the read is still blocked
        assert not any(isinstance(r, OcrResult) for r in results)
        assert not worker.wait_idle(0.05)  # the read still counts as work in progress
        reader.release.set()
        assert worker.wait_idle(10.0)
        assert any(isinstance(r, OcrResult) for r in worker.take_results())
    finally:
        reader.release.set()
        worker.stop()


def test_a_dead_ocr_thread_fails_the_whole_worker_loudly() -> None:
    worker = IdentifyWorker(ConstantEmbedder(), matcher(), FailingReader())  # type: ignore[arg-type]
    try:
        worker.submit_strip(1, np.zeros((40, 1320, 3), np.uint8), 0.0)
        results = wait_for(worker, WorkerFailure)
        failure = next(r for r in results if isinstance(r, WorkerFailure))
        assert "ocr model unreadable" in failure.message
        assert not worker.wait_idle(1.0)
        worker.stop(5.0)
        assert not worker.alive
    finally:
        worker.stop()


def test_a_card_that_left_has_its_queued_number_read_dropped() -> None:
    reader = BlockingReader()
    worker = IdentifyWorker(ConstantEmbedder(), matcher(), reader)  # type: ignore[arg-type]
    strip = np.zeros((40, 1320, 3), np.uint8)
    try:
        worker.submit_strip(1, strip, 0.0)
        assert reader.started.wait(10.0)  # track 1's read is running; track 2's waits in the queue
        worker.submit_strip(2, strip, 0.0)
        worker.forget(2)
        reader.release.set()
        assert worker.wait_idle(10.0)
        reads = [r for r in worker.take_results() if isinstance(r, OcrResult)]
        assert [r.track_id for r in reads] == [1]
    finally:
        reader.release.set()
        worker.stop()


def test_every_track_waiting_for_a_number_read_gets_an_answer_however_many_wait() -> None:
    """A binder page: many cards ask for their number at once. None may be dropped unanswered (a track
    waiting for its read would wait for as long as it stays); a track's newer strip replaces its older."""
    reader = BlockingReader()
    worker = IdentifyWorker(ConstantEmbedder(), matcher(), reader)  # type: ignore[arg-type]
    strip = np.zeros((40, 1320, 3), np.uint8)
    try:
        worker.submit_strip(1, strip, 0.0)
        assert reader.started.wait(10.0)
        for track in range(2, 12):
            worker.submit_strip(track, strip, 0.0)
        worker.submit_strip(5, strip, 1.0)  # a newer strip of a track already waiting
        reader.release.set()
        assert worker.wait_idle(10.0)
        reads = [r for r in worker.take_results() if isinstance(r, OcrResult)]
        assert sorted(r.track_id for r in reads) == list(range(1, 12))
        assert [r.timestamp for r in reads if r.track_id == 5] == [1.0]
    finally:
        reader.release.set()
        worker.stop()


class RecordingReader:
    """Keeps the strips it was given, on the thread that read them."""

    def __init__(self) -> None:
        self.strips: list[BGRImage] = []
        self.threads: list[str] = []

    def read_strip(
        self, strip: BGRImage, min_score: float = 0.6, corners: tuple[str, ...] = (), set_code: bool = True
    ) -> StripReading:
        self.strips.append(strip)
        self.threads.append(threading.current_thread().name)
        return StripReading(None, None, ())


def test_frames_to_read_the_number_from_are_warped_and_fused_on_the_ocr_thread() -> None:
    reader = RecordingReader()
    worker = IdentifyWorker(ConstantEmbedder(), matcher(), reader)  # type: ignore[arg-type]
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (720, 1280, 3), dtype=np.uint8) for _ in range(3)]
    corners = np.array([[400, 100], [860, 110], [850, 700], [410, 690]], np.float64)
    try:
        worker.submit_strip(1, NumberViews(tuple((f, corners) for f in frames), ("left",)), 0.0, ("left",))
        assert worker.wait_idle(10.0)
        assert [type(r) for r in worker.take_results()] == [OcrResult]
        start, end = corner_columns("left", STRIP_CARD_WIDTH)
        expected = fuse_strips([warp_number_strip(f, corners, columns=(start, end)) for f in frames])
        assert len(reader.strips) == 1 and np.array_equal(reader.strips[0][:, start:end], expected)
        assert reader.threads == ["cardsight-ocr"]
    finally:
        worker.stop()


class MarginSensitiveEmbedder:
    """A crop with a grey margin (a top-loader's outline) embeds between the two cards; a crop that is
    all card embeds as card "a". Counts the crops it embedded."""

    dim = 3

    def __init__(self) -> None:
        self.crops = 0

    def embed(self, cards: Sequence[BGRImage]) -> np.ndarray:
        self.crops += len(cards)
        return np.stack([unit(1, 1, 0) if (c < 200).any() else unit(1, 0, 0) for c in cards])


def _embed_one(embedder: MarginSensitiveEmbedder, crop: BGRImage) -> EmbedResult:
    worker = IdentifyWorker(embedder, matcher(), None)  # type: ignore[arg-type]
    try:
        worker.submit_crop(1, crop, 0.0)
        (result,) = [r for r in wait_for(worker, EmbedResult) if isinstance(r, EmbedResult)]
        return result
    finally:
        worker.stop()


def test_a_crop_that_names_nothing_is_read_again_inside_a_toploader() -> None:
    crop = np.full((614, 440, 3), 128, np.uint8)
    x0, y0 = round(TOPLOADER_INSET[0] * 440), round(TOPLOADER_INSET[1] * 614)
    crop[y0 : 614 - y0, x0 : 440 - x0] = 255  # the card, inside the top-loader's margin
    result = _embed_one(MarginSensitiveEmbedder(), crop)
    assert result.inside_toploader
    assert (result.frame_match.status, result.frame_match.card_id) == ("identified", "a")
    assert (result.crop >= 200).all()  # the crop the votes and the GUI get is the card inside


def test_a_crop_that_names_a_card_is_embedded_once() -> None:
    embedder = MarginSensitiveEmbedder()
    result = _embed_one(embedder, np.full((614, 440, 3), 255, np.uint8))
    assert not result.inside_toploader
    assert result.frame_match.card_id == "a"
    assert embedder.crops == 2  # as found and turned: no second look


def test_a_close_match_to_a_lookalike_printing_is_not_read_again() -> None:
    """Two printings of one picture: the outline is right and the number decides, not a smaller crop."""
    printings = synthetic_bundle(["a", "a2"], np.stack([unit(1, 0, 0), unit(1, 0.1, 0)]))
    embedder = MarginSensitiveEmbedder()
    worker = IdentifyWorker(embedder, Matcher(printings), None)  # type: ignore[arg-type]
    try:
        worker.submit_crop(1, np.full((614, 440, 3), 255, np.uint8), 0.0)
        (result,) = [r for r in wait_for(worker, EmbedResult) if isinstance(r, EmbedResult)]
    finally:
        worker.stop()
    assert result.frame_match.status == "uncertain"
    assert not result.inside_toploader
    assert embedder.crops == 2
