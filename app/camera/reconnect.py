"""Backoff delays for reopening a lost source (the reopening itself is :class:`app.scanner.ScanLoop`'s)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

logger = logging.getLogger(__name__)


def backoff_delays(initial_s: float = 0.5, maximum_s: float = 8.0) -> Iterator[float]:
    """0.5, 1, 2, 4, 8, 8, … seconds."""
    delay = initial_s
    while True:
        yield delay
        delay = min(delay * 2.0, maximum_s)
