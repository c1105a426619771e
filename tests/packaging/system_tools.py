"""System tools the packaging tests run (shellcheck, systemd-analyze): found on PATH, else the test
skips naming the Debian package that brings it — or fails where CI asks for every tool
(``CARDSIGHT_REQUIRE_SYSTEM_TOOLS=1``, set by ``.ci/run``, which installs them)."""

from __future__ import annotations

import os
import shutil

import pytest

from app import PROJECT_ROOT

SYSTEM_PACKAGES_SCRIPT = PROJECT_ROOT / "scripts" / "system-packages.sh"
REQUIRE_ALL = "CARDSIGHT_REQUIRE_SYSTEM_TOOLS"

#: Each tool the tests run → the Debian package that installs it (listed in scripts/system-packages.sh).
TOOL_PACKAGES = {"shellcheck": "shellcheck", "systemd-analyze": "systemd", "make": "make"}


def missing_tool_message(name: str) -> str:
    package = TOOL_PACKAGES[name]
    return (
        f"{name} is not installed (Debian package {package!r}; `scripts/system-packages.sh` installs it "
        f"as root or with passwordless sudo: sudo apt-get install {package})"
    )


def require_tool(name: str) -> str:
    """The tool's path; skips the calling test (fails under ``CARDSIGHT_REQUIRE_SYSTEM_TOOLS``) when absent."""
    path = shutil.which(name)
    if path is not None:
        return path
    if os.environ.get(REQUIRE_ALL, "") not in ("", "0"):
        pytest.fail(missing_tool_message(name))
    pytest.skip(missing_tool_message(name))
