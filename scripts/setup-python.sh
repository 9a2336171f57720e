#!/usr/bin/env bash
# Creates (or reuses) the Python virtualenv used by the end-to-end suites and installs the
# official OSS SDKs into it. Idempotent: a venv whose pinned packages are already installed is
# left alone, so repeated runs cost well under a second.
#
#   OSSVAULT_VENV   where the venv lives (default /var/tmp/ossvault-venv, outside the clone so it
#                   survives fresh checkouts)
#   PYTHON          interpreter used to create it (default python3)
#
# Prints the venv directory on the last line of stdout.
set -euo pipefail

venv="${OSSVAULT_VENV:-/var/tmp/ossvault-venv}"
python="${PYTHON:-python3}"

# Pinned versions: the wire notes in shared/reference/oss-api.md were written against these.
requirements=(
  "oss2==2.19.1"
  "alibabacloud-oss-v2==1.4.1"
  "pytest==8.3.5"
  "requests==2.32.3"
  # Imported directly by the client-side-encryption interop tests (also an oss2 dependency).
  "cryptography>=41"
)

if [[ ! -x "$venv/bin/python" ]]; then
  echo "setup-python: creating venv at $venv" >&2
  rm -rf "$venv"
  "$python" -m venv "$venv"
fi

# Fast path: everything pinned is already there.
stamp="$venv/.ossvault-requirements"
wanted="$(printf '%s\n' "${requirements[@]}")"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$wanted" ]] &&
  "$venv/bin/python" -c 'import oss2, alibabacloud_oss_v2, pytest, requests' 2>/dev/null; then
  echo "setup-python: venv up to date" >&2
else
  echo "setup-python: installing ${requirements[*]}" >&2
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${requirements[@]}" >&2
  printf '%s\n' "$wanted" >"$stamp"
fi

echo "$venv"
