"""The one place cardsight makes an ONNX Runtime session: threads, providers, graph optimisation,
spin-wait, memory arena and telemetry, so every network in the product runs under the same rules."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from onnxruntime import InferenceSession

logger = logging.getLogger(__name__)

#: ONNX Runtime reads this once, when it is first imported: unset, its Python package writes a
#: device id and a database under ~/.cache/Microsoft/DeveloperTools/.onnxruntime and a scan looks
#: up Microsoft's telemetry host (``onnxruntime.disable_telemetry_events()`` stops neither).
#: ``app/__init__.py`` sets it before anything can import onnxruntime; :func:`create_session` sets
#: it again and says so when it comes too late.
TELEMETRY_VARIABLE = "ORT_DISABLE_TELEMETRY"

CPU_ONLY = ("CPUExecutionProvider",)


def disable_telemetry() -> None:
    """Turn ONNX Runtime's telemetry off for this process (effective only before its first import)."""
    # A value the user set is theirs to keep; only an unset variable comes too late once ORT is in.
    if TELEMETRY_VARIABLE not in os.environ and "onnxruntime" in sys.modules:
        logger.warning(
            "onnxruntime was imported before %s=1 was set; its telemetry may be on in this process",
            TELEMETRY_VARIABLE,
        )
    os.environ.setdefault(TELEMETRY_VARIABLE, "1")


def create_session(
    model_path: str | Path,
    *,
    threads: int,
    providers: Sequence[str] = CPU_ONLY,
    memory_arena: bool,
    spin_wait: bool = False,
    stop_spinning_after_call: bool = False,
) -> InferenceSession:
    """An ``onnxruntime.InferenceSession`` for ``model_path``.

    ``threads``: intra-op workers (inter-op is always 1: the networks are one chain of layers).
    ``memory_arena``: keep ORT's CPU arena (reuses buffers across calls, but keeps the high-water
    mark of every input shape it saw). ``spin_wait``: workers busy-wait for work within a call.
    ``stop_spinning_after_call``: workers stop spinning when a call returns, whatever ORT's default.
    Raises what ORT raises for an unreadable model; callers turn that into their own error.
    """
    disable_telemetry()
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.enable_cpu_mem_arena = memory_arena
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin_wait else "0")
    if stop_spinning_after_call:
        options.add_session_config_entry("session.force_spinning_stop", "1")
    return ort.InferenceSession(str(model_path), options, providers=list(providers))
