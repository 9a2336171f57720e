#!/usr/bin/env bash
# Installs what building, running and testing the desktop app needs, when missing (idempotent:
# a second run only checks): the Debian packages of Tauri/WebKitGTK, the CJK font, Xvfb and the
# WebDriver pieces for the end-to-end tests, Node's packages of ui/ (`npm ci`), and
# tauri-driver 2.1.0. Debian/Ubuntu with apt; run as root or with sudo available.
#
#   app-deps.sh          what the app needs to build and run
#   app-deps.sh --test   plus what its tests need (Xvfb, WebKitWebDriver, imagemagick, keyring)
set -euo pipefail

cd "$(dirname "$0")/.."
packages=(libwebkit2gtk-4.1-dev build-essential curl wget file libssl-dev libxdo-dev
  libayatana-appindicator3-dev librsvg2-dev pkg-config fonts-noto-cjk nodejs npm)
if [[ "${1:-}" == "--test" ]]; then
  packages+=(xvfb xauth webkit2gtk-driver imagemagick gnome-keyring dbus dbus-user-session dbus-x11)
fi
missing=()
for p in "${packages[@]}"; do
  # Node may come from elsewhere (nvm, nodesource): a working `npm` is enough.
  if [[ "$p" == nodejs || "$p" == npm ]] && command -v npm >/dev/null 2>&1; then
    continue
  fi
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  echo "app-deps: installing ${missing[*]}" >&2
  sudo=""
  if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The UI's packages, exactly as package-lock.json pins them; skipped when already installed
# from this lock file.
stamp=ui/node_modules/.ossvault-lock-sha256
want=$(sha256sum ui/package-lock.json | cut -d' ' -f1)
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  (cd ui && npm ci --no-audit --no-fund)
  echo "$want" > "$stamp"
fi

if [[ "${1:-}" == "--test" ]]; then
  export CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"
  if ! "$CARGO_HOME/bin/tauri-driver" --help >/dev/null 2>&1; then
    echo "app-deps: installing tauri-driver 2.1.0" >&2
    cargo install tauri-driver --version 2.1.0 --locked
  fi
fi
