#!/usr/bin/env bash
# Runs the app. Until the desktop app exists, that is the embedded OSS-compatible server:
# builds `ossvault` in release and serves on http://127.0.0.1:9000. On first start the server
# generates an access key pair and prints where it keeps it.
#
#   OSSVAULT_DATA_DIR  where objects live (default ~/.local/share/ossvault/server)
#   CARGO_TARGET_DIR   build cache (default /var/tmp/ossvault-target)
set -euo pipefail

cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/ossvault-target}"
data_dir="${OSSVAULT_DATA_DIR:-$HOME/.local/share/ossvault/server}"

# Nothing to install beyond the Rust toolchain for now.
cargo build --release -p ossvault-cli
mkdir -p "$data_dir"
exec "$CARGO_TARGET_DIR/release/ossvault" serve --data-dir "$data_dir" --address 127.0.0.1:9000
