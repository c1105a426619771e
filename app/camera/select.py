"""Pick a frame source: from what the user named, or the best one available."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from app import PROJECT_ROOT
from app.camera.base import CameraError, FrameSource
from app.camera.image_folder import ImageFolderSource
from app.camera.opencv_device import OpenCVDeviceSource, probe_opencv_device
from app.camera.picamera2_source import Picamera2Source, picamera2_cameras
from app.camera.video_file import VideoFileSource

logger = logging.getLogger(__name__)

DEMO_CLIP = PROJECT_ROOT / "assets" / "demo.mp4"


@dataclass(frozen=True)
class SourceChoice:
    source: FrameSource
    #: Why this source was chosen, for logs and the GUI status bar.
    reason: str
    is_demo: bool = False


def source_from_spec(
    spec: str, realtime: bool = False, fps: float | None = None, size: tuple[int, int] | None = None
) -> FrameSource:
    """``0`` / ``1`` → OpenCV device; ``picamera2`` or ``picamera2:N`` → Pi camera; a folder → image
    folder; a file → video; ``rtsp://`` / ``http://`` → stream; ``demo`` → the bundled clip."""
    width, height = size if size else (None, None)
    if spec.isdigit():
        return OpenCVDeviceSource(int(spec), width, height)
    if spec.startswith("picamera2"):
        _, _, num = spec.partition(":")
        return Picamera2Source(camera_num=int(num or 0), size=size) if size else Picamera2Source(int(num or 0))
    if spec == "demo":
        return VideoFileSource(DEMO_CLIP, realtime=realtime, loop=realtime)
    if "://" in spec:
        return OpenCVDeviceSource(spec)
    path = Path(spec)
    if path.is_dir():
        return ImageFolderSource(path, fps=fps)
    if path.is_file():
        return VideoFileSource(path, realtime=realtime)
    raise CameraError(
        f"Unknown source {spec!r}: give a camera index (0), picamera2, demo, a stream URL, "
        "a video file or a folder of images"
    )


def choose_best_source(max_devices: int = 4, realtime_demo: bool = True) -> SourceChoice:
    """Picamera2 if a Pi camera is attached, else the first OpenCV device that gives a frame, else the
    bundled demo clip."""
    cameras = picamera2_cameras()
    if cameras:
        model = cameras[0].get("Model", "camera")
        return SourceChoice(Picamera2Source(0), f"Raspberry Pi camera found ({model})")
    for index in range(max_devices):
        if probe_opencv_device(index):
            return SourceChoice(OpenCVDeviceSource(index), f"camera {index} delivers frames")
    if not DEMO_CLIP.is_file():
        raise CameraError(f"No camera found and the demo clip is missing ({DEMO_CLIP})")
    reason = f"no camera found (Picamera2: none; OpenCV devices 0–{max_devices - 1}: none); playing the demo clip"
    return SourceChoice(VideoFileSource(DEMO_CLIP, realtime=realtime_demo, loop=realtime_demo), reason, True)
