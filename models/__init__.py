"""Training, export and simulation tooling (never imported by the app)."""

import os

# onnxruntime reads it at its first import; a tool here may reach onnxruntime before anything imports
# ``app``, which sets the same (see app/__init__.py).
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
