#!/usr/bin/env bash
# Builds the installable Debian package of the desktop app with the Tauri CLI from npm
# (@tauri-apps/cli, a devDependency of ui/, the same version as the tauri crate): a release
# build of ossvault-app with the UI inside, bundled as
# $CARGO_TARGET_DIR/release/bundle/deb/ossvault_<version>_<arch>.deb, then checked (control
# fields, binary, desktop file, icons). Not part of scripts/test.sh: a release build takes
# many minutes.
#
# AppImage is not built here: its bundler downloads linuxdeploy and the AppRun from GitHub at
# build time. On a machine that reaches GitHub: `npx tauri build --bundles appimage`.
#
# Needs: what scripts/app-deps.sh installs (WebKitGTK dev packages, Node, ui/node_modules) and
# dpkg-deb.
set -euo pipefail

cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/ossvault-target}"

if [ ! -x ui/node_modules/.bin/tauri ]; then
  npm --prefix ui ci
fi

# The package holds the app, its desktop entry and its icons; prints its control fields and size.
check_deb() {
  local contents
  contents=$(dpkg-deb -c "$1")
  for path in usr/bin/ossvault-app usr/share/applications/ossvault.desktop \
    usr/share/icons/hicolor/128x128/apps/ossvault-app.png; do
    # dpkg-deb lists paths with or without a leading "./".
    if ! grep -qE " (\./)?$path\$" <<<"$contents"; then
      echo "bundle: $path missing from $1" >&2
      exit 1
    fi
  done
  dpkg-deb -f "$1" Package Version Architecture Depends
  echo "bundle: $1 ($(du -h "$1" | cut -f1))"
}

# tauri.conf.json's beforeBuildCommand builds ui/dist first.
(cd src-tauri && nice -n 5 ../ui/node_modules/.bin/tauri build --bundles deb "$@")

version=$(sed -n 's/^ *"version": "\(.*\)",$/\1/p' src-tauri/tauri.conf.json | head -n 1)
deb=$(ls -t "$CARGO_TARGET_DIR"/release/bundle/deb/ossvault_"${version}"_*.deb | head -n 1)
check_deb "$deb"
