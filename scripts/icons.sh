#!/usr/bin/env bash
# Makes every icon the Tauri bundler takes from the source, icons/icon.svg: the PNGs of the
# Linux packages (installed under /usr/share/icons/hicolor/<size>/apps), icon.ico (Windows) and
# icon.icns (macOS). Run it after changing the SVG and commit what it writes.
#
# Needs (Debian): librsvg2-bin (rsvg-convert), icnsutils (png2icns), imagemagick (convert).
set -euo pipefail

cd "$(dirname "$0")/../icons"
for tool in rsvg-convert png2icns convert; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "icons: $tool not found; install the Debian packages librsvg2-bin, icnsutils and imagemagick" >&2
    exit 1
  fi
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

png() { # size, output
  rsvg-convert --width "$1" --height "$1" --keep-aspect-ratio icon.svg --output "$2"
}

for size in 16 24 32 48 64 128 256 512 1024; do
  png "$size" "$work/$size.png"
done

# The sizes tauri.conf.json lists (128x128@2x is the 256 px one).
cp "$work/32.png" 32x32.png
cp "$work/64.png" 64x64.png
cp "$work/128.png" 128x128.png
cp "$work/256.png" 128x128@2x.png
cp "$work/512.png" icon.png

# Windows: one .ico with the sizes Explorer and the taskbar use (256 stored as PNG).
convert "$work"/{16,24,32,48,64,256}.png icon.ico

# macOS: the icns sizes png2icns knows (16, 32, 48, 128, 256, 512 and 1024 px).
png2icns icon.icns "$work"/{16,32,48,128,256,512,1024}.png >/dev/null

ls -l 32x32.png 64x64.png 128x128.png 128x128@2x.png icon.png icon.ico icon.icns
