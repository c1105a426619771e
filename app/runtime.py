"""Process-wide settings made once at start-up (CLI, GUI, benches)."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

logger = logging.getLogger(__name__)

_M_ARENA_MAX = -8  # glibc mallopt parameter


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Cap glibc's per-thread malloc arenas. The scanner runs several native thread pools (capture,
    finder, embedding, OCR, Qt); with glibc's default of 8 arenas per core each keeps its own high-water
    mark, which cost ~150 MB of RSS in bench/live.py. Call before starting threads. No-op off glibc."""
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        return bool(libc.mallopt(_M_ARENA_MAX, arenas))
    except (OSError, AttributeError) as error:
        logger.debug("mallopt unavailable: %s", error)
        return False
