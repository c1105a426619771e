from __future__ import annotations

import re
from typing import Any

from app import PROJECT_ROOT
from app.embed.onnx_backend import OnnxEmbedder
from app.vision.segment import CardSegmenter

EMBEDDER_MODEL = PROJECT_ROOT / "models" / "lite0_imagenet.onnx"
CONFIG_KEYS = ("session.intra_op.allow_spinning", "session.force_spinning_stop")


def session_settings(session: Any) -> dict[str, object]:
    """What ONNX Runtime itself says the session runs with (None: a config entry never set)."""
    options = session.get_session_options()
    settings: dict[str, object] = {
        "intra_op_threads": options.intra_op_num_threads,
        "inter_op_threads": options.inter_op_num_threads,
        "optimisation": str(options.graph_optimization_level),
        "memory_arena": options.enable_cpu_mem_arena,
        "providers": session.get_providers(),
    }
    for key in CONFIG_KEYS:
        try:
            settings[key] = options.get_session_config_entry(key)
        except RuntimeError:  # ORT's answer for an entry that was never set
            settings[key] = None
    return settings


def test_the_embedder_session_keeps_its_threads_arena_and_spin_settings() -> None:
    embedder = OnnxEmbedder(EMBEDDER_MODEL, threads=2, warmup=False, spin_wait=True)
    assert session_settings(embedder._session) == {
        "intra_op_threads": 2,
        "inter_op_threads": 1,
        "optimisation": "GraphOptimizationLevel.ORT_ENABLE_ALL",
        "memory_arena": True,
        "providers": ["CPUExecutionProvider"],
        "session.intra_op.allow_spinning": "1",
        "session.force_spinning_stop": "1",
    }


def test_the_finder_session_runs_without_arena_or_spinning() -> None:
    segmenter = CardSegmenter(threads=1)
    assert session_settings(segmenter._session) == {
        "intra_op_threads": 1,
        "inter_op_threads": 1,
        "optimisation": "GraphOptimizationLevel.ORT_ENABLE_ALL",
        "memory_arena": False,
        "providers": ["CPUExecutionProvider"],
        "session.intra_op.allow_spinning": "0",
        "session.force_spinning_stop": None,
    }


def test_no_module_of_the_app_makes_an_onnx_runtime_session_of_its_own() -> None:
    """Every session goes through ``create_session``, so none escapes its thread, spin-wait and
    telemetry rules."""
    factory = PROJECT_ROOT / "app" / "embed" / "ort_session.py"
    makers = [
        path.relative_to(PROJECT_ROOT).as_posix()
        for path in sorted((PROJECT_ROOT / "app").rglob("*.py"))
        if path != factory and re.search(r"InferenceSession\(|SessionOptions\(", path.read_text())
    ]
    assert makers == []
