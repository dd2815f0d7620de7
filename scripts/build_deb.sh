#!/usr/bin/env bash
# Package the PyInstaller bundle (dist/stashdesk/, from scripts/build_installer.sh) as
# dist/stashdesk_<version>_<arch>.deb, then check it with lintian, desktop-file-validate,
# appstreamcli and systemd-analyze; exits non-zero when any of them finds an error.
#
#   scripts/build_deb.sh
#
# The package: the bundle in /opt/stashdesk, /usr/bin/stashdesk, the desktop entry, the
# icons (hicolor sizes and scalable SVG), AppStream metainfo, the manual page and the
# stashdesk-engine systemd unit (installed disabled). Its sources are in packaging/debian/.
# Depends: the system libraries the bundle's ELF files need and do not carry themselves,
# as dpkg-shlibdeps finds them; adduser for postinst; and (in control.in) the data the
# bundled copies of fontconfig, libX11 and libxkbcommon read from the system, which their
# own Debian packages depend on: fontconfig-config (and through it a font), libx11-data,
# xkb-data.
#
# Settings (environment):
#   DEBFULLNAME, DEBEMAIL        the Maintainer (default: git's user.name/user.email,
#                                else the author of the checkout's commit)
#   STASHDESK_SCREENSHOTS_URL    where docs/screenshots/ is published, for the metainfo's
#                                screenshots (default: the GitHub raw URL of this commit
#                                when the origin remote is on GitHub; else none)
# Python: .venv's, else $PYTHON (as scripts/build_installer.sh). Work files: build/deb/.
# Tools: dpkg-dev, lintian, desktop-file-utils, appstream, systemd, help2man, pkgconf
# (`scripts/setup.sh test` installs them).
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "build_deb: $*" >&2; exit 1; }

if [ -x .venv/bin/python ]; then
  python=.venv/bin/python
elif [ -n "${PYTHON:-}" ]; then
  python=$PYTHON
else
  die "no .venv here and no \$PYTHON; run scripts/setup.sh test first"
fi
for tool in dpkg-deb dpkg-shlibdeps lintian desktop-file-validate appstreamcli \
            systemd-analyze help2man pkg-config; do
  command -v "$tool" >/dev/null || die "$tool is missing; run scripts/setup.sh test (it installs the packaging tools)"
done

bundle=dist/stashdesk
[ -x "$bundle/stashdesk" ] || die "no bundle at $bundle; run scripts/build_installer.sh first"
version=$("$python" -c 'import stashdesk; print(stashdesk.__version__)')
bundle_version=$("$bundle/stashdesk" --version)
[ "$bundle_version" = "StashDesk $version" ] \
  || die "$bundle is '$bundle_version' but the checkout is $version; rebuild it with scripts/build_installer.sh"
arch=$(dpkg --print-architecture)
unit_dir=$(pkg-config --variable=systemdsystemunitdir systemd)
[ -n "$unit_dir" ] || die "pkg-config knows no systemdsystemunitdir (is systemd installed?)"

maintainer_name=${DEBFULLNAME:-$(git config user.name || git log -1 --format=%an)}
maintainer_email=${DEBEMAIL:-$(git config user.email || git log -1 --format=%ae)}
# Timestamps and dates from the commit, so two builds of one commit are the same.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
commit=$(git rev-parse HEAD)

screenshots_url=${STASHDESK_SCREENSHOTS_URL:-}
if [ -z "$screenshots_url" ]; then
  origin=$(git remote get-url origin 2>/dev/null || true)
  if [[ $origin =~ github\.com[:/]([^/]+)/([^/]+)$ ]]; then
    screenshots_url="https://raw.githubusercontent.com/${BASH_REMATCH[1]}/${BASH_REMATCH[2]%.git}/$commit/docs/screenshots"
  fi
fi

started=$(date +%s)
work=build/deb
pkg=$work/debian/stashdesk  # dpkg-shlibdeps' layout: debian/control beside debian/<package>
rm -rf "$work"
mkdir -p "$pkg/DEBIAN" "$pkg/opt" "$pkg/usr/bin" "$pkg/usr/share/applications" \
  "$pkg/usr/share/metainfo" "$pkg/usr/share/doc/stashdesk" "$pkg/usr/share/man/man1" \
  "$pkg/usr/share/lintian/overrides" "$pkg$unit_dir"

echo "== staging StashDesk $version ($arch) in $pkg"
cp -a "$bundle" "$pkg/opt/stashdesk"
ln -s /opt/stashdesk/stashdesk "$pkg/usr/bin/stashdesk"
install -m 0644 resources/stashdesk.desktop "$pkg/usr/share/applications/"
for png in resources/icons/stashdesk-*.png; do
  size=${png##*-}
  size=${size%.png}
  install -D -m 0644 "$png" "$pkg/usr/share/icons/hicolor/${size}x${size}/apps/stashdesk.png"
done
install -D -m 0644 resources/icons/stashdesk.svg \
  "$pkg/usr/share/icons/hicolor/scalable/apps/stashdesk.svg"
metainfo=$pkg/usr/share/metainfo/org.stashdesk.StashDesk.metainfo.xml
sed -e "s|@VERSION@|$version|" -e "s|@DATE@|$(date -u -d "@$SOURCE_DATE_EPOCH" +%F)|" \
  packaging/debian/org.stashdesk.StashDesk.metainfo.xml.in > "$metainfo"
if [ -n "$screenshots_url" ]; then
  sed -i "s|@SCREENSHOTS_URL@|${screenshots_url%/}|" "$metainfo"
  echo "metainfo screenshots: ${screenshots_url%/}/"
else
  sed -i '/<screenshots>/,/<\/screenshots>/d' "$metainfo"
  echo "build_deb: warning: no STASHDESK_SCREENSHOTS_URL and no GitHub origin remote:" \
       "the metainfo lists no screenshots" >&2
fi
install -m 0644 packaging/debian/stashdesk-engine.service "$pkg$unit_dir/"
install -m 0644 packaging/debian/copyright README.md "$pkg/usr/share/doc/stashdesk/"
install -m 0644 packaging/debian/stashdesk.lintian-overrides \
  "$pkg/usr/share/lintian/overrides/stashdesk"
{
  echo "stashdesk ($version) unstable; urgency=medium"
  echo
  echo "  * StashDesk $version, built from commit $commit."
  echo
  echo " -- $maintainer_name <$maintainer_email>  $(date -u -R -d "@$SOURCE_DATE_EPOCH")"
} | gzip -9n > "$pkg/usr/share/doc/stashdesk/changelog.gz"
help2man --no-info --version-string="$version" \
  --name="automation daemons for Stash and qBittorrent, with a window or headless" \
  "$bundle/stashdesk" | gzip -9n > "$pkg/usr/share/man/man1/stashdesk.1.gz"

# Policy permissions: directories and programs 0755, everything else (shared libraries
# included) 0644.
find "$pkg" -type d -exec chmod 0755 {} +
find "$pkg" -type f -exec chmod 0644 {} +
chmod 0755 "$pkg/opt/stashdesk/stashdesk"
for script in postinst prerm postrm; do
  install -m 0755 "packaging/debian/$script" "$pkg/DEBIAN/$script"
done

echo "== Depends: the system libraries the bundle's ELF files need (dpkg-shlibdeps)"
mapfile -t elves < <(cd "$work" && find debian/stashdesk/opt -type f -print0 \
  | xargs -0 sh -c 'for f; do [ "$(head -c4 "$f")" = "$(printf "\177ELF")" ] && echo "$f"; done' sh \
  | sort)
# The bundle's library folders as installed: a library found there inside the package
# needs no dependency.
mapfile -t private_dirs < <(printf '%s\n' "${elves[@]}" | xargs -n1 dirname \
  | sed 's|^debian/stashdesk||' | sort -u)
printf 'Source: stashdesk\n\nPackage: stashdesk\nArchitecture: any\n' > "$work/debian/control"
shlibs=$(cd "$work" && dpkg-shlibdeps -O "${private_dirs[@]/#/-l}" "${elves[@]}" \
  2> shlibdeps.log) || { cat "$work/shlibdeps.log" >&2; die "dpkg-shlibdeps failed"; }
depends=${shlibs#shlibs:Depends=}
[ -n "$depends" ] && [ "$depends" != "$shlibs" ] || die "dpkg-shlibdeps found no dependencies: $shlibs"
# Its warnings are Python's symbols, which extension modules take from the interpreter.
echo "${#elves[@]} ELF files; system libraries: $depends" \
     "($(grep -c warning "$work/shlibdeps.log" || true) warnings in $work/shlibdeps.log)"

# Every file's time clamped to the commit's; md5sums and the control file last.
find "$pkg" -newermt "@$SOURCE_DATE_EPOCH" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
(cd "$pkg" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z \
  | xargs -0 md5sum) > "$pkg/DEBIAN/md5sums"
chmod 0644 "$pkg/DEBIAN/md5sums"
installed_kb=$(du -sk --apparent-size --exclude=DEBIAN "$pkg" | cut -f1)
sed -e "s|@VERSION@|$version|" -e "s|@ARCH@|$arch|" -e "s|@INSTALLED_SIZE@|$installed_kb|" \
  -e "s|@MAINTAINER@|$maintainer_name <$maintainer_email>|" -e "s|@DEPENDS@|$depends|" \
  packaging/debian/control.in > "$pkg/DEBIAN/control"
touch -d "@$SOURCE_DATE_EPOCH" "$pkg/DEBIAN"/*

deb=dist/stashdesk_${version}_${arch}.deb
echo "== $deb"
dpkg-deb --root-owner-group -Zxz --build "$pkg" "$deb" >/dev/null
built=$(date +%s)
echo "built in $((built - started)) s: $(du -h "$deb" | cut -f1) ($(stat -c %s "$deb") bytes)," \
     "installs $((installed_kb / 1024)) MiB"

echo "== desktop-file-validate"
desktop-file-validate "$pkg/usr/share/applications/stashdesk.desktop"
echo "== appstreamcli validate --no-net"
appstreamcli validate --no-net "$metainfo"
echo "== systemd-analyze verify"
# verify wants ExecStart's program to exist: check a copy whose ExecStart names the staged
# one (scripts/check_deb.sh verifies the installed unit as it is).
mkdir -p "$work/verify"
sed "s|^ExecStart=/usr/bin/stashdesk |ExecStart=$PWD/$pkg/opt/stashdesk/stashdesk |" \
  "$pkg$unit_dir/stashdesk-engine.service" > "$work/verify/stashdesk-engine.service"
systemd-analyze verify "$work/verify/stashdesk-engine.service"
systemd-analyze security --offline=yes "$pkg$unit_dir/stashdesk-engine.service" | tail -1
echo "== lintian"
lintian_started=$(date +%s)
lintian_status=0
lintian --fail-on error --display-info --pedantic "$deb" || lintian_status=$?
echo "lintian took $(($(date +%s) - lintian_started)) s"
[ "$lintian_status" -eq 0 ] || die "lintian found errors in $deb"
echo "$deb: clean by desktop-file-validate, appstreamcli, systemd-analyze and lintian" \
     "(in $(($(date +%s) - started)) s)"
