#!/usr/bin/env bash
# Runs the ossvault desktop app: installs what is missing (WebKitGTK and the other Debian
# packages, the CJK font, the UI's npm packages), builds the UI and the app (release), and
# starts it. The app runs its embedded OSS server on 127.0.0.1 (it prints `endpoint: URL`) and
# saves the CLI profile `local`, so `ossvault --profile local ls` reaches it while it runs.
#
#   scripts/run.sh            the desktop app
#   scripts/run.sh --server   the headless server only (`ossvault serve` on http://127.0.0.1:9000)
#
#   OSSVAULT_DATA_DIR  the headless server's objects (default ~/.local/share/ossvault/server)
#   CARGO_TARGET_DIR   build cache (default /var/tmp/ossvault-target)
set -euo pipefail

cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/ossvault-target}"

if [[ "${1:-}" == "--server" ]]; then
  data_dir="${OSSVAULT_DATA_DIR:-$HOME/.local/share/ossvault/server}"
  cargo build --release -p ossvault-cli
  mkdir -p "$data_dir"
  exec "$CARGO_TARGET_DIR/release/ossvault" serve --data-dir "$data_dir" --address 127.0.0.1:9000
fi

scripts/app-deps.sh
(cd ui && npm run build)
# The UI is built into the binary (the app's default `custom-protocol` feature).
cargo build --release -p ossvault-app
exec "$CARGO_TARGET_DIR/release/ossvault-app"
