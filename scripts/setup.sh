#!/usr/bin/env bash
# Set up StashDesk on Debian/Ubuntu from this checkout, then run it or its tests.
#
#   scripts/setup.sh run  [stashdesk arguments]   install what StashDesk needs, start it
#   scripts/setup.sh test [pytest arguments]      install what the tests need, run them
#
# System packages come from apt (through sudo when not root); Python packages go
# into .venv in the checkout. Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-run}
shift || true

# Python's venv, and the libraries Qt's xcb/offscreen platforms load.
run_packages=(python3-venv python3-pip libegl1 libgl1 libfontconfig1 libglib2.0-0 libdbus-1-3
  libxkbcommon0 libxkbcommon-x11-0 libx11-xcb1 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1
  libxcb-image0 libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xfixes0 libxcb-sync1
  libxcb-xkb1)
# A real qBittorrent for the download tests, ffprobe for the duration filter, Xvfb for
# screenshots, binutils and patchelf for PyInstaller's bundle, Weston (headless) for its
# Wayland check, and what scripts/build_deb.sh builds and checks the Debian package with
# (the packaging tests use the validators too).
test_packages=(qbittorrent-nox ffmpeg xvfb weston binutils patchelf dpkg-dev lintian
  desktop-file-utils appstream systemd help2man pkgconf)

case "$mode" in
  run) packages=("${run_packages[@]}"); extra="" ;;
  test) packages=("${run_packages[@]}" "${test_packages[@]}"); extra="[test,build,dev]" ;;
  *) echo "usage: $0 run|test [arguments]" >&2; exit 2 ;;
esac

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "Installing system packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".${extra}"

if [ "$mode" = run ]; then
  exec .venv/bin/stashdesk "$@"
fi
exec .venv/bin/python -m pytest "$@"
