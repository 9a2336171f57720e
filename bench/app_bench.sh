#!/usr/bin/env bash
# Desktop app figures (bench/app_bench.py: what each part measures and its reference), on the
# release app, under Xvfb with a private session bus, an unlocked gnome-keyring and a throw-away
# HOME. Usage:
#   cargo build --release -p ossvault-app && cargo build -p ossvault-cli   # (ui/dist built first)
#   bench/app_bench.sh                       # every part: start, list, upload, sync (~15 min)
#   BENCH_PARTS=start,sync bench/app_bench.sh
# Environment:
#   OSSVAULT_APP_BIN  the app (default $CARGO_TARGET_DIR/release/ossvault-app)
#   OSSVAULT_BIN      the CLI (default $CARGO_TARGET_DIR/debug/ossvault): fills the prefix, and
#                     is the reference of the upload
#   BENCH_PARTS       start,list,upload,sync (start always runs: the other parts need the app)
#   BENCH_OBJECTS     objects in the listed and scrolled prefix (default 100000)
#   BENCH_SCROLL_STEP pixels scrolled a frame (default 3600: 100 rows)
#   BENCH_UPLOAD_MIB  size of the uploaded file (default 1024), BENCH_UPLOAD_RUNS (default 2)
#   BENCH_PAIRS, BENCH_SYNC_FILES, BENCH_NEW_FILES, BENCH_IDLE_S, BENCH_IDLE_SETTLE_S  the sync
#                     part (default 10 pairs, 50000 files in all, 10000 new files in one pair,
#                     60 s idle measured at once and again 180 s later)
#   BENCH_APP_PATTERN the app's command line (pgrep -f) when OSSVAULT_APP_BIN is a wrapper
#   BENCH_SMAPS=1     each idle memory figure also lists every process's largest mappings
# Every figure is printed with the load average; compare the ratios to the references of the
# same run, the absolute times move with what else runs on the machine.
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
# The app's data, config and keychain all follow HOME (as in scripts/e2e.sh).
unset XDG_DATA_HOME XDG_CONFIG_HOME XDG_CACHE_HOME XDG_STATE_HOME OSSVAULT_CONFIG OSSVAULT_CONFIG_DIR \
  OSSVAULT_TRANSFERS_DIR OSSVAULT_APP_DATA_DIR OSSVAULT_NO_KEYCHAIN
HOME="$bench_home" XDG_RUNTIME_DIR="$bench_home/run" \
  dbus-run-session -- sh -c '
    printf "\n" | gnome-keyring-daemon --unlock --components=secrets >/dev/null
    # Fontconfig caches in the fresh HOME first: else the first WebKit process builds them
    # and its memory holds every parsed font (~60 MiB more PSS than on a used desktop).
    fc-list >/dev/null
    exec xvfb-run -a -s "-screen 0 1400x900x24" "$0" bench/app_bench.py
  ' "$venv/bin/python"
