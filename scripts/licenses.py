#!/usr/bin/env python3
"""Writes ui/src/lib/licenses.json: the licences of what the desktop app ships, for its About
section (read from `cargo metadata` and ui/package-lock.json; cargo may fetch crates of other
targets that a Linux build never downloaded, so a fresh cargo home needs crates.io once).

Rust: every crate the app and the CLI link (normal dependencies, Linux, macOS and Windows
targets). npm: the packages bundled into the UI (not the build tools). Run it again after a
dependency changes (scripts/test.sh checks the file is current):

    python3 scripts/licenses.py          # rewrite
    python3 scripts/licenses.py --check  # exit 1 if the file is stale
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "ui" / "src" / "lib" / "licenses.json"
ROOTS = {"ossvault-app", "ossvault-cli"}
# The UI bundle: its runtime dependencies, and Svelte's runtime (a build tool that also ships).
NPM_BUNDLED = {"svelte"}


def rust() -> dict[str, list[str]]:
    meta = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--locked"],
            cwd=ROOT, check=True, capture_output=True, text=True,
        ).stdout
    )
    packages = {p["id"]: p for p in meta["packages"]}
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    todo = [i for i, p in packages.items() if p["name"] in ROOTS]
    seen: set[str] = set()
    while todo:
        node = nodes[todo.pop()]
        if node["id"] in seen:
            continue
        seen.add(node["id"])
        for dep in node["deps"]:
            # Normal dependencies only (no dev- or build-only ones), on any target.
            if any(k["kind"] is None for k in dep["dep_kinds"]):
                todo.append(dep["pkg"])
    by_licence: dict[str, set[str]] = defaultdict(set)
    for i in seen:
        p = packages[i]
        if p["source"] is None:  # the workspace's own crates
            continue
        by_licence[p.get("license") or "see the crate"].add(f'{p["name"]} {p["version"]}')
    return {k: sorted(v) for k, v in by_licence.items()}


def npm() -> dict[str, list[str]]:
    lock = json.loads((ROOT / "ui" / "package-lock.json").read_text())
    by_licence: dict[str, set[str]] = defaultdict(set)
    for path, p in lock["packages"].items():
        if not path:
            continue
        name = path.split("node_modules/")[-1]
        if p.get("dev") and name not in NPM_BUNDLED:
            continue
        by_licence[p.get("license") or "see the package"].add(f'{name} {p["version"]}')
    return {k: sorted(v) for k, v in by_licence.items()}


def main() -> int:
    data = {"rust": rust(), "npm": npm()}
    text = json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    if "--check" in sys.argv:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT.relative_to(ROOT)} is stale: run python3 scripts/licenses.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
