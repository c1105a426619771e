"""scripts/system-packages.sh, run against stub ``dpkg-query``/``id``/``sudo``/``apt-get`` commands that
record what they are asked: what it installs, when, and what it says when it cannot."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.packaging.system_tools import (
    REQUIRE_ALL,
    SYSTEM_PACKAGES_SCRIPT,
    TOOL_PACKAGES,
    missing_tool_message,
    require_tool,
)

BASH = shutil.which("bash") or "/bin/bash"

# dpkg-query -W -f='${Status}' PACKAGE: "install ok installed" for the packages listed in $FAKE_INSTALLED.
DPKG_QUERY = """#!/bin/bash
package="${@: -1}"
grep -qx "$package" "$FAKE_INSTALLED" && { printf 'install ok installed'; exit 0; }
echo "dpkg-query: no packages found matching $package" >&2
exit 1
"""
ID = """#!/bin/bash
echo "$FAKE_UID"
"""
SUDO = """#!/bin/bash
[ "$FAKE_SUDO" = "yes" ] || { echo "sudo: a password is required" >&2; exit 1; }
[ "$1" = "-n" ] && shift
"$@"
"""
# apt-get update | install -y -qq --no-install-recommends PKG...: records the call; installs unless told to fail.
APT_GET = """#!/bin/bash
echo "apt-get $*" >> "$FAKE_LOG"
[ "$FAKE_APT_FAILS" = "yes" ] && exit 100
if [ "$1" = "install" ]; then
    for arg in "$@"; do case "$arg" in install|-*) ;; *) echo "$arg" >> "$FAKE_INSTALLED" ;; esac; done
fi
exit 0
"""


@dataclass
class Machine:
    root: Path

    @property
    def installed(self) -> Path:
        return self.root / "installed"

    @property
    def log(self) -> Path:
        return self.root / "apt.log"

    def apt_calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def run(
        self, *args: str, uid: int = 0, sudo: bool = False, apt_fails: bool = False, debian: bool = True
    ) -> subprocess.CompletedProcess[str]:
        stubs = self.root / ("bin" if debian else "bin-without-dpkg")
        env = {
            "PATH": f"{stubs}:/usr/bin:/bin" if debian else str(stubs),
            "FAKE_INSTALLED": str(self.installed),
            "FAKE_LOG": str(self.log),
            "FAKE_UID": str(uid),
            "FAKE_SUDO": "yes" if sudo else "no",
            "FAKE_APT_FAILS": "yes" if apt_fails else "no",
        }
        return subprocess.run(
            [BASH, str(SYSTEM_PACKAGES_SCRIPT), *args], capture_output=True, text=True, env=env, timeout=60
        )


def listed_packages() -> list[str]:
    text = SYSTEM_PACKAGES_SCRIPT.read_text()
    block = re.search(r"^PACKAGES=\((.*?)\)", text, re.S | re.M)
    assert block, "PACKAGES=(…) not found in the script"
    return block.group(1).split()


def write_stub(folder: Path, name: str, text: str) -> None:
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text)
    (folder / name).chmod(0o755)


@pytest.fixture()
def machine(tmp_path: Path) -> Machine:
    for name, text in (("dpkg-query", DPKG_QUERY), ("id", ID), ("sudo", SUDO), ("apt-get", APT_GET)):
        write_stub(tmp_path / "bin", name, text)
    # Not Debian: bash alone, no dpkg-query anywhere on PATH.
    (tmp_path / "bin-without-dpkg").mkdir()
    (tmp_path / "installed").write_text("")
    return Machine(tmp_path)


def install_all_but(machine: Machine, *missing: str) -> None:
    machine.installed.write_text("".join(f"{p}\n" for p in listed_packages() if p not in missing))


def test_nothing_is_installed_or_said_when_every_package_is_there(machine: Machine) -> None:
    install_all_but(machine)
    result = machine.run()
    assert result.returncode == 0 and result.stdout == "", result.stdout + result.stderr
    assert machine.apt_calls() == []


def test_root_installs_only_the_missing_packages(machine: Machine) -> None:
    install_all_but(machine, "shellcheck", "postgresql")
    result = machine.run(uid=0)
    assert result.returncode == 0, result.stdout + result.stderr
    calls = machine.apt_calls()
    assert calls[0] == "apt-get update -qq"
    assert calls[1] == "apt-get install -y -qq --no-install-recommends shellcheck postgresql"
    assert "still missing" not in result.stdout


def test_a_user_with_passwordless_sudo_installs_through_sudo(machine: Machine) -> None:
    install_all_but(machine, "xvfb")
    result = machine.run(uid=1000, sudo=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert machine.apt_calls()[-1].endswith("--no-install-recommends xvfb")
    assert "xvfb" in machine.installed.read_text().split()


def test_a_user_without_sudo_is_told_what_to_install_and_the_tests_go_on(machine: Machine) -> None:
    install_all_but(machine, "shellcheck", "systemd")
    result = machine.run(uid=1000, sudo=False)
    assert result.returncode == 0, result.stderr
    assert machine.apt_calls() == []
    assert "sudo apt-get install --no-install-recommends shellcheck systemd" in result.stdout
    assert "skipped" in result.stdout


def test_strict_fails_when_a_package_cannot_be_installed(machine: Machine) -> None:
    install_all_but(machine, "shellcheck")
    result = machine.run("--strict", uid=1000, sudo=False)
    assert result.returncode == 1
    assert "still missing: shellcheck" in result.stdout


def test_a_failed_apt_get_is_reported_and_the_packages_named(machine: Machine) -> None:
    install_all_but(machine, "libxcb-icccm4")
    result = machine.run(uid=0, apt_fails=True)
    assert result.returncode == 0
    assert "apt-get failed" in result.stdout and "still missing: libxcb-icccm4" in result.stdout
    assert machine.run("--strict", uid=0, apt_fails=True).returncode == 1


def test_check_reports_without_installing(machine: Machine) -> None:
    install_all_but(machine, "postgresql")
    result = machine.run("--check", uid=0)
    assert result.returncode == 0 and "still missing: postgresql" in result.stdout
    assert machine.apt_calls() == []


def test_an_unknown_option_is_one_line_and_exit_2(machine: Machine) -> None:
    result = machine.run("--install-everything")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "system-packages: unknown option --install-everything (use --check, --strict)"
    ]


def test_a_system_without_dpkg_is_told_what_to_install(machine: Machine) -> None:
    result = machine.run(debian=False)
    assert result.returncode == 0 and "not a Debian-based system" in result.stdout
    assert "postgresql" in result.stdout
    assert machine.run("--strict", debian=False).returncode == 1


def test_the_list_holds_the_tools_the_tests_need_and_postgresql() -> None:
    packages = listed_packages()
    assert set(TOOL_PACKAGES.values()) <= set(packages)
    for needed in ("postgresql", "xvfb", "libxcb-icccm4", "libxkbcommon-x11-0", "fonts-dejavu-core"):
        assert needed in packages


def test_the_script_and_ci_entry_parse_and_are_shellcheck_clean() -> None:
    ci = SYSTEM_PACKAGES_SCRIPT.parents[1] / ".ci" / "run"
    for script in (SYSTEM_PACKAGES_SCRIPT, ci):
        assert subprocess.run([BASH, "-n", str(script)], capture_output=True).returncode == 0, script
        result = subprocess.run(
            [require_tool("shellcheck"), "-S", "style", str(script)], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_a_missing_tool_skips_naming_its_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv(REQUIRE_ALL, raising=False)
    with pytest.raises(pytest.skip.Exception, match="Debian package 'systemd'"):
        require_tool("systemd-analyze")


def test_a_missing_tool_fails_where_ci_requires_every_tool(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv(REQUIRE_ALL, "1")
    with pytest.raises(pytest.fail.Exception, match="sudo apt-get install shellcheck"):
        require_tool("shellcheck")
    assert "scripts/system-packages.sh" in missing_tool_message("shellcheck")


def test_ci_installs_strictly_requires_every_tool_and_runs_make_test() -> None:
    ci = (SYSTEM_PACKAGES_SCRIPT.parents[1] / ".ci" / "run").read_text()
    assert "scripts/system-packages.sh --strict" in ci
    assert f"export {REQUIRE_ALL}=1" in ci
    assert ci.rstrip().endswith("make test")
    assert os.access(SYSTEM_PACKAGES_SCRIPT, os.X_OK)
