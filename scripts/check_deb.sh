#!/usr/bin/env bash
# Install StashDesk's Debian package on this machine and check it end to end, then take it
# away again (CI runs it after scripts/build_deb.sh; as root):
#
#   scripts/check_deb.sh [dist/stashdesk_<version>_<arch>.deb]
#
# 1. `apt-get install ./the.deb`; the installed `stashdesk --version` and `--self-check`
#    (offscreen, and on X11 under Xvfb when xvfb-run is installed); the desktop entry, its
#    icon, the unit (`systemd-analyze verify`, installed disabled) and the engine's user.
# 2. The engine as the service runs it: the unit's User=, Environment= and ExecStart= as
#    written in the installed unit, after enabling every daemon as that user; it waits
#    until `stashdesk status --json` (as that user) shows each daemon's first status,
#    then stops it with SIGTERM as systemd would and wants a clean exit.
# 3. `systemctl enable` (what an admin does), `apt-get remove`, `apt-get purge`: nothing of
#    the package may be left (files, unit symlinks, systemd helper state, dpkg records)
#    but the data folder and the stashdesk user who owns it.
# Finally it deletes that data folder and user, so it can run again. It refuses to run
# where StashDesk is installed or /var/lib/stashdesk exists: it would take them away.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "check_deb: $*" >&2; exit 1; }
step() { echo "== $*"; }

[ "$(id -u)" -eq 0 ] || die "run as root: it installs and purges the package"
deb=${1:-}
if [ -z "$deb" ]; then
  debs=(dist/stashdesk_*.deb)
  [ "${#debs[@]}" -eq 1 ] && [ -f "${debs[0]}" ] \
    || die "give the package to check (dist/ has ${#debs[@]}); scripts/build_deb.sh builds it"
  deb=${debs[0]}
fi
[ -f "$deb" ] || die "no such package: $deb"
deb=$(readlink -f "$deb")  # apt-get installs a file given by a path with a slash
package_state() { dpkg-query -W -f='${db:Status-Status}' stashdesk 2>/dev/null || true; }
case "$(package_state)" in
  "" | not-installed) ;;
  *) die "stashdesk is installed here; this check would purge it (apt-get purge stashdesk first)" ;;
esac
data_dir=/var/lib/stashdesk
[ ! -e "$data_dir" ] || die "$data_dir exists; this check would delete it"
user_existed=$(getent passwd stashdesk >/dev/null && echo yes || echo no)

started=$(date +%s)
version=$(dpkg-deb -f "$deb" Version)
work=$(mktemp -d)
engine_pid=""
cleanup() {
  [ -n "$engine_pid" ] && kill -KILL "$engine_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# What the package ships, and which of those paths the machine has already (shared
# folders such as /usr/share/icons/hicolor): the rest must be gone after the purge.
dpkg-deb --fsys-tarfile "$deb" | tar -t | sed -e 's|^\./|/|' -e 's|/$||' | grep -v '^/\?$' \
  > "$work/paths"
while read -r path; do
  [ -e "$path" ] || [ -L "$path" ] && echo "$path"
done < "$work/paths" > "$work/existed" || true

step "apt-get install $deb"
t0=$(date +%s)
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$deb" > "$work/apt.log" 2>&1 \
  || { cat "$work/apt.log" >&2; die "apt-get install failed"; }
echo "installed in $(($(date +%s) - t0)) s"

step "the installed program"
[ "$(command -v stashdesk)" = /usr/bin/stashdesk ] || die "stashdesk is not /usr/bin/stashdesk"
[ "$(stashdesk --version)" = "StashDesk $version" ] \
  || die "installed stashdesk --version says '$(stashdesk --version)', not StashDesk $version"
echo "$(stashdesk --version) at $(readlink -f /usr/bin/stashdesk)"
QT_QPA_PLATFORM=offscreen STASHDESK_NO_KEYRING=1 stashdesk --self-check
if command -v xvfb-run >/dev/null; then
  xvfb-run -a env QT_QPA_PLATFORM=xcb STASHDESK_NO_KEYRING=1 stashdesk --self-check
elif [ "${CI:-}" = true ]; then
  die "CI=true but xvfb-run is missing: the installed window went untested on X11"
fi

step "desktop entry, icons, metainfo, manual"
desktop=/usr/share/applications/stashdesk.desktop
desktop-file-validate "$desktop"
exec_name=$(sed -n 's/^Exec=\([^ ]*\).*/\1/p' "$desktop")
icon=$(sed -n 's/^Icon=//p' "$desktop")
command -v "$exec_name" >/dev/null || die "the desktop entry's Exec ($exec_name) is not on PATH"
[ -f "/usr/share/icons/hicolor/scalable/apps/$icon.svg" ] || die "no scalable icon $icon.svg"
for size in 16 24 32 48 64 128 256 512; do
  [ -f "/usr/share/icons/hicolor/${size}x${size}/apps/$icon.png" ] \
    || die "no ${size}x${size} icon $icon.png"
done
appstreamcli validate --no-net /usr/share/metainfo/org.stashdesk.StashDesk.metainfo.xml
[ -f /usr/share/man/man1/stashdesk.1.gz ] || die "no manual page stashdesk(1)"
echo "menu entry runs $exec_name with icon $icon (scalable and 8 sizes)"

step "the engine's service"
unit=$(dpkg -L stashdesk | grep '/systemd/system/stashdesk-engine\.service$')
systemd-analyze verify "$unit"
enabled=$(systemctl is-enabled stashdesk-engine.service 2>/dev/null || true)
[ "$enabled" = disabled ] || die "stashdesk-engine.service is '$enabled' after install, not disabled"
unit_value() { sed -n "s/^$1=//p" "$unit" | tail -1; }
user=$(unit_value User)
exec_start=$(unit_value ExecStart)
read -r -a unit_env <<<"$(sed -n 's/^Environment=//p' "$unit" | tr '\n' ' ')"
[ "$user" = stashdesk ] || die "the unit runs as $user, not stashdesk"
passwd_entry=$(getent passwd "$user") || die "postinst made no user $user"
IFS=: read -r _ _ uid _ _ home shell <<<"$passwd_entry"
[ "$uid" -lt 1000 ] || die "$user is not a system user (uid $uid)"
[ "$home" = "$data_dir" ] || die "$user's home is $home, not $data_dir"
[ "$(stat -c '%U %a' "$data_dir")" = "$user 700" ] \
  || die "$data_dir is '$(stat -c '%U %a' "$data_dir")', not '$user 700'"
case "$exec_start" in
  "/usr/bin/stashdesk "*"--headless"*"--data-dir $data_dir"*) ;;
  *) die "unexpected ExecStart: $exec_start" ;;
esac
echo "$unit: disabled; runs '$exec_start' as $user (uid $uid, shell $shell), ${unit_env[*]}"

# The CLI as an admin runs it for the service's engine: as its user, on its data folder.
as_user() { runuser -u "$user" -- "$@"; }
mapfile -t daemons < <(as_user stashdesk --data-dir "$data_dir" status --json \
  | python3 -c 'import json, sys; print("\n".join(d["name"] for d in json.load(sys.stdin)))')
[ "${#daemons[@]}" -gt 0 ] || die "status --json lists no daemons"
for name in "${daemons[@]}"; do
  as_user stashdesk --data-dir "$data_dir" daemons enable "$name"
done

step "the engine as the service runs it (${#daemons[@]} daemons)"
# systemd starts it in /, with a fresh environment, as the user, without new privileges.
t0=$(date +%s)
# $exec_start unquoted: split into words as systemd splits ExecStart= (no quotes in it).
# shellcheck disable=SC2086
(cd / && exec setpriv --reuid="$user" --regid="$user" --init-groups --no-new-privs \
  --reset-env env "${unit_env[@]}" $exec_start) > "$work/engine.log" 2>&1 &
engine_pid=$!
deadline=$((t0 + 90))
first_statuses=""
while :; do
  kill -0 "$engine_pid" 2>/dev/null \
    || { cat "$work/engine.log" >&2; die "the engine exited before every daemon reported"; }
  if as_user stashdesk --data-dir "$data_dir" status --json > "$work/status.json" 2>/dev/null \
      && first_statuses=$(python3 - "$work/status.json" "${daemons[@]}" <<'EOF'
import json
import sys

rows = {row["name"]: row for row in json.load(open(sys.argv[1], encoding="utf-8"))}
waiting = [name for name in sys.argv[2:]
           if rows[name]["state"] != "running" or not rows[name]["current_status"]]
if waiting:
    sys.exit(1)
print("\n".join(f"  {name}: {rows[name]['current_status']}" for name in sys.argv[2:]))
EOF
      ); then
    break
  fi
  [ "$(date +%s)" -lt "$deadline" ] \
    || { cat "$work/engine.log" "$work/status.json" >&2; die "no first status from every daemon in 90 s"; }
  sleep 0.5
done
echo "every daemon reported within $(($(date +%s) - t0)) s of the start:"
echo "$first_statuses"
kill -TERM "$engine_pid"
stop_deadline=$(($(date +%s) + $(unit_value TimeoutStopSec)))
while kill -0 "$engine_pid" 2>/dev/null; do
  [ "$(date +%s)" -lt "$stop_deadline" ] || { cat "$work/engine.log" >&2; die "the engine ignored SIGTERM"; }
  sleep 0.2
done
engine_status=0
wait "$engine_pid" || engine_status=$?
engine_pid=""
[ "$engine_status" -eq 0 ] || { cat "$work/engine.log" >&2; die "the engine exited with $engine_status"; }
grep -q "stopped cleanly" "$work/engine.log" || { cat "$work/engine.log" >&2; die "no clean stop logged"; }
foreign=$(find "$data_dir" ! -user "$user" | head -1)
[ -z "$foreign" ] || die "$foreign in the data folder is not owned by $user"
echo "stopped cleanly on SIGTERM; $data_dir: $(ls "$data_dir" | tr '\n' ' ')"

step "systemctl enable, apt-get remove, apt-get purge"
systemctl enable stashdesk-engine.service >/dev/null 2>&1 || true
[ "$(systemctl is-enabled stashdesk-engine.service 2>/dev/null)" = enabled ] \
  || die "systemctl enable did not enable stashdesk-engine.service"
DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq stashdesk > "$work/apt.log" 2>&1 \
  || { cat "$work/apt.log" >&2; die "apt-get remove failed"; }
[ ! -e /opt/stashdesk ] && [ ! -L /usr/bin/stashdesk ] && [ ! -e "$unit" ] \
  || die "apt-get remove left the program or the unit"
DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq stashdesk > "$work/apt.log" 2>&1 \
  || { cat "$work/apt.log" >&2; die "apt-get purge failed"; }

left=()
while read -r path; do
  { [ -e "$path" ] || [ -L "$path" ]; } && ! grep -qxF "$path" "$work/existed" && left+=("$path")
done < "$work/paths"
while read -r path; do left+=("$path"); done < <(
  find /etc/systemd /var/lib/systemd/deb-systemd-helper-enabled \
    /var/lib/systemd/deb-systemd-helper-masked -name '*stashdesk*' 2>/dev/null
  ls /var/lib/dpkg/info/stashdesk.* 2>/dev/null)
case "$(package_state)" in "" | not-installed) ;; *) left+=("dpkg's record of stashdesk") ;; esac
((${#left[@]} == 0)) || die "left after the purge: ${left[*]}"
[ -f "$data_dir/stashdesk.db" ] || die "the purge took the data folder ($data_dir/stashdesk.db)"
getent passwd "$user" >/dev/null || die "the purge deleted the user $user who owns $data_dir"
echo "after the purge only $data_dir (owned by $user) is left"

# This check's own leftovers: the data folder it filled and the user the install made.
rm -rf "$data_dir"
if [ "$user_existed" = no ]; then
  userdel "$user"
  if getent group "$user" >/dev/null; then groupdel "$user"; fi
fi
echo "check_deb: $deb passed in $(($(date +%s) - started)) s"
