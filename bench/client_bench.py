#!/usr/bin/env python3
"""Client benchmark: `ossvault cp` against the embedded server, next to peers measured in the
same run on the same server.

  * one large file (default 1 GiB) up and down: `ossvault cp` vs `curl` streaming the same
    file to a presigned PUT URL / from a presigned GET URL (one HTTP stream, the practical
    limit), vs the official `oss2` SDK's resumable_upload / resumable_download, 4 threads;
  * many small files (default 10,000 x 16 KiB) up and down: `ossvault cp -r` vs oss2 with a
    4-thread pool (resumable_upload / resumable_download per file).

Every command runs as a child process; its peak RSS is the child's VmHWM, polled from /proc while
it runs (wait4's ru_maxrss would include the Python parent's RSS inherited at fork).

Usage (from the repository root, after `cargo build --release -p ossvault-cli`):
    python3 bench/client_bench.py [--size-mib 1024] [--files 10000] [--file-kib 16]
The Python SDK comes from the venv of scripts/setup-python.sh.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from ossvault_harness import ACCESS_KEY_ID, ACCESS_KEY_SECRET, REGION, ServerProcess, write_random  # noqa: E402

import oss2  # noqa: E402

BUCKET = "bench"

OSS2_PEER = r"""
import os, sys, oss2
from concurrent.futures import ThreadPoolExecutor
ak, sk, endpoint, bucket_name, mode, local, key = sys.argv[1:8]
bucket = oss2.Bucket(oss2.Auth(ak, sk), endpoint, bucket_name)
store = os.environ["OSS2_CHECKPOINTS"]
def up(path, k):
    oss2.resumable_upload(bucket, k, path, store=oss2.ResumableStore(root=store),
                          multipart_threshold=8 << 20, part_size=8 << 20, num_threads=4)
def down(k, path):
    oss2.resumable_download(bucket, k, path, store=oss2.ResumableDownloadStore(root=store),
                            multiget_threshold=8 << 20, part_size=8 << 20, num_threads=4)
if mode == "up":
    up(local, key)
elif mode == "down":
    down(key, local)
elif mode == "up-tree":
    jobs = []
    for d, _, names in os.walk(local):
        for n in names:
            p = os.path.join(d, n)
            jobs.append((p, key + os.path.relpath(p, local).replace(os.sep, "/")))
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda j: up(*j), jobs))
elif mode == "down-tree":
    keys = [o.key for o in oss2.ObjectIteratorV2(bucket, prefix=key)]
    def fetch(k):
        p = os.path.join(local, k[len(key):])
        os.makedirs(os.path.dirname(p), exist_ok=True)
        down(k, p)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(fetch, keys))
"""


def run(cmd: list[str], env: dict | None = None) -> tuple[float, int]:
    """Runs a command; returns (seconds, peak RSS in KiB) of that child alone."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
    peak = 0
    while proc.poll() is None:
        try:
            with open(f"/proc/{proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]))
        except (FileNotFoundError, ProcessLookupError, ValueError):
            pass
        time.sleep(0.01)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}")
    return elapsed, peak


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--file-kib", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement; the median is reported")
    ap.add_argument("--bin", default=os.environ.get("OSSVAULT_BIN") or str(
        Path(os.environ.get("CARGO_TARGET_DIR", "/var/tmp/ossvault-target")) / "release" / "ossvault"))
    args = ap.parse_args()
    ossvault = args.bin

    work = Path(tempfile.mkdtemp(prefix="ossvault-client-bench", dir="/var/tmp"))
    server = ServerProcess(work / "data", work / "server.log", binary=Path(ossvault))
    try:
        endpoint = server.start()
        env = {**os.environ, "OSSVAULT_ENDPOINT": endpoint, "OSSVAULT_ACCESS_KEY_ID": ACCESS_KEY_ID,
               "OSSVAULT_ACCESS_KEY_SECRET": ACCESS_KEY_SECRET, "OSSVAULT_REGION": REGION,
               "OSS2_CHECKPOINTS": str(work / "oss2-checkpoints"), "RUST_LOG": "warn"}
        bucket = oss2.Bucket(oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET), endpoint, BUCKET)
        bucket.create_bucket()

        size = args.size_mib << 20
        big = work / "big.bin"
        write_random(big, size)
        tree = work / "tree"
        for i in range(args.files):
            p = tree / f"d{i % 50:02d}" / f"s{i // 50:03d}" / f"f{i}.bin"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(os.urandom(args.file_kib << 10))
        small_bytes = args.files * (args.file_kib << 10)

        peer = [sys.executable, "-c", OSS2_PEER, ACCESS_KEY_ID, ACCESS_KEY_SECRET, endpoint, BUCKET]
        ck = ["--checkpoint-dir", str(work / "ossvault-checkpoints")]
        rows = []

        def measure(name, cmd, nbytes, nfiles=None, cleanup=None):
            """Median seconds of `--repeat` runs (one run on a shared 2-core machine is noise);
            peak RSS is the largest seen."""
            times, peak = [], 0
            for _ in range(max(1, args.repeat)):
                t, rss = run(cmd, env)
                times.append(t)
                peak = max(peak, rss)
                if cleanup:
                    cleanup()
            t = sorted(times)[len(times) // 2]
            rows.append((name, t, nbytes / t / 1e6, (nfiles / t) if nfiles else None, peak))
            return t

        put_url = bucket.sign_url("PUT", "curl-big", 3600)
        get_url = bucket.sign_url("GET", "curl-big", 3600)
        t_curl_put = measure("curl PUT (presigned)", ["curl", "-sS", "--fail", "-T", str(big), put_url], size)
        t_curl_get = measure("curl GET (presigned)", ["curl", "-sS", "--fail", "-o", str(work / "curl.out"), get_url],
                             size, cleanup=lambda: (work / "curl.out").unlink())
        # curl leaves the download in the page cache; ossvault fsyncs it before the rename.
        # The same GET followed by an fsync of the file is the durable equivalent.
        t_curl_get_sync = measure("curl GET + fsync of the file",
                                  ["sh", "-c", f"curl -sS --fail -o '{work / 'curl.out'}' '{get_url}' && "
                                   f"python3 -c \"import os; f=os.open('{work / 'curl.out'}', os.O_RDONLY); "
                                   f"os.fsync(f)\""], size, cleanup=lambda: (work / "curl.out").unlink())
        t_ov_put = measure("ossvault cp upload", [ossvault, "cp", str(big), f"oss://{BUCKET}/ov-big", *ck], size)
        t_ov_get = measure("ossvault cp download", [ossvault, "cp", f"oss://{BUCKET}/ov-big", str(work / "ov.out"), *ck],
                           size, cleanup=lambda: (work / "ov.out").unlink())
        measure("oss2 resumable_upload x4", [*peer, "up", str(big), "oss2-big"], size)
        measure("oss2 resumable_download x4", [*peer, "down", str(work / "oss2.out"), "oss2-big"], size,
                cleanup=lambda: (work / "oss2.out").unlink())

        # Let the writeback of the large files settle: small durable writes are sensitive to it.
        subprocess.run(["sync"], check=False)
        time.sleep(3)
        t_ov_small_up = measure(f"ossvault cp -r upload ({args.files} files)",
                                [ossvault, "cp", "-r", str(tree), f"oss://{BUCKET}/ov-small/"],
                                small_bytes, args.files)
        t_ov_small_down = measure(f"ossvault cp -r download ({args.files} files)",
                                  [ossvault, "cp", "-r", f"oss://{BUCKET}/ov-small/", str(work / "ov-tree")],
                                  small_bytes, args.files, cleanup=lambda: shutil.rmtree(work / "ov-tree"))
        t_oss2_small_up = measure(f"oss2 x4 upload ({args.files} files)", [*peer, "up-tree", str(tree), "oss2-small/"],
                                  small_bytes, args.files)
        t_oss2_small_down = measure(f"oss2 x4 download ({args.files} files)",
                                    [*peer, "down-tree", str(work / "oss2-tree"), "oss2-small/"], small_bytes,
                                    args.files, cleanup=lambda: shutil.rmtree(work / "oss2-tree"))

        print()
        print(f"machine: {os.cpu_count()} cores; median of {args.repeat} runs each; large file {args.size_mib} MiB; "
              f"{args.files} x {args.file_kib} KiB files; server: {ossvault} (release)")
        print(f"{'measure':<44} {'seconds':>8} {'MB/s':>8} {'files/s':>8} {'peak RSS':>10}")
        for name, t, mbps, fps, rss in rows:
            fps_s = f"{fps:8.0f}" if fps else f"{'':>8}"
            print(f"{name:<44} {t:8.2f} {mbps:8.0f} {fps_s} {rss / 1024:7.1f} MiB")
        print()
        print(f"large upload   ossvault / curl : {t_curl_put / t_ov_put:5.2f}x   (target >= 0.8)")
        print(f"large download ossvault / curl : {t_curl_get / t_ov_get:5.2f}x   (target >= 0.8)")
        print(f"large download ossvault / (curl + fsync) : {t_curl_get_sync / t_ov_get:5.2f}x")
        print(f"small upload   ossvault / oss2 : {t_oss2_small_up / t_ov_small_up:5.2f}x   (target >= 3)")
        print(f"small download ossvault / oss2 : {t_oss2_small_down / t_ov_small_down:5.2f}x   (target >= 3)")
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
