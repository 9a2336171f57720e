#!/usr/bin/env python3
"""Folder sync benchmark: `ossvault sync` against the embedded server, next to references
measured in the same run on the same machine.

  (a) initial sync, client-side encrypted, of 10,000 x 16 KiB files and of one 1 GiB file:
      `ossvault sync run` vs `rclone copy` to a `crypt` remote over a local folder (Debian's
      rclone; no network, no server) vs plain `cp -r` (the disk);
  (b) save-to-visible latency over 200 saves with `sync run --watch` (a save is a write of a
      file; visible is a HEAD on the server showing the new ETag), p50 and p99;
  (c) a no-change restart over the 10,000 files (wall time; the report tells how many files
      the scan read);
  (d) peak RSS of `sync run` with 10,000 and 100,000 indexed files (initial sync and
      restart): it must not grow with the number of files.

rclone's local backend does not fsync, the server fsyncs every object: rclone is measured
twice, as is and followed by `sync` (the durable reference, as `cp -r` + `sync`). Every timed
step starts after an (untimed) `sync` of what the steps before it left dirty, and nothing is
deleted before a timed step: on ext4 without a journal (this VM's root file system) creating
files shortly after many were deleted is slow (the inode allocator skips inodes deleted in the
last minutes, `recently_deleted` in the kernel's profile: rclone's copy of the 10,000 files took
8-11 s instead of 1.7-2 s, nearly all in the kernel), which hits rclone and cp (10,000 new files
each) but not the server (one database file). Leave a few minutes between runs, or the
previous run's clean-up weighs on the references of the next.

With --floor, (a) is followed by the floor under its small-file case, in the same run: the
server crate's `put_floor` benchmark (built here by cargo) sends the same number of PUTs, as
bare HTTP, then through the embedded server and client with empty objects and with the
sealed files' size (no sync, no encryption, no file reads; see crates/server/benches/
put_floor.rs), next to the time the target of 2x rclone crypt's rate allows.

Peak RSS is the child's VmHWM polled from /proc. Usage, from the repository root after
`cargo build --release -p ossvault-cli`:
    python3 bench/sync_bench.py [--files 10000] [--big-mib 1024] [--saves 200]
        [--index-files 10000,100000] [--only abcd] [--floor]
(--big-mib 0 skips the large file; --only picks parts, (c) needs (a).)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from ossvault_harness import ACCESS_KEY_ID, ACCESS_KEY_SECRET, REGION, ServerProcess, write_random  # noqa: E402

import oss2  # noqa: E402

BUCKET = "syncbench"


def run(cmd, env=None, capture=False):
    """(seconds, peak RSS KiB, stdout) of one child. Dirty pages of earlier steps are flushed
    first (not timed), so that one tool's writeback never lands in another's time."""
    os.sync()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    peak = 0
    out = b""
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
    if capture:
        out = proc.stdout.read()
    err = proc.stderr.read()
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(map(str, cmd))}\n{err.decode()}")
    return elapsed, peak, out.decode()


def make_tree(root: Path, files: int, size: int) -> None:
    block = os.urandom(size)
    for i in range(files):
        d = root / f"d{i % 100:02}" / f"e{i % 7}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i:06}.bin").write_bytes(block[i % 64:] + block[:i % 64])


def build_floor() -> str:
    """Path of the server crate's `put_floor` benchmark, built (not run) by cargo."""
    out = subprocess.run(["cargo", "bench", "-p", "ossvault-server", "--bench", "put_floor", "--no-run",
                          "--message-format=json"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg["target"]["name"] == "put_floor" \
                and msg.get("executable"):
            return msg["executable"]
    raise SystemExit("cargo built no put_floor benchmark")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--file-kib", type=int, default=16)
    ap.add_argument("--big-mib", type=int, default=1024)
    ap.add_argument("--saves", type=int, default=200)
    ap.add_argument("--index-files", default="10000,100000", help="comma-separated file counts")
    ap.add_argument("--workdir", default=os.environ.get("TMPDIR", "/var/tmp"))
    ap.add_argument("--only", default="abcd", help="which parts to run, e.g. 'a' or 'ad'")
    ap.add_argument("--floor", action="store_true", help="after (a), the floor under its small-file case")
    args = ap.parse_args()
    target = os.environ.get("CARGO_TARGET_DIR", "/var/tmp/ossvault-target")
    binary = Path(os.environ.get("OSSVAULT_BIN", f"{target}/release/ossvault"))
    rclone = shutil.which("rclone")
    floor_bin = build_floor() if args.floor and "a" in args.only else None
    floor_lines = []
    work = Path(tempfile.mkdtemp(prefix="sync-bench-", dir=args.workdir))
    server = ServerProcess(work / "data", work / "server.log", binary=binary)
    server.start()
    env = {**os.environ,
           "OSSVAULT_ENDPOINT": server.endpoint, "OSSVAULT_ACCESS_KEY_ID": ACCESS_KEY_ID,
           "OSSVAULT_ACCESS_KEY_SECRET": ACCESS_KEY_SECRET, "OSSVAULT_REGION": REGION,
           "OSSVAULT_CONFIG": str(work / "config.toml"), "OSSVAULT_CONFIG_DIR": str(work / "config"),
           "OSSVAULT_NO_KEYCHAIN": "1", "OSSVAULT_KEYSTORE_FILE": str(work / "keys.age"),
           "OSSVAULT_KEYSTORE_PASSPHRASE": "bench", "XDG_CACHE_HOME": str(work / "cache")}
    env.pop("RUST_LOG", None)
    cli = lambda *a, **k: run([str(binary), *map(str, a)], env, **k)  # noqa: E731
    cli("mb", f"oss://{BUCKET}")
    cli("key", "gen", "--name", "bench")
    rows = []
    ratios = []
    latencies = []
    try:
        if "a" in args.only:
            # ---- (a) initial sync ----
            small = work / "small"
            make_tree(small, args.files, args.file_kib << 10)
            big_dir = work / "big"
            big_dir.mkdir()
            if args.big_mib:
                write_random(big_dir / "big.bin", args.big_mib << 20)
            conf = work / "rclone.conf"
            if rclone:
                obscured = subprocess.run([rclone, "obscure", "bench-password"], capture_output=True,
                                          text=True, check=True).stdout.strip()
                conf.write_text(f"[secret]\ntype = crypt\nremote = {work / 'rclone-out'}\npassword = {obscured}\n")
            cases = [(f"{args.files:,} x {args.file_kib} KiB", small, args.files * (args.file_kib << 10))]
            if args.big_mib:
                cases.append((f"1 file of {args.big_mib} MiB", big_dir, args.big_mib << 20))
            for label, src, nbytes in cases:
                name = "small" if src == small else "big"
                cli("sync", "add", src, f"oss://{BUCKET}/{name}/", "--key", "bench", "--name", name)
                t, rss, out = cli("--json", "sync", "run", name, capture=True)
                report = json.loads(out.strip().splitlines()[-1])
                assert report["failed"] == [] and report["uploaded"] == (args.files if name == "small" else 1), report
                rows.append((f"(a) {label}: ossvault sync run (encrypted)", t, nbytes, rss))
                if rclone:
                    # Each copy into a folder of its own: nothing is deleted before a timed step
                    # (see the docstring).
                    t2, rss2, _ = run([rclone, "copy", str(src), f"secret:as-is-{name}", "--config",
                                       str(conf), "--transfers", "8", "--checkers", "8"])
                    rows.append((f"(a) {label}: rclone copy to crypt (local folder)", t2, nbytes, rss2))
                    ratios.append(f"(a) {label}: sync is {t2 / t:.2f}x rclone crypt's rate")
                    # rclone's local backend never fsyncs, the server fsyncs every object: the
                    # same copy followed by `sync` (as for cp) is the durable reference.
                    t2s, _, _ = run(["sh", "-c", f"'{rclone}' copy '{src}' secret:synced-{name} "
                                         f"--config '{conf}' --transfers 8 --checkers 8 && sync"])
                    rows.append((f"(a) {label}: rclone copy to crypt + sync", t2s, nbytes, 0))
                    ratios.append(f"(a) {label}: sync is {t2s / t:.2f}x rclone crypt + sync's rate")
                dst = work / f"cp-{name}"
                t3, _, _ = run(["sh", "-c", f"cp -r '{src}' '{dst}' && sync"])
                rows.append((f"(a) {label}: cp -r + sync (disk)", t3, nbytes, 0))
                ratios.append(f"(a) {label}: sync is {t3 / t:.2f}x cp -r + sync's rate")
                if floor_bin and src == small:
                    os.sync()
                    out = subprocess.run([floor_bin], capture_output=True, text=True, check=True,
                                         env={**os.environ, "BENCH_FILES": str(args.files),
                                              "BENCH_DIR": str(work)}).stdout
                    floor_lines = [f"(a) floor: {line}" for line in out.strip().splitlines()]
                    if rclone:
                        floor_lines.append(f"(a) floor: 2x rclone crypt's rate allows {t2 / 2:.2f} s "
                                           "for the whole sync")

        if "a" in args.only and "c" in args.only:
            # ---- (c) no-change restart ----
            t, rss, out = cli("--json", "sync", "run", "small", capture=True)
            report = json.loads(out.strip().splitlines()[-1])
            rows.append((f"(c) no-change restart, {report['scanned']} files, {report['hashed']} read", t, 0, rss))

        if "b" in args.only:
            # ---- (b) save-to-visible latency ----
            lat = work / "latency"
            lat.mkdir()
            cli("sync", "add", lat, f"oss://{BUCKET}/lat/", "--key", "bench", "--name", "lat")
            watcher = subprocess.Popen([str(binary), "sync", "run", "lat", "--watch"], env=env,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            bucket = oss2.Bucket(oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET), server.endpoint, BUCKET)
            time.sleep(1.0)
            latencies = []
            for i in range(args.saves):
                key = f"lat/doc{i % 10}.txt"
                try:
                    before = bucket.head_object(key).etag
                except oss2.exceptions.NotFound:
                    before = None
                start = time.perf_counter()
                (lat / f"doc{i % 10}.txt").write_text(f"save {i} " * (1 + i % 50))
                while True:
                    try:
                        if bucket.head_object(key).etag != before:
                            break
                    except oss2.exceptions.NotFound:
                        pass
                    if time.perf_counter() - start > 30:
                        raise SystemExit(f"save {i} never became visible")
                    time.sleep(0.005)
                latencies.append(time.perf_counter() - start)
                time.sleep(0.05)
            watcher.terminate()
            watcher.wait()
            latencies.sort()
            p50 = statistics.median(latencies)
            p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]

        if "d" in args.only:
            # ---- (d) peak RSS with many indexed files ----
            for count in map(int, str(args.index_files).split(",")):
                many = work / f"many{count}"
                make_tree(many, count, 64)
                name = f"many{count}"
                cli("sync", "add", many, f"oss://{BUCKET}/{name}/", "--key", "bench", "--name", name)
                t, rss_init, _ = cli("--json", "sync", "run", name, capture=True)
                rows.append((f"(d) initial sync of {count:,} x 64 B (encrypted)", t, 0, rss_init))
                t, rss_restart, out = cli("--json", "sync", "run", name, capture=True)
                rows.append((f"(d) no-change restart over {count:,} files", t, 0, rss_restart))
    finally:
        server.stop()

    print(f"\nmachine: {os.cpu_count()} vCPU, {os.uname().release}; rclone: "
          f"{subprocess.run([rclone, 'version'], capture_output=True, text=True).stdout.splitlines()[0] if rclone else 'not installed'}")
    print(f"{'what':<64} {'seconds':>8} {'MB/s':>8} {'peak RSS':>10}")
    for name, t, nbytes, rss in rows:
        rate = f"{nbytes / t / 1e6:8.1f}" if nbytes else " " * 8
        # A shell-wrapped command's peak is the shell's: not shown.
        peak = f"{rss / 1024:7.1f} MiB" if rss else f"{'-':>11}"
        print(f"{name:<64} {t:8.2f} {rate} {peak}")
    for line in ratios + floor_lines:
        print(line)
    if latencies:
        print(f"(b) save-to-visible over {len(latencies)} saves: p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
