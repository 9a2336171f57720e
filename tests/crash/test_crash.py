"""Crash safety: SIGKILL the server in the middle of concurrent PUTs/overwrites, restart it on the
same data directory, and check that nothing is torn and no acknowledged write is lost.

Every write is recorded with its payload's SHA-256, the monotonic time it was sent and the time
its 200 came back (never, if the server died first). After each restart, for every key:

* the key is readable iff it had an acknowledged write (a key never acknowledged may be absent, or
  hold one of the versions attempted for it: the server may have committed it just before dying);
* its bytes are exactly one attempted version: never a mix, truncation or stale block;
* that version was not superseded: no acknowledged write to the key was *sent after it had been
  acknowledged* (that would be a lost acknowledged write);
* the ETag and the CRC-64 the server reports match the bytes it serves, and the listing shows
  exactly the readable keys;
* `tmp/` in the data directory is empty, and no orphaned content file is left in `blobs/`.
"""

from __future__ import annotations

import hashlib
import math
import random
import threading
import time
from dataclasses import dataclass

import crcmod
import oss2
import pytest

from ossvault_harness import ACCESS_KEY_ID, ACCESS_KEY_SECRET, ServerProcess

WRITERS = 16
KEYS = [f"k{i}" for i in range(50)]
MAX_SIZE = 300 * 1024
CYCLES = 3
LOAD_SECONDS = [1.0, 1.5, 2.0]  # load before each SIGKILL
BUCKET = "crash-test"

_crc64 = crcmod.mkCrcFun(0x142F0E1EBA9EA3693, initCrc=0, xorOut=0xFFFFFFFFFFFFFFFF, rev=True)


@dataclass
class Attempt:
    key: str
    sha256: str
    sent: float
    acked: float = math.inf  # monotonic time the 200 arrived; inf = outcome unknown
    error: str | None = None
    failed_at: float | None = None


def _bucket(endpoint: str) -> oss2.Bucket:
    return oss2.Bucket(oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET), endpoint, BUCKET, connect_timeout=15)


def _writer(endpoint, seed, stop, attempts, lock):
    rng = random.Random(seed)
    bucket = _bucket(endpoint)
    while not stop.is_set():
        key = rng.choice(KEYS)
        payload = rng.randbytes(rng.randint(0, MAX_SIZE))
        attempt = Attempt(key, hashlib.sha256(payload).hexdigest(), time.monotonic())
        with lock:
            attempts.append(attempt)
        try:
            result = bucket.put_object(key, payload)  # oss2 checks the returned CRC-64 itself
            assert result.status == 200
            attempt.acked = time.monotonic()
        except Exception as e:  # the kill, or a real failure (told apart by the time)
            attempt.failed_at = time.monotonic()
            attempt.error = f"{type(e).__name__}: {e}"
            return


def _run_load(server: ServerProcess, seconds: float, cycle: int, attempts: list) -> float:
    """Writes from WRITERS threads, SIGKILLs the server after `seconds`; returns the kill time."""
    stop = threading.Event()
    lock = threading.Lock()
    threads = [
        threading.Thread(target=_writer, args=(server.endpoint, cycle * 1000 + i, stop, attempts, lock), daemon=True)
        for i in range(WRITERS)
    ]
    for t in threads:
        t.start()
    time.sleep(seconds)
    killed_at = time.monotonic()
    server.kill()
    stop.set()
    for t in threads:
        t.join(30)
        assert not t.is_alive(), "a writer hung after the server was killed"
    return killed_at


def _verify(server: ServerProcess, attempts: list[Attempt]):
    tmp = server.data_dir / "tmp"
    leftovers = sorted(p.name for p in tmp.iterdir()) if tmp.exists() else []
    assert leftovers == [], f"tmp/ not emptied at startup: {leftovers[:10]}"

    by_key: dict[str, list[Attempt]] = {k: [] for k in KEYS}
    for a in attempts:
        by_key[a.key].append(a)

    bucket = _bucket(server.endpoint)
    readable = set()
    problems = []
    for key, tries in by_key.items():
        acked = [a for a in tries if a.acked < math.inf]
        try:
            result = bucket.get_object(key)
            body = result.read()
        except oss2.exceptions.NoSuchKey:
            if acked:
                problems.append(f"{key}: {len(acked)} acknowledged writes, but the key is gone")
            continue
        except Exception as e:
            problems.append(f"{key}: unreadable: {type(e).__name__}: {e}")
            continue
        readable.add(key)
        digest = hashlib.sha256(body).hexdigest()
        matching = [a for a in tries if a.sha256 == digest]
        if not matching:
            problems.append(f"{key}: {len(body)} bytes that no write sent (torn or corrupt)")
            continue
        # The version read must not predate an acknowledged write sent after it was acknowledged.
        latest_ack_sent = max((a.sent for a in acked), default=-math.inf)
        if not any(a.acked >= latest_ack_sent for a in matching):
            problems.append(f"{key}: serves a version superseded by a later acknowledged write (lost write)")
        if result.etag != hashlib.md5(body).hexdigest().upper():
            problems.append(f"{key}: ETag {result.etag} does not match the bytes served")
        if result.server_crc is not None and result.server_crc != _crc64(body):
            problems.append(f"{key}: x-oss-hash-crc64ecma {result.server_crc} does not match the bytes served")
        if int(result.headers["Content-Length"]) != len(body):
            problems.append(f"{key}: Content-Length {result.headers['Content-Length']} != {len(body)}")
    assert not problems, "\n".join(problems)

    listed = {o.key for o in oss2.ObjectIterator(bucket)}
    assert listed == readable, f"listing disagrees with GET: only listed {listed - readable}, only read {readable - listed}"

    # The store removes unreferenced content at startup (crates/server/src/store/mod.rs): at most
    # one content file per live object may remain, whatever was in flight at the kill.
    blobs = server.data_dir / "blobs"
    if blobs.exists():
        files = [p for p in blobs.rglob("*") if p.is_file()]
        assert len(files) <= len(readable), f"{len(files)} content files for {len(readable)} objects: orphans leaked"


def test_kill_during_concurrent_overwrites(tmp_path):
    server = ServerProcess(tmp_path / "data", tmp_path / "server.log")
    server.start()
    oss2.Bucket(oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET), server.endpoint, BUCKET).create_bucket()

    attempts: list[Attempt] = []
    try:
        for cycle in range(CYCLES):
            before = len(attempts)
            killed_at = _run_load(server, LOAD_SECONDS[cycle], cycle, attempts)
            this_cycle = attempts[before:]
            acked = sum(a.acked < math.inf for a in this_cycle)
            # Failures that happened before the kill are server errors under load, not the crash.
            early = [a.error for a in this_cycle if a.failed_at is not None and a.failed_at < killed_at]
            assert not early, f"writes failed before the kill: {early[:5]}"
            assert acked >= WRITERS, f"cycle {cycle}: only {acked} writes acknowledged in {LOAD_SECONDS[cycle]}s"
            print(f"cycle {cycle}: {len(this_cycle)} writes sent, {acked} acknowledged before SIGKILL")

            server.start()
            _verify(server, attempts)
        code = server.stop()
        assert code == 0, f"exit status {code} after SIGTERM"
    except BaseException:
        print(f"server log tail:\n{server.log_tail(60)}")
        raise
    finally:
        if server.alive():
            server.kill()


def test_verifier_sees_a_torn_object(tmp_path):
    """The checks above must be able to fail: truncate one stored content file behind the
    server's back and expect the verification to flag it."""
    server = ServerProcess(tmp_path / "data", tmp_path / "server.log")
    server.start()
    try:
        bucket = _bucket(server.endpoint)
        bucket.create_bucket()
        attempts = []
        for i, key in enumerate(KEYS[:3]):
            payload = random.Random(i).randbytes(100_000 + i)
            attempts.append(Attempt(key, hashlib.sha256(payload).hexdigest(), time.monotonic()))
            bucket.put_object(key, payload)
            attempts[-1].acked = time.monotonic()
        assert server.stop() == 0
        files = sorted((p for p in (server.data_dir / "blobs").rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
        assert files, "no content files found under blobs/: the layout assumed by this test changed"
        victim = files[-1]
        victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
        server.start()
        with pytest.raises(AssertionError, match="torn|unreadable|does not match|Content-Length|gone"):
            _verify(server, attempts)
    finally:
        if server.alive():
            server.stop()


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-v", "-s"]))
