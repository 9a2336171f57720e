"""Bit rot: one random bit flipped in the stored blob of every object, behind the server's back.

N objects (env OSSVAULT_BITROT_OBJECTS, default 400: half plain, half SSE-OSS; sizes from 1 byte
to 2 MiB, so both the check-before-answering path of small objects and the cut-off path of large
ones run) are written through oss2; then one random bit of each object's blob file is flipped.

1. An offline `ossvault scrub --no-quarantine` on the stopped server's data directory names
   exactly the N damaged objects.
2. The server is started again and every object is read twice, once through oss2 (its own CRC
   check switched off, so that only the server stands between the client and bad bytes) and once
   through curl on a presigned URL, alternating which client reads first (the first read of an
   object finds the damage, the second sees the quarantine). Every response must be an error
   status or a body cut short: a complete response with wrong bytes counts as a failure, and the
   test asserts there are 0.
3. A final `ossvault scrub` reports all N, as already quarantined.

Run with OSSVAULT_BITROT_OBJECTS=1000 for the benchmark figure (1,000 bits over 1,000 objects).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
from pathlib import Path

import oss2

from ossvault_harness import ACCESS_KEY_ID, ACCESS_KEY_SECRET, ServerProcess

AES256 = {"x-oss-server-side-encryption": "AES256"}


# Every content in a file of its own (`serve --inline-max 0`).
INLINE_OFF = ["--inline-max", "0"]

def _blob_files(data_dir: Path) -> set[Path]:
    return {p for p in (data_dir / "blobs").rglob("*") if p.is_file()}


def _size(rng: random.Random, i: int) -> int:
    if i % 25 == 0:
        return rng.randrange(1 << 20, 2 << 20)  # beyond the check-before-answering size
    return rng.choice([1, rng.randrange(2, 4096), rng.randrange(4096, 300_000)])


def _scrub(server: ServerProcess, *extra: str) -> tuple[int, dict]:
    done = subprocess.run(
        [str(server.binary), "scrub", "--json", "--data-dir", str(server.data_dir), *extra],
        capture_output=True,
        timeout=600,
    )
    assert done.stdout, f"scrub printed nothing; stderr: {done.stderr.decode()}"
    return done.returncode, json.loads(done.stdout)


def _curl(url: str, out: Path) -> tuple[int, int, int]:
    """(curl exit status, HTTP status, bytes received)."""
    done = subprocess.run(
        ["curl", "-sS", "-o", str(out), "-w", "%{http_code}", url],
        capture_output=True,
        timeout=120,
    )
    status = int(done.stdout.decode() or 0)
    return done.returncode, status, out.stat().st_size if out.exists() else 0


def test_flipped_bits_are_never_served_and_scrub_names_them_all(tmp_path):
    count = int(os.environ.get("OSSVAULT_BITROT_OBJECTS", "400"))
    rng = random.Random(int(os.environ.get("OSSVAULT_BITROT_SEED", "14")))
    # Bits are flipped in content files: every object gets one (small content is otherwise kept
    # inline in the metadata, whose damage the store's own tests cover).
    server = ServerProcess(tmp_path / "data", tmp_path / "server.log", extra_args=INLINE_OFF)
    endpoint = server.start()
    bucket = oss2.Bucket(oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET), endpoint, "rot")
    bucket.create_bucket()

    objects: dict[str, tuple[bytes, Path]] = {}
    for i in range(count):
        key = f"{'sse' if i % 2 else 'plain'}/{i:05d}"
        data = rng.randbytes(_size(rng, i))
        before = _blob_files(server.data_dir)
        bucket.put_object(key, data, headers=AES256 if i % 2 else None)
        (blob,) = _blob_files(server.data_dir) - before
        objects[key] = (data, blob)
    server.stop()

    for key, (_, blob) in objects.items():
        raw = bytearray(blob.read_bytes())
        at = rng.randrange(len(raw))
        raw[at] ^= 1 << rng.randrange(8)
        blob.write_bytes(raw)

    # 1. The scrub finds every one of them (reporting only, so the reads below find them too).
    code, report = _scrub(server, "--no-quarantine")
    assert code == 1, report
    assert {c["key"] for c in report["corrupt"]} == set(objects), report["corrupt"][:5]
    assert report["objects"] == 0 and not report["unchecked"], report

    # 2. Every read of every object: an error or a cut body, never complete wrong content.
    endpoint = server.start()
    bucket = oss2.Bucket(oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET), endpoint, "rot",
                         enable_crc=False)
    outcomes = {"error status": 0, "cut short": 0, "complete and wrong": 0, "complete and right": 0}
    wrong_bytes = 0

    def by_oss2(key: str, data: bytes) -> None:
        nonlocal wrong_bytes
        try:
            got = bucket.get_object(key).read()
        except oss2.exceptions.ServerError as e:
            assert e.status == 500 and "corrupt" in e.message, (key, e)
            outcomes["error status"] += 1
            return
        except Exception:  # noqa: BLE001 - the cut body surfaces as requests'/urllib3's errors
            outcomes["cut short"] += 1
            return
        if len(got) < len(data):
            outcomes["cut short"] += 1
        elif got == data:
            outcomes["complete and right"] += 1
        else:
            outcomes["complete and wrong"] += 1
            wrong_bytes += sum(a != b for a, b in zip(got, data))

    def by_curl(key: str, data: bytes) -> None:
        nonlocal wrong_bytes
        out = tmp_path / "curl.out"
        out.unlink(missing_ok=True)
        code, status, received = _curl(bucket.sign_url("GET", key, 300), out)
        if status != 200:
            assert status == 500 and b"corrupt" in out.read_bytes(), (key, status)
            outcomes["error status"] += 1
        elif code != 0 or received < len(data):
            outcomes["cut short"] += 1
        elif out.read_bytes() == data:
            outcomes["complete and right"] += 1
        else:
            outcomes["complete and wrong"] += 1
            wrong_bytes += sum(a != b for a, b in zip(out.read_bytes(), data))

    for n, (key, (data, _)) in enumerate(objects.items()):
        readers = (by_oss2, by_curl) if n % 2 else (by_curl, by_oss2)
        for read in readers:
            read(key, data)
    print(f"bit rot: {count} bits over {count} objects, {2 * count} reads: {outcomes}, "
          f"{wrong_bytes} wrong bytes in complete responses")
    assert outcomes["complete and wrong"] == 0 and wrong_bytes == 0, outcomes
    assert outcomes["complete and right"] == 0, outcomes
    assert outcomes["error status"] >= count, outcomes  # every second read is the quarantine
    server.stop()

    # 3. All quarantined by the reads: a scrub lists them as already marked.
    code, report = _scrub(server)
    assert code == 1
    assert {c["key"] for c in report["corrupt"]} == set(objects)
    assert all(c["already_marked"] for c in report["corrupt"]), report["corrupt"][:5]


def test_online_scrub_of_a_running_server(tmp_path):
    """`ossvault scrub` without --data-dir: the running server the connection reaches scrubs
    itself (ossvault's admin API, owner-signed), at the rate asked, and quarantines exactly the
    objects whose blobs had a bit flipped behind its back while it ran."""
    rng = random.Random(41)
    server = ServerProcess(tmp_path / "data", tmp_path / "server.log", extra_args=INLINE_OFF)
    endpoint = server.start()
    bucket = oss2.Bucket(oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET), endpoint, "rot",
                         enable_crc=False)
    bucket.create_bucket()
    kms = {"x-oss-server-side-encryption": "KMS"}
    blobs: dict[str, Path] = {}
    for i in range(60):
        key = f"o/{i:03d}"
        before = _blob_files(server.data_dir)
        bucket.put_object(key, rng.randbytes(rng.randrange(1, 200_000)),
                          headers=[None, AES256, kms][i % 3])
        (blobs[key],) = _blob_files(server.data_dir) - before
    damaged = set(rng.sample(sorted(blobs), 20))
    for key in damaged:
        raw = bytearray(blobs[key].read_bytes())
        raw[rng.randrange(len(raw))] ^= 1 << rng.randrange(8)
        blobs[key].write_bytes(raw)

    def online_scrub(*extra: str) -> tuple[int, dict]:
        done = subprocess.run(
            [str(server.binary), "scrub", "--json", "-e", endpoint, "-i", ACCESS_KEY_ID,
             "-k", ACCESS_KEY_SECRET, "--region", "cn-hangzhou", *extra],
            capture_output=True, timeout=300, env={**os.environ, "HOME": str(tmp_path)},
        )
        assert done.stdout, f"scrub printed nothing; stderr: {done.stderr.decode()}"
        return done.returncode, json.loads(done.stdout)

    rate = 1 << 20
    code, report = online_scrub("--max-rate", "1MiB")
    assert code == 1, report
    assert {c["key"] for c in report["corrupt"]} == damaged, report["corrupt"]
    assert not any(c["already_marked"] for c in report["corrupt"])
    assert report["objects"] == 60 - len(damaged) and not report["unchecked"], report
    # The token bucket starts empty: the bound holds from the first second.
    assert report["bytes"] > 2 * rate and report["bytes_per_sec"] <= rate * 1.05, report

    # Quarantined: reads of the damaged objects answer an error naming it; the others work.
    for key in sorted(blobs):
        if key in damaged:
            try:
                bucket.get_object(key).read()
                raise AssertionError(f"{key} was served")
            except oss2.exceptions.ServerError as e:
                assert e.status == 500 and "corrupt" in e.message, (key, e)
        else:
            bucket.get_object(key).read()

    code, report = online_scrub("--max-rate", "0")
    assert code == 1 and all(c["already_marked"] for c in report["corrupt"]), report

    # Only the owner, signed: an anonymous request is refused.
    done = subprocess.run(["curl", "-sS", "-X", "POST", "-o", "/dev/null", "-w", "%{http_code}",
                           f"{endpoint}/_admin/?Action=Scrub"], capture_output=True, timeout=60)
    assert done.stdout.decode() == "403", done
    assert server.stop() == 0
