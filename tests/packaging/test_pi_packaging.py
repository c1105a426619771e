"""The Raspberry Pi installer and kiosk unit: shellcheck, systemd-analyze verify, and a dry run.
(scripts/system-packages.sh installs shellcheck and systemd; without them those tests skip, naming the package.)"""

from __future__ import annotations

import subprocess
from pathlib import Path

from app import PROJECT_ROOT
from tests.packaging.system_tools import require_tool

PI = PROJECT_ROOT / "packaging" / "pi"


def test_installer_is_shellcheck_clean() -> None:
    result = subprocess.run(
        [require_tool("shellcheck"), "-S", "style", str(PI / "install.sh")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_kiosk_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    # verify also checks that ExecStart's program exists; point it at a stand-in with the same role.
    stand_in = tmp_path / "cardsight"
    stand_in.write_text("#!/bin/sh\nexit 0\n")
    stand_in.chmod(0o755)
    unit = (PI / "cardsight-kiosk.service").read_text()
    assert "ExecStart=/opt/cardsight/venv/bin/cardsight --kiosk" in unit
    assert "Restart=on-failure" in unit and "User=cardsight" in unit
    copy = tmp_path / "cardsight-kiosk.service"
    copy.write_text(unit.replace("/opt/cardsight/venv/bin/cardsight", str(stand_in)))
    result = subprocess.run([require_tool("systemd-analyze"), "verify", str(copy)], capture_output=True, text=True)
    assert result.returncode == 0 and not result.stderr.strip(), result.stdout + result.stderr


def test_installer_dry_run_lists_the_install_and_uninstall_steps() -> None:
    installed = subprocess.run(["bash", str(PI / "install.sh"), "--dry-run"], capture_output=True, text=True)
    assert installed.returncode == 0, installed.stderr
    steps = installed.stdout
    for expected in ("python3-picamera2 hailo-all", "--system-site-packages", "[pi]", "systemctl enable"):
        assert expected in steps
    removed = subprocess.run(
        ["bash", str(PI / "install.sh"), "--dry-run", "--uninstall"], capture_output=True, text=True
    )
    assert removed.returncode == 0 and "systemctl disable --now cardsight-kiosk.service" in removed.stdout


def test_desktop_entry_names_the_command_and_icon() -> None:
    entry = (PI / "cardsight.desktop").read_text()
    assert "Exec=cardsight" in entry and "Icon=cardsight" in entry
    assert (PROJECT_ROOT / "assets" / "icons" / "cardsight.svg").is_file()
