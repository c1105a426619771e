from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.camera import (
    CameraDisconnected,
    CameraError,
    Frame,
    ImageFolderSource,
    OpenCVDeviceSource,
    Picamera2Source,
    VideoFileSource,
    backoff_delays,
    choose_best_source,
    source_from_spec,
)
from app.camera.base import FrameSource
from tests.camera.silent_server import refused_port, silent_server
from tests.fakes import fake_picamera2


def write_video(path: Path, n: int = 10, fps: float = 10.0, size: tuple[int, int] = (64, 48)) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, size)
    assert writer.isOpened()
    for i in range(n):
        writer.write(np.full((size[1], size[0], 3), i * 20 % 256, np.uint8))
    writer.release()
    return path


@pytest.fixture
def picamera2_module(monkeypatch: pytest.MonkeyPatch):
    fake_picamera2.FAIL_AFTER_FRAMES = None
    fake_picamera2.INSTANCES.clear()
    fake_picamera2.CAMERAS[:] = [{"Model": "imx708", "Num": 0}]
    monkeypatch.setitem(sys.modules, "picamera2", fake_picamera2)
    return fake_picamera2


def test_video_file_frames_carry_the_files_own_timestamps(tmp_path: Path) -> None:
    path = write_video(tmp_path / "clip.avi", n=10, fps=10.0)
    with VideoFileSource(path) as source:
        frames = list(source)
    assert len(frames) == 10
    assert [round(f.timestamp, 3) for f in frames] == [round(i / 10.0, 3) for i in range(10)]
    assert frames[0].image.shape == (48, 64, 3) and frames[0].image.dtype == np.uint8


def test_missing_or_corrupt_video_raises_camera_error(tmp_path: Path) -> None:
    with pytest.raises(CameraError, match="not found"):
        VideoFileSource(tmp_path / "nope.mp4").open()
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"this is not a video")
    with pytest.raises(CameraError):
        VideoFileSource(bad).open()


def test_image_folder_replays_in_name_order_and_skips_unreadable_files(tmp_path: Path) -> None:
    for i in (2, 0, 1):
        cv2.imwrite(str(tmp_path / f"img{i}.png"), np.full((20, 30, 3), i * 50, np.uint8))
    (tmp_path / "img1b.jpg").write_bytes(b"\xff\xd8 truncated")
    source = ImageFolderSource(tmp_path)
    with source:
        frames = list(source)
    assert [int(f.image[0, 0, 0]) for f in frames] == [0, 50, 100]
    assert [f.timestamp for f in frames] == pytest.approx([0.0, 1 / 30, 2 / 30])
    assert [p.name for p, _ in source.skipped] == ["img1b.jpg"]


def test_image_folder_with_fps_stamps_frames_at_that_rate(tmp_path: Path) -> None:
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.zeros((10, 10, 3), np.uint8))
    with ImageFolderSource(tmp_path, fps=100.0) as source:
        assert [f.timestamp for f in source] == pytest.approx([0.0, 0.01, 0.02])


def test_empty_image_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CameraError, match="No images"):
        ImageFolderSource(tmp_path).open()


def test_close_is_idempotent_and_read_after_close_raises(tmp_path: Path) -> None:
    source = VideoFileSource(write_video(tmp_path / "v.avi"))
    source.open()
    source.close()
    source.close()
    with pytest.raises(CameraError, match="not open"):
        source.read()


def test_opencv_device_that_does_not_exist_raises_camera_error() -> None:
    with pytest.raises(CameraError, match="Cannot open camera"):
        OpenCVDeviceSource(97).open()


class DyingSource(FrameSource):
    """Delivers ``good`` frames, then reports a disconnect ``failures`` times, then works again."""

    description = "dying test camera"

    def __init__(self, good: int, failures: int) -> None:
        super().__init__()
        self.good, self.failures = good, failures
        self.opens = 0
        self.delivered = 0

    def _open(self) -> None:
        self.opens += 1

    def _read(self) -> Frame | None:
        if self.delivered == self.good and self.failures > 0:
            self.failures -= 1
            raise CameraDisconnected("unplugged")
        if self.delivered >= self.good + 3:
            return None
        self.delivered += 1
        return Frame(np.zeros((4, 4, 3), np.uint8), float(self.delivered), self.delivered)

    def _close(self) -> None:
        pass


def test_camera_that_dies_mid_stream_raises_the_typed_error() -> None:
    source = DyingSource(good=2, failures=1)
    with source:
        source.read()
        source.read()
        with pytest.raises(CameraDisconnected):
            source.read()


def test_backoff_doubles_up_to_its_maximum() -> None:
    delays = backoff_delays(0.5, 3.0)
    assert [next(delays) for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_picamera2_source_configures_main_and_lores_and_reads_bgr_frames(picamera2_module) -> None:
    with Picamera2Source(size=(640, 480), lores_size=(320, 240), controls={"AfMode": 2}) as source:
        frame = source.read()
        camera = picamera2_module.INSTANCES[0]
        assert camera.camera_config["main"] == {"format": "RGB888", "size": (640, 480)}
        assert camera.camera_config["lores"]["size"] == (320, 240)
        assert camera.controls == {"AfMode": 2}
        assert camera.started
    assert frame is not None and frame.image.shape == (480, 640, 3)
    assert frame.image[0, 0, 0] == 200  # blue first: usable by OpenCV as is
    assert camera.closed and not camera.started


def test_picamera2_that_stops_delivering_raises_camera_disconnected(picamera2_module) -> None:
    picamera2_module.FAIL_AFTER_FRAMES = 2
    with Picamera2Source() as source:
        source.read()
        source.read()
        with pytest.raises(CameraDisconnected, match="Raspberry Pi camera"):
            source.read()


def test_picamera2_missing_module_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "picamera2", None)
    with pytest.raises(CameraError, match="python3-picamera2"):
        Picamera2Source().open()


def test_auto_selection_prefers_picamera2_when_a_pi_camera_is_attached(picamera2_module) -> None:
    choice = choose_best_source()
    assert isinstance(choice.source, Picamera2Source)
    assert "imx708" in choice.reason


def test_auto_selection_falls_back_to_the_demo_clip_without_cameras(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "picamera2", None)
    monkeypatch.setattr("app.camera.select.probe_opencv_device", lambda index: False)
    choice = choose_best_source()
    assert choice.is_demo and isinstance(choice.source, VideoFileSource)
    assert "no camera found" in choice.reason
    with choice.source as source:
        frame = source.read()
    assert frame is not None


def test_source_spec_parsing(tmp_path: Path) -> None:
    assert isinstance(source_from_spec("0"), OpenCVDeviceSource)
    assert isinstance(source_from_spec("rtsp://cam/stream"), OpenCVDeviceSource)
    assert isinstance(source_from_spec("picamera2:1"), Picamera2Source)
    assert isinstance(source_from_spec(str(tmp_path)), ImageFolderSource)
    assert isinstance(source_from_spec(str(write_video(tmp_path / "v.avi"))), VideoFileSource)
    with pytest.raises(CameraError, match="Unknown source"):
        source_from_spec(str(tmp_path / "missing.mp4"))


def test_picamera2_lores_stream_becomes_the_finders_analysis_picture(picamera2_module) -> None:
    with Picamera2Source(size=(1280, 720), lores_size=(384, 216)) as source:
        frame = source.read()
        camera = picamera2_module.INSTANCES[0]
        assert camera.camera_config["lores"] == {"format": "YUV420", "size": (384, 216)}
    assert frame is not None and frame.image.shape == (720, 1280, 3)
    assert frame.analysis is not None and frame.analysis.shape == (216, 384, 3)


def test_camera_module_3_gets_continuous_autofocus_and_a_trigger(picamera2_module) -> None:
    with Picamera2Source() as source:
        camera = picamera2_module.INSTANCES[0]
        assert camera.controls["AfMode"] == 2
        assert source.trigger_autofocus()
        assert {"AfMode": 1, "AfTrigger": 0} in camera.control_history


def test_fixed_focus_camera_is_not_sent_autofocus_controls(picamera2_module) -> None:
    picamera2_module.CAMERAS[:] = [{"Model": "imx219", "Num": 0}]
    with Picamera2Source() as source:
        camera = picamera2_module.INSTANCES[0]
        assert "AfMode" not in camera.controls
        assert source.trigger_autofocus() is False


def test_glare_steps_exposure_down_and_back_within_the_sensor_range(picamera2_module) -> None:
    from app.camera.exposure import GlareExposure

    controller = GlareExposure(settle_frames=1, step=0.5, minimum=-1.0)
    with Picamera2Source() as source:
        camera = picamera2_module.INSTANCES[0]
        for _ in range(5):
            controller.apply(source, glare=0.3)
        assert camera.controls["ExposureValue"] == -1.0
        for _ in range(5):
            controller.apply(source, glare=0.0)
        assert camera.controls["ExposureValue"] == 0.0
        controller.apply(source, glare=None)  # no card in view: leave it
        assert source.set_exposure_compensation(-20.0) == -8.0  # clamped to what the sensor allows


def test_a_stream_that_accepts_and_never_answers_fails_within_its_timeout() -> None:
    with silent_server() as port:
        source = OpenCVDeviceSource(f"rtsp://127.0.0.1:{port}/x", timeout_s=1.0)
        started = time.monotonic()
        with pytest.raises(CameraError, match="no answer within 1 s"):
            source.open()
    assert time.monotonic() - started < 3.0


def test_a_refused_stream_names_the_url() -> None:
    url = f"rtsp://127.0.0.1:{refused_port()}/x"
    with pytest.raises(CameraError, match=f"Cannot open stream {url}"):
        OpenCVDeviceSource(url).open()


def test_an_empty_video_file_is_reported_as_empty(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(CameraError, match="is empty"):
        VideoFileSource(empty).open()


def test_a_pi_camera_read_waiting_for_the_gui_wakes_when_interrupted(picamera2_module) -> None:
    # The notifier never fires (the GUI thread is busy stopping the scanner): only interrupt wakes it.
    source = Picamera2Source(frame_timeout_s=30.0, watch_fd=lambda fd, on_ready: lambda: None)
    source.open()
    errors: list[Exception] = []

    def read() -> None:
        try:
            source.read()
        except CameraError as error:
            errors.append(error)

    reader = threading.Thread(target=read)
    reader.start()
    time.sleep(0.1)
    started = time.monotonic()
    source.interrupt()
    reader.join(timeout=5.0)
    assert not reader.is_alive() and time.monotonic() - started < 1.0
    assert errors and isinstance(errors[0], CameraDisconnected)
    source.close()
    assert picamera2_module.INSTANCES[0].closed
