#!/usr/bin/env bash
# Build StashDesk's one-folder bundle (dist/stashdesk/) with PyInstaller, then prove it works:
# the frozen `stashdesk --version` and `stashdesk --self-check` (offscreen; on X11 under Xvfb
# when xvfb-run is installed; on Wayland under a headless Weston when weston is). Prints the
# bundle's size and the self-check's time; exits non-zero on any failure.
#
#   scripts/build_installer.sh
#
# Python: the checkout's .venv (made by `scripts/setup.sh test`, which installs PyInstaller),
# else $PYTHON. Work files go to build/, the bundle to dist/ (both ignored by git).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -x .venv/bin/python ]; then
  python=.venv/bin/python
elif [ -n "${PYTHON:-}" ]; then
  python=$PYTHON
else
  echo "build_installer: no .venv here and no \$PYTHON; run scripts/setup.sh test first" >&2
  exit 2
fi
if ! "$python" -c "import PyInstaller, stashdesk" 2>/dev/null; then
  echo "build_installer: $python lacks PyInstaller or StashDesk; run scripts/setup.sh test" \
       "(it installs the [build] extra)" >&2
  exit 2
fi

bundle=dist/stashdesk
echo "== building $bundle with $("$python" -m PyInstaller --version 2>&1 | tail -1) ($python)"
started=$(date +%s)
"$python" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath dist --workpath build build_installer.spec
echo "built in $(($(date +%s) - started)) s"

# A Python built into its own prefix (pyenv, /usr/local) records that prefix's lib folder
# as RUNPATH in libpython and its extension modules: in the bundle, a folder of the build
# machine. Keep only the $ORIGIN-relative entries (Qt's and PySide6's own).
if [ "$(uname -s)" = Linux ]; then
  command -v patchelf >/dev/null \
    || { echo "build_installer: patchelf is missing; run scripts/setup.sh test" >&2; exit 2; }
  cleaned=0
  while IFS= read -r -d '' library; do
    runpath=$(readelf -d "$library" 2>/dev/null | sed -n 's/.*(R[UN]*PATH).*\[\(.*\)\]/\1/p')
    [ -n "$runpath" ] || continue
    kept=$(tr ':' '\n' <<<"$runpath" | grep '^\$ORIGIN' | paste -sd: || true)
    [ "$kept" = "$runpath" ] && continue
    if [ -n "$kept" ]; then patchelf --set-rpath "$kept" "$library"
    else patchelf --remove-rpath "$library"; fi
    cleaned=$((cleaned + 1))
  done < <(find "$bundle" -type f -name '*.so*' -print0)
  echo "dropped build-machine RUNPATHs from $cleaned libraries"
fi

exe=$bundle/stashdesk
# Windows: stashdesk.exe is windowed (no stdout); its console twin runs the checks.
[ -f "$bundle/stashdesk-cli.exe" ] && exe=$bundle/stashdesk-cli.exe
[ -x "$exe" ] || { echo "build_installer: no executable at $exe" >&2; exit 1; }

echo "== $exe --version"
version=$("$exe" --version)
echo "$version"
case "$version" in
  "StashDesk "*) ;;
  *) echo "build_installer: unexpected --version output: $version" >&2; exit 1 ;;
esac

# The self-check uses a temporary data folder; keep the user's keyring out of it.
self_check() {
  local label=$1
  shift
  echo "== $exe --self-check ($label)"
  local t0 t1
  t0=$(date +%s.%N)
  "$@" "$exe" --self-check
  t1=$(date +%s.%N)
  self_check_seconds=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
  echo "frozen self-check ($label): ${self_check_seconds} s wall clock"
}

self_check offscreen env QT_QPA_PLATFORM=offscreen STASHDESK_NO_KEYRING=1
offscreen_seconds=$self_check_seconds
if command -v xvfb-run >/dev/null && [ "$(uname -s)" = Linux ]; then
  self_check "xcb under Xvfb" xvfb-run -a env QT_QPA_PLATFORM=xcb STASHDESK_NO_KEYRING=1
elif [ "${CI:-}" = true ] && [ "$(uname -s)" = Linux ]; then
  echo "build_installer: CI=true but xvfb-run is missing: the xcb platform went untested" >&2
  exit 1
fi
if command -v weston >/dev/null && [ "$(uname -s)" = Linux ]; then
  # A Wayland compositor without a screen, on a socket of its own.
  wayland_dir=$(mktemp -d)
  chmod 0700 "$wayland_dir"
  XDG_RUNTIME_DIR=$wayland_dir weston --backend=headless-backend.so --socket=stashdesk-check \
    --idle-time=0 > "$wayland_dir/weston.log" 2>&1 &
  weston_pid=$!
  trap 'kill "$weston_pid" 2>/dev/null; rm -rf "$wayland_dir"' EXIT
  for _ in $(seq 100); do
    [ -S "$wayland_dir/stashdesk-check" ] && break
    kill -0 "$weston_pid" 2>/dev/null || break
    sleep 0.1
  done
  [ -S "$wayland_dir/stashdesk-check" ] \
    || { cat "$wayland_dir/weston.log" >&2; echo "build_installer: weston did not start" >&2; exit 1; }
  self_check "wayland under a headless Weston" env XDG_RUNTIME_DIR="$wayland_dir" \
    WAYLAND_DISPLAY=stashdesk-check QT_QPA_PLATFORM=wayland STASHDESK_NO_KEYRING=1
elif [ "${CI:-}" = true ] && [ "$(uname -s)" = Linux ]; then
  echo "build_installer: CI=true but weston is missing: the wayland platform went untested" >&2
  exit 1
fi

echo "== bundle"
size="$(du -sh "$bundle" | cut -f1) ($(du -sb "$bundle" | cut -f1) bytes)"
files=$(find "$bundle" -type f | wc -l)
plugins=$(find "$bundle" -path '*plugins/*' -type f | sed 's|.*/plugins/||' | sort | tr '\n' ' ')
echo "Qt plugins: $plugins"
echo "bundle: $bundle, $size in $files files; frozen --self-check (offscreen): ${offscreen_seconds} s"
