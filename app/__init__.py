"""cardsight engine: camera sources, card finder, embedding, matching and the collection.

This package never imports Qt; everything the GUI does can be done headless from ``cardsight``.
"""

import os
from pathlib import Path

# Before anything can import onnxruntime (every entry point imports this package first): ORT reads
# it once, at its first import, and otherwise writes a device id under ~/.cache/Microsoft and looks
# up Microsoft's telemetry host from a scanner that has no business on the network
# (app/embed/ort_session.py).
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

__version__ = "0.1.0"

#: Repository root when running from a checkout (assets/, models/, reference/ live here).
PROJECT_ROOT = Path(__file__).resolve().parent.parent
