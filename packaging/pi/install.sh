#!/usr/bin/env bash
# cardsight on a Raspberry Pi 5 (Raspberry Pi OS Bookworm, 64-bit) with a Camera Module and the
# Hailo-8L AI Kit: system packages, a dedicated user, a venv that can see the apt-installed
# picamera2 and hailo_platform, the kiosk service and a desktop entry.
#
#   sudo ./packaging/pi/install.sh              # install or upgrade from this checkout
#   sudo ./packaging/pi/install.sh --uninstall  # remove service, user files and venv (keeps the collection)
#   sudo ./packaging/pi/install.sh --dry-run    # print what would be done
set -euo pipefail

APP_USER="${CARDSIGHT_USER:-cardsight}"
PREFIX="${CARDSIGHT_PREFIX:-/opt/cardsight}"
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
UNIT_SRC="$SRC/packaging/pi/cardsight-kiosk.service"
UNIT_DST="/etc/systemd/system/cardsight-kiosk.service"
DESKTOP_DST="/usr/share/applications/cardsight.desktop"
ICON_DST="/usr/share/icons/hicolor/scalable/apps/cardsight.svg"
DRY_RUN=0
ACTION=install

for arg in "$@"; do
    case "$arg" in
        --uninstall) ACTION=uninstall ;;
        --dry-run) DRY_RUN=1 ;;
        -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
        *) echo "unknown option: $arg" >&2; exit 2 ;;
    esac
done

run() {
    if [ "$DRY_RUN" -eq 1 ]; then
        printf '+ %s\n' "$*"
    else
        "$@"
    fi
}

require_root() {
    if [ "$DRY_RUN" -eq 0 ] && [ "$(id -u)" -ne 0 ]; then
        echo "run as root: sudo $0 $*" >&2
        exit 1
    fi
}

check_platform() {
    if [ ! -r /etc/os-release ]; then
        echo "warning: cannot read /etc/os-release; continuing" >&2
        return
    fi
    # shellcheck disable=SC1091
    . /etc/os-release
    if [ "${VERSION_CODENAME:-}" != "bookworm" ]; then
        echo "warning: written for Raspberry Pi OS Bookworm, this is ${PRETTY_NAME:-unknown}" >&2
    fi
    if [ "$(uname -m)" != "aarch64" ]; then
        echo "warning: expected a 64-bit (aarch64) system, this is $(uname -m)" >&2
    fi
}

install_cardsight() {
    check_platform
    run apt-get update
    # picamera2 and HailoRT come from Raspberry Pi OS; pip cannot build them.
    run apt-get install -y python3-venv python3-picamera2 hailo-all libxcb-cursor0 fonts-dejavu-core
    if ! id "$APP_USER" >/dev/null 2>&1; then
        run useradd --system --create-home --home-dir "/var/lib/$APP_USER" --shell /usr/sbin/nologin \
            --groups video,render,input "$APP_USER"
    fi
    run mkdir -p "$PREFIX"
    run rsync -a --delete --exclude .git --exclude .venv "$SRC/" "$PREFIX/src/"
    # --system-site-packages: the venv sees the apt-installed picamera2 and hailo_platform.
    run python3 -m venv --system-site-packages "$PREFIX/venv"
    run "$PREFIX/venv/bin/pip" install --upgrade pip
    run "$PREFIX/venv/bin/pip" install "$PREFIX/src[pi]"
    # rapidocr-onnxruntime without its opencv-python dependency (the headless OpenCV is installed).
    run "$PREFIX/venv/bin/pip" install --no-deps "rapidocr-onnxruntime==1.4.4"
    run install -m 0644 "$UNIT_SRC" "$UNIT_DST"
    run install -m 0644 "$SRC/packaging/pi/cardsight.desktop" "$DESKTOP_DST"
    run install -D -m 0644 "$SRC/assets/icons/cardsight.svg" "$ICON_DST"
    run systemctl daemon-reload
    run systemctl enable cardsight-kiosk.service
    echo "Installed. Start now with: sudo systemctl start cardsight-kiosk"
    echo "Set the staff PIN in /var/lib/$APP_USER/.config/cardsight/config.toml ([kiosk] pin = \"…\")."
}

uninstall_cardsight() {
    run systemctl disable --now cardsight-kiosk.service || true
    run rm -f "$UNIT_DST" "$DESKTOP_DST" "$ICON_DST"
    run systemctl daemon-reload
    run rm -rf "$PREFIX"
    echo "Removed cardsight. The collection stays in /var/lib/$APP_USER (delete the user to remove it:"
    echo "  sudo userdel -r $APP_USER)."
}

require_root "$@"
case "$ACTION" in
    install) install_cardsight ;;
    uninstall) uninstall_cardsight ;;
esac
