#!/usr/bin/env bash
# Runs the ossvault-keystore tests, and the CLI's keychain test (crates/cli/tests/keychain.rs),
# against a real Secret Service: gnome-keyring, unlocked, on a
# private session bus, with a throw-away HOME (so the keyring it creates is thrown away too and
# a developer's own keyring is never touched). OSSVAULT_REQUIRE_KEYCHAIN=1 makes the keychain
# tests fail, not skip, if the keychain cannot be used.
#
# Installs nothing. Needs (Debian): dbus, dbus-user-session (dbus-run-session), gnome-keyring.
# Extra arguments go to `cargo test`, e.g. `scripts/keychain-tests.sh -- --nocapture`.
set -euo pipefail

cd "$(dirname "$0")/.."

for tool in dbus-run-session gnome-keyring-daemon; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "keychain-tests: $tool not found; install the Debian packages dbus, dbus-user-session and gnome-keyring" >&2
    exit 1
  fi
done

# The throw-away HOME must not hide the toolchain: pin cargo's and rustup's homes first.
export CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"
export RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/ossvault-target}"

keychain_home=$(mktemp -d)
trap 'rm -rf "$keychain_home"' EXIT

# No XDG_RUNTIME_DIR from the outer session either: gnome-keyring would find (and reuse) a
# daemon already running there instead of starting its own on the private bus.
keychain_runtime="$keychain_home/run"
mkdir -m 700 "$keychain_runtime"

HOME="$keychain_home" XDG_RUNTIME_DIR="$keychain_runtime" \
  dbus-run-session -- sh -c '
    printf "\n" | gnome-keyring-daemon --unlock --components=secrets >/dev/null
    OSSVAULT_REQUIRE_KEYCHAIN=1 cargo test -p ossvault-keystore "$@" &&
      OSSVAULT_REQUIRE_KEYCHAIN=1 exec cargo test -p ossvault-cli --test keychain "$@"
  ' keychain-tests "$@"
