#!/usr/bin/env bash
# Runs the desktop app's end-to-end suite (tests/e2e): the app built with its UI inside
# ($OSSVAULT_APP_BIN; default $CARGO_TARGET_DIR/debug/ossvault-app, made by `cargo build`;
# scripts/test.sh runs it on the release build), driven over WebDriver by
# tauri-driver 2.1.0 + WebKitWebDriver, under Xvfb, with a real Secret Service (gnome-keyring,
# unlocked, on a private session bus) and a throw-away HOME. Screenshots of every screen in
# both languages go to tests/e2e/screenshots/ (git-ignored).
#
# Needs: xvfb-run, dbus-run-session, gnome-keyring-daemon, WebKitWebDriver, import
# (imagemagick), fonts-noto-cjk, tauri-driver; scripts/test.sh installs them.
#   OSSVAULT_VENV   the Python venv with oss2 and pytest (default /var/tmp/ossvault-venv)
set -euo pipefail

cd "$(dirname "$0")/.."
export CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"
export RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/ossvault-target}"
export TAURI_DRIVER="${TAURI_DRIVER:-$(command -v tauri-driver || echo "$CARGO_HOME/bin/tauri-driver")}"
venv="${OSSVAULT_VENV:-/var/tmp/ossvault-venv}"

e2e_home=$(mktemp -d)
trap 'rm -rf "$e2e_home"' EXIT
mkdir -m 700 "$e2e_home/run"

# The app's data, config and keychain all follow HOME: no XDG directory of the caller's leaks in.
unset XDG_DATA_HOME XDG_CONFIG_HOME XDG_CACHE_HOME XDG_STATE_HOME OSSVAULT_CONFIG OSSVAULT_CONFIG_DIR \
  OSSVAULT_TRANSFERS_DIR OSSVAULT_APP_DATA_DIR OSSVAULT_NO_KEYCHAIN
HOME="$e2e_home" XDG_RUNTIME_DIR="$e2e_home/run" \
  dbus-run-session -- sh -c '
    printf "\n" | gnome-keyring-daemon --unlock --components=secrets >/dev/null
    exec xvfb-run -a -s "-screen 0 1400x900x24" "$0" -m pytest -p no:cacheprovider -ra "$@" tests/e2e
  ' "$venv/bin/python" "$@"
