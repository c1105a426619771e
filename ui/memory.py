"""What the window remembers between runs that is not a setting: the welcome was seen, the last export
file and format. Kept in its own small file, so a read-only config file does not bring the welcome
back every start."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def default_memory_path() -> Path:
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "cardsight" / "ui-state.json"


class UiMemory:
    """A JSON object on disk; a missing or unreadable file is an empty memory, a failed write is
    logged (forgetting is never worth an error dialog)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_memory_path()
        self.values: dict[str, Any] = self._load()

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any) -> bool:
        """Remember ``value``; False when it could not be written."""
        self.values[key] = value
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            partial = self.path.with_name(self.path.name + ".partial")
            partial.write_text(json.dumps(self.values, indent=1), encoding="utf-8")
            partial.replace(self.path)
        except OSError as error:
            logger.warning("Cannot remember %s in %s: %s", key, self.path, error)
            return False
        return True
