"""Camera sources behind one contract: ``open``, ``read`` → :class:`Frame` | None, ``close``."""

from app.camera.base import CameraDisconnected, CameraError, Frame, FrameSource
from app.camera.image_folder import ImageFolderSource
from app.camera.opencv_device import OpenCVDeviceSource
from app.camera.picamera2_source import Picamera2Source
from app.camera.reconnect import backoff_delays
from app.camera.select import SourceChoice, choose_best_source, source_from_spec
from app.camera.video_file import VideoFileSource

__all__ = [
    "CameraDisconnected",
    "CameraError",
    "Frame",
    "FrameSource",
    "ImageFolderSource",
    "OpenCVDeviceSource",
    "Picamera2Source",
    "SourceChoice",
    "VideoFileSource",
    "backoff_delays",
    "choose_best_source",
    "source_from_spec",
]
