#!/usr/bin/env bash
# The Debian packages the test suite uses, installed when this machine lets us.
#   - make: the Makefile tests (tests/packaging/test_makefile.py)
#   - shellcheck: the installer and Hailo compile-script checks (tests/packaging)
#   - systemd: systemd-analyze verify of the kiosk unit (tests/packaging)
#   - xvfb, xauth: a virtual X server for `make screenshots` and `make bench` (bench/gui.py)
#   - libxcb-*, libxkbcommon*, libegl1, libgl1, libfontconfig1, libdbus-1-3, fonts-dejavu-core: what
#     Qt's platform plugins load (the GUI tests run Qt offscreen)
#   - postgresql: a throwaway cluster for the shop collection's tests
# As root, or with passwordless sudo, the missing ones are installed with apt-get; otherwise they are
# named with the command to install them, and the tests that need one skip, saying which.
#
# Usage: scripts/system-packages.sh [--check] [--strict]
#   --check   only report what is missing; install nothing
#   --strict  exit 1 when a package is still missing at the end (CI: a skipped test must not hide it)
set -euo pipefail

PACKAGES=(make shellcheck systemd xvfb xauth libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 libxkbcommon-x11-0
          libxkbcommon0 libegl1 libgl1 libfontconfig1 libdbus-1-3 fonts-dejavu-core postgresql)

check_only=0
strict=0
for arg in "$@"; do
    case "$arg" in
        --check) check_only=1 ;;
        --strict) strict=1 ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) echo "system-packages: unknown option $arg (use --check, --strict)" >&2; exit 2 ;;
    esac
done

say() { echo "system-packages: $*"; }

missing_packages() {
    local package
    for package in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || echo "$package"
    done
}

# The command prefix that may run apt-get here: nothing as root, "sudo -n" with passwordless sudo.
# Prints nothing and fails when neither is available.
privilege_prefix() {
    if [ "$(id -u)" -eq 0 ]; then
        echo ""
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        echo "sudo -n"
    else
        return 1
    fi
}

install_packages() {
    local prefix="$1"
    shift
    say "installing: $*"
    # shellcheck disable=SC2086  # the prefix is empty or "sudo -n": it must split into words
    $prefix apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive $prefix apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

finish() {
    local still_missing=("$@")
    if [ "${#still_missing[@]}" -eq 0 ]; then
        return 0
    fi
    say "still missing: ${still_missing[*]}"
    say "install them with: sudo apt-get install --no-install-recommends ${still_missing[*]}"
    if [ "$strict" -eq 1 ]; then
        exit 1
    fi
    say "the tests that need them will be skipped, each naming its package"
}

if ! command -v dpkg-query >/dev/null 2>&1; then
    say "not a Debian-based system: cannot check packages; install the equivalents of: ${PACKAGES[*]}"
    [ "$strict" -eq 1 ] && exit 1
    exit 0
fi

mapfile -t missing < <(missing_packages)
if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi
if [ "$check_only" -eq 1 ]; then
    finish "${missing[@]}"
    exit 0
fi
if ! prefix="$(privilege_prefix)"; then
    say "not root and no passwordless sudo: not installing"
    finish "${missing[@]}"
    exit 0
fi
if ! install_packages "$prefix" "${missing[@]}"; then
    say "apt-get failed (offline, or another apt running?)"
fi
mapfile -t missing < <(missing_packages)
finish "${missing[@]}"
