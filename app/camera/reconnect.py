"""Reconnect-with-backoff around any frame source."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator

from app.camera.base import CameraDisconnected, CameraError, Frame, FrameSource

logger = logging.getLogger(__name__)


def backoff_delays(initial_s: float = 0.5, maximum_s: float = 8.0) -> Iterator[float]:
    """0.5, 1, 2, 4, 8, 8, … seconds."""
    delay = initial_s
    while True:
        yield delay
        delay = min(delay * 2.0, maximum_s)


def frames_with_reconnect(
    source: FrameSource,
    stop: threading.Event,
    on_disconnect: Callable[[CameraError, float], None] | None = None,
    initial_backoff_s: float = 0.5,
    max_backoff_s: float = 8.0,
) -> Iterator[Frame]:
    """Yield frames until the source ends or ``stop`` is set; a disconnect closes the source and
    reopens it after a growing delay (``stop`` interrupts the wait). ``on_disconnect`` is told each
    time, with the delay before the next try, so a GUI can show it."""
    delays = backoff_delays(initial_backoff_s, max_backoff_s)
    recovering = False
    while not stop.is_set():
        try:
            if not source.is_open:
                source.open()
            frame = source.read()
        except (CameraDisconnected, CameraError) as error:
            source.close()
            delay = next(delays)
            logger.warning("%s; retrying in %.1f s", error, delay)
            if on_disconnect is not None:
                on_disconnect(error, delay)
            recovering = True
            stop.wait(delay)
            continue
        if frame is None:
            return
        if recovering:
            # Frames flow again: the next outage starts from the shortest delay.
            logger.info("%s is delivering frames again", source.description)
            delays = backoff_delays(initial_backoff_s, max_backoff_s)
            recovering = False
        yield frame
