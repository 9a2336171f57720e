"""Desktop app figures (not a test): cold start to an interactive bucket list, idle memory of
all the app's processes (PSS, WebKit's included), the first page of a 100,000-object prefix,
and the binary's size. Run through bench/app_bench.sh (display, keyring, throw-away HOME)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "e2e"))
from conftest import ACCESS_KEY_ID, ACCESS_KEY_SECRET, Driver, app_binary, cli_binary  # noqa: E402

OBJECTS = int(os.environ.get("BENCH_OBJECTS", "100000"))


def pss_kib(pid: int) -> int:
    """PSS of a process and all its descendants (the WebKit web and network processes)."""
    total = 0
    pids = [pid]
    while pids:
        p = pids.pop()
        try:
            for line in open(f"/proc/{p}/smaps_rollup"):
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
            children = open(f"/proc/{p}/task/{p}/children").read().split()
            pids.extend(int(c) for c in children)
        except OSError:
            pass
    return total


def app_pid() -> int:
    out = subprocess.run(["pgrep", "-n", "-f", str(app_binary())], capture_output=True, text=True)
    return int(out.stdout.split()[0])


def main() -> None:
    log = Path(tempfile.mkdtemp()) / "driver.log"
    d = Driver(log)
    try:
        t0 = time.monotonic()
        s = d.start_app()
        s.find('[data-testid="buckets-empty"], [data-testid^="bucket-row-"]', timeout=60)
        start = time.monotonic() - t0
        print(f"cold start to an interactive bucket list (WebDriver session included): {start:.2f} s")
        time.sleep(10)
        print(f"idle memory, PSS of the app and its WebKit processes: {pss_kib(app_pid()) / 1024:.0f} MiB")

        # A prefix of OBJECTS empty objects, uploaded by the CLI through the profile `local`.
        src = Path(tempfile.mkdtemp()) / "many"
        src.mkdir()
        for i in range(OBJECTS):
            (src / f"{i:06d}.txt").touch()
        env = {k: v for k, v in os.environ.items() if not k.startswith("OSSVAULT_")}
        subprocess.run([str(cli_binary()), "mb", "oss://bench", "--profile", "local"], check=True, env=env)
        t = time.monotonic()
        subprocess.run([str(cli_binary()), "cp", "-r", str(src), "oss://bench/many/", "--profile", "local"],
                       check=True, env=env, stdout=subprocess.DEVNULL)
        print(f"({OBJECTS} objects uploaded by the CLI in {time.monotonic() - t:.0f} s)")
        ms = s.script_async(
            "const done = arguments[arguments.length - 1]; const t = performance.now();"
            "window.__TAURI_INTERNALS__.invoke('list_objects', {connection: 'local', bucket: 'bench',"
            " prefix: 'many/', token: null}).then(() => done(performance.now() - t));"
        )
        print(f"first page (1000 entries) of the {OBJECTS}-object prefix, command round trip: {ms:.0f} ms")
        s.click('[data-testid="buckets-refresh"]')
        s.click('[data-testid="bucket-open-bench"]')
        t = time.monotonic()
        s.click('[data-testid="open-many/"]')
        s.find('[data-testid="row-000000.txt"]', timeout=60)
        print(f"first page shown after opening the folder (WebDriver polling included): {(time.monotonic() - t) * 1000:.0f} ms")
        print(f"memory after listing, PSS: {pss_kib(app_pid()) / 1024:.0f} MiB")
    finally:
        d.close()
    print(f"binary {app_binary()}: {app_binary().stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
