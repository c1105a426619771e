"""The frame-source contract every camera backend follows."""

from __future__ import annotations

import abc
import logging
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Self

import numpy as np
import numpy.typing as npt

logger = logging.getLogger(__name__)

BGRImage = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class Frame:
    """One picture from a source: BGR uint8 (H, W, 3) and when it was taken.

    ``timestamp`` is seconds on the monotonic clock for live cameras, and the file's own frame time
    for recorded sources, so that replaying a file gives the same events on any machine.
    """

    image: BGRImage
    timestamp: float
    index: int
    #: A small picture of the same view for the card finder's network (Picamera2's ``lores`` stream,
    #: scaled by the ISP for free); None when the source has none and the finder scales ``image``.
    analysis: BGRImage | None = None


class CameraError(RuntimeError):
    """A source could not be opened or read."""


class CameraDisconnected(CameraError):
    """A source that was working stopped delivering frames (unplugged, stream dropped).

    The caller decides what to do; :class:`app.scanner.ScanLoop` closes the source and reopens it
    with backoff.
    """


class FrameSource(abc.ABC):
    """``open()``, ``read() -> Frame | None`` (None = the source ended normally), ``close()``.

    Subclasses implement ``_open``, ``_read`` and ``_close``; this base class makes ``close`` idempotent
    and the object a context manager.
    """

    #: Human-readable description shown in logs and the GUI status bar.
    description: str = "frame source"
    #: True for files and folders: frame times come from the file, the source can end.
    is_recorded: bool = False

    def __init__(self) -> None:
        self._is_open = False
        self._frames_read = 0

    @property
    def is_open(self) -> bool:
        return self._is_open

    def open(self) -> None:
        if self._is_open:
            return
        self._open()
        self._is_open = True
        self._frames_read = 0
        logger.info("Opened %s", self.description)

    def read(self) -> Frame | None:
        if not self._is_open:
            raise CameraError(f"{self.description} is not open")
        frame = self._read()
        if frame is not None:
            self._frames_read += 1
        return frame

    def close(self) -> None:
        if not self._is_open:
            return
        self._is_open = False
        try:
            self._close()
        finally:
            logger.info("Closed %s after %d frames", self.description, self._frames_read)

    def interrupt(self) -> None:
        """Wake a ``read`` blocked on another thread (it may then fail), so that a ``close`` waiting
        behind it runs at once. Safe from any thread; sources whose reads return promptly need nothing."""
        return None

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __iter__(self) -> FrameIterator:
        return FrameIterator(self)

    @abc.abstractmethod
    def _open(self) -> None: ...

    @abc.abstractmethod
    def _read(self) -> Frame | None: ...

    @abc.abstractmethod
    def _close(self) -> None: ...


class FrameIterator:
    """Iterates a source's frames until it ends (``read`` returns None)."""

    def __init__(self, source: FrameSource) -> None:
        self._source = source

    def __iter__(self) -> FrameIterator:
        return self

    def __next__(self) -> Frame:
        frame = self._source.read()
        if frame is None:
            raise StopIteration
        return frame


def monotonic_seconds() -> float:
    return time.monotonic()
