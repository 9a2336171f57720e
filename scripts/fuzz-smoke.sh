#!/usr/bin/env bash
# Fuzz smoke test: builds every cargo-fuzz target in fuzz/ and runs each for a short while on its
# committed corpus (fuzz/corpus/<target>), failing on any crash, panic, leak or timeout.
#
#   FUZZ_TARGET_DIR   build cache (default /var/tmp/ossvault-target-fuzz; never the main one)
#   FUZZ_SECONDS      seconds per target (default 30)
#   FUZZ_TOOLCHAIN    rustup toolchain with -Zsanitizer support (default nightly)
#   FUZZ_TARGETS      space-separated subset of targets (default: all of `cargo fuzz list`)
#
# Needs a nightly toolchain; installs cargo-fuzz (`cargo install cargo-fuzz --locked`) only when
# it is missing. New inputs found during the run go to a temporary directory, so the committed
# corpus is left untouched; a crashing input is kept in fuzz/artifacts/<target>/.
set -euo pipefail

cd "$(dirname "$0")/../fuzz"
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-/var/tmp/ossvault-target-fuzz}"
seconds="${FUZZ_SECONDS:-30}"
toolchain="${FUZZ_TOOLCHAIN:-nightly}"
start=$SECONDS

if ! cargo "+$toolchain" fuzz --version >/dev/null 2>&1; then
  echo "==> installing cargo-fuzz"
  nice -n 19 cargo install cargo-fuzz --locked
fi

targets="${FUZZ_TARGETS:-$(cargo "+$toolchain" fuzz list)}"

echo "==> building fuzz targets"
nice -n 19 cargo "+$toolchain" fuzz build -O
echo "    built in $((SECONDS - start))s"

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
failed=()
for target in $targets; do
  echo "==> $target (${seconds}s)"
  mkdir -p "$scratch/$target"
  dict=()
  [[ -f "dict/$target.dict" ]] && dict=("-dict=dict/$target.dict")
  if ! nice -n 19 cargo "+$toolchain" fuzz run -O "$target" "$scratch/$target" "corpus/$target" -- \
    -max_total_time="$seconds" -print_final_stats=1 "${dict[@]}" >"$scratch/$target.log" 2>&1; then
    failed+=("$target")
    echo "    FAILED; the log ends with:"
    tail -n 40 "$scratch/$target.log"
  else
    grep -E '^stat::number_of_executed_units|^#[0-9]+.*DONE' "$scratch/$target.log" | sed 's/^/    /' || true
  fi
done

echo "==> fuzz smoke took $((SECONDS - start))s"
if ((${#failed[@]})); then
  echo "FAILED targets: ${failed[*]}"
  exit 1
fi
echo "all fuzz targets ran clean"
