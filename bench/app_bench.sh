#!/usr/bin/env bash
# Desktop app figures (see bench/app_bench.py) on the release app by default:
#   OSSVAULT_APP_BIN  the app (default $CARGO_TARGET_DIR/release/ossvault-app)
#   OSSVAULT_BIN      the CLI that fills the 100,000-object prefix
#   BENCH_OBJECTS     objects in that prefix (default 100000)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"
export RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/ossvault-target}"
export OSSVAULT_APP_BIN="${OSSVAULT_APP_BIN:-$CARGO_TARGET_DIR/release/ossvault-app}"
export TAURI_DRIVER="${TAURI_DRIVER:-$(command -v tauri-driver || echo "$CARGO_HOME/bin/tauri-driver")}"
venv="${OSSVAULT_VENV:-/var/tmp/ossvault-venv}"
bench_home=$(mktemp -d)
trap 'rm -rf "$bench_home"' EXIT
mkdir -m 700 "$bench_home/run"
HOME="$bench_home" XDG_RUNTIME_DIR="$bench_home/run" \
  dbus-run-session -- sh -c '
    printf "\n" | gnome-keyring-daemon --unlock --components=secrets >/dev/null
    exec xvfb-run -a -s "-screen 0 1400x900x24" "$0" bench/app_bench.py
  ' "$venv/bin/python"
