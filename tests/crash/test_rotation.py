"""SSE-OSS master key rotation with objects present, and crashes in the middle of the re-wrap.

Rotation adds a master key version and re-wraps every object's and upload's data key onto it
(crates/server/src/sse/{keys,rewrap,mod}.rs); old versions stay until nothing uses them, and a
re-wrap that a crash interrupted is finished by `maintain` at the next start.

* test_kill_during_rewrap_then_restart: ~2100 objects (small, multipart, appended, some not
  encrypted) and an upload in progress. `POST /_kms/?Action=RotateMasterKey` (ossvault's own
  KMS action, V4-signed with the body hash as the KMS API requires) rotates and re-wraps before it
  answers; the server is SIGKILLed while that request is in flight, twice (the server log tells
  whether the kill landed between the durable rotation and the end of the re-wrap; the delay
  adapts until it did). After each restart the pending re-wrap must be finished by the server
  on its own and every object must read back byte-equal. Then the upload is completed, a
  rotation that runs to its end reports every encrypted object and the open upload re-wrapped,
  and after a clean restart (no key work pending any more) everything reads back again.
* test_scheduled_rotation_at_startup: `--master-key-rotation-days` rotates a key that is old
  enough at startup. The server is started with its clock moved forward by libfaketime (no
  test hook in the server); skipped where libfaketime is not installed (.ci/run installs it).
"""

from __future__ import annotations

import concurrent.futures as cf
import glob
import hashlib
import random
import re
import threading
import time
from pathlib import Path

import oss2
import pytest
import requests

from ossvault_harness import ACCESS_KEY_ID, ACCESS_KEY_SECRET, ServerProcess, kms_request

AES256 = {"x-oss-server-side-encryption": "AES256"}
BUCKET = "rotation"
SMALL = 2000  # enough that a re-wrap takes a noticeable time (~0.5 s on a debug build)
PLAIN = 100  # unencrypted objects: the re-wrap must leave them alone
MULTIPART = 6
HIT_TARGET = 2  # kills that must land in the middle of a re-wrap
MAX_ATTEMPTS = 8
LOG_ENV = {"RUST_LOG": "info"}  # the test reads the server's info lines about keys

ROTATED = re.compile(r"SSE-OSS master key rotated version=(\d+)")
REWRAPPED = re.compile(r"data keys re-wrapped version=(\d+) objects=(\d+) uploads=(\d+)")


def _bucket(endpoint: str) -> oss2.Bucket:
    return oss2.Bucket(oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET), endpoint, BUCKET, connect_timeout=15)


def _log_from(server: ServerProcess, offset: int) -> str:
    return server.log_path.read_bytes()[offset:].decode("utf-8", "replace")


def _log_size(server: ServerProcess) -> int:
    return server.log_path.stat().st_size if server.log_path.exists() else 0


def _wait_for(server: ServerProcess, offset: int, pattern: re.Pattern, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = pattern.search(_log_from(server, offset))
        if m:
            return m
        assert server.alive(), f"the server died; log tail:\n{server.log_tail()}"
        time.sleep(0.02)
    raise AssertionError(f"no {pattern.pattern!r} in the server log after {timeout}s:\n{server.log_tail()}")


def rotate_master_key(endpoint: str, timeout: float = 60) -> requests.Response:
    """ossvault's `POST /_kms/?Action=RotateMasterKey`, V4-signed with the (empty) body's hash."""
    query, headers = kms_request({"Action": "RotateMasterKey"})
    return requests.post(f"{endpoint}/_kms/?{query}", headers=headers, timeout=timeout)


def _endpoint_missing(r: requests.Response) -> bool:
    """The answers of a server that has no RotateMasterKey action (yet)."""
    text = r.text
    return r.status_code == 404 or any(c in text for c in ("NotImplemented", "InvalidBucketName"))


# -- the objects ----------------------------------------------------------------------------------


def _small(i: int) -> bytes:
    rng = random.Random(i)
    return rng.randbytes(rng.choice([0, 1, 15, 16, 17, 100, 1000, 4096, 20_000]))


def populate(endpoint: str):
    """Writes the objects; returns ({key: (sha256, encrypted)}, (key, upload id, part 2 bytes,
    whole content) of the upload left in progress)."""
    bucket = _bucket(endpoint)
    bucket.create_bucket()
    expected: dict[str, tuple[str, bool]] = {}
    lock = threading.Lock()

    def put(i: int):
        b = _bucket(endpoint)
        data = _small(i)
        encrypted = i >= PLAIN
        # Half of the encrypted ones ask by header, half get it from the bucket default below.
        key = f"small/{i:05d}"
        b.put_object(key, data, headers=AES256 if encrypted and i % 2 else {})
        with lock:
            expected[key] = (hashlib.sha256(data).hexdigest(), encrypted)

    # The unencrypted ones first, then the bucket default for the rest.
    with cf.ThreadPoolExecutor(8) as ex:
        list(ex.map(put, range(PLAIN)))
    bucket.put_bucket_encryption(oss2.models.ServerSideEncryptionRule(sse_algorithm="AES256"))
    with cf.ThreadPoolExecutor(8) as ex:
        list(ex.map(put, range(PLAIN, PLAIN + SMALL)))

    for m in range(MULTIPART):
        rng = random.Random(10_000 + m)
        parts = [rng.randbytes(100 * 1024 + rng.randrange(70_000)), rng.randbytes(rng.randrange(1, 50_000))]
        key = f"multipart/{m}"
        uid = bucket.init_multipart_upload(key).upload_id
        infos = [oss2.models.PartInfo(n, bucket.upload_part(key, uid, n, p).etag) for n, p in enumerate(parts, 1)]
        bucket.complete_multipart_upload(key, uid, infos)
        expected[key] = (hashlib.sha256(b"".join(parts)).hexdigest(), True)

    appended, pos = b"", 0
    for n in range(3):
        piece = random.Random(20_000 + n).randbytes(40_000)
        pos = bucket.append_object("appended", pos, piece).next_position
        appended += piece
    expected["appended"] = (hashlib.sha256(appended).hexdigest(), True)

    # An upload left open across the rotations: part 1 now, part 2 and Complete at the end.
    part1, part2 = random.Random(30_000).randbytes(150_000), random.Random(30_001).randbytes(5_000)
    uid = bucket.init_multipart_upload("pending").upload_id
    bucket.upload_part("pending", uid, 1, part1)
    return expected, ("pending", uid, part1, part2)


def verify(endpoint: str, expected: dict[str, tuple[str, bool]]):
    """Every object reads back byte-equal, with the SSE header iff it was written encrypted."""

    def check(item):
        key, (digest, encrypted) = item
        try:
            result = _bucket(endpoint).get_object(key)
            body = result.read()  # oss2 checks the CRC-64 of a whole-object read itself
        except Exception as e:  # noqa: BLE001
            return f"{key}: unreadable: {type(e).__name__}: {e}"
        if hashlib.sha256(body).hexdigest() != digest:
            return f"{key}: {len(body)} bytes that differ from what was written"
        sse = result.headers.get("x-oss-server-side-encryption")
        if sse != ("AES256" if encrypted else None):
            return f"{key}: x-oss-server-side-encryption is {sse!r}"
        return None

    with cf.ThreadPoolExecutor(8) as ex:
        problems = [p for p in ex.map(check, expected.items()) if p]
    assert not problems, f"{len(problems)} of {len(expected)} objects wrong, e.g.:\n" + "\n".join(problems[:10])
    listed = {o.key for o in oss2.ObjectIterator(_bucket(endpoint), max_keys=1000)}
    assert listed == set(expected), f"listing differs: {sorted(listed ^ set(expected))[:10]}"


# -- the tests ------------------------------------------------------------------------------------


def test_kill_during_rewrap_then_restart(tmp_path):
    server = ServerProcess(tmp_path / "data", tmp_path / "server.log", env=LOG_ENV)
    server.start()
    try:
        probe = rotate_master_key(server.endpoint)
        if _endpoint_missing(probe):
            pytest.skip(f"no RotateMasterKey on this server yet: {probe.status_code} {probe.text[:200]}")
        assert probe.status_code == 200, f"RotateMasterKey: {probe.status_code} {probe.text}"
        answer = probe.json()
        assert answer["Version"] == 2 and answer["RewrappedObjects"] == 0, answer

        expected, (pending_key, pending_uid, part1, part2) = populate(server.endpoint)
        encrypted = sum(enc for _, enc in expected.values())

        hits, delay, attempts = 0, 0.15, 0
        while hits < HIT_TARGET:
            attempts += 1
            assert attempts <= MAX_ATTEMPTS, (
                f"only {hits} of {HIT_TARGET} kills landed during a re-wrap in {MAX_ATTEMPTS} attempts"
            )
            mark = _log_size(server)
            answered: list = []

            def send():
                try:
                    answered.append(rotate_master_key(server.endpoint))
                except requests.RequestException as e:  # the kill
                    answered.append(e)

            sender = threading.Thread(target=send, daemon=True)
            sender.start()
            time.sleep(delay)
            server.kill()
            sender.join(30)
            log = _log_from(server, mark)
            rotated = ROTATED.findall(log)
            finished = REWRAPPED.findall(log)
            if not rotated:
                print(f"attempt {attempts}: killed {delay * 1000:.0f} ms in, before the rotation; later next time")
                delay *= 1.6
            elif finished:
                print(f"attempt {attempts}: the re-wrap finished within {delay * 1000:.0f} ms; earlier next time")
                delay /= 2
            else:
                hits += 1
                print(f"attempt {attempts}: SIGKILL {delay * 1000:.0f} ms into the re-wrap onto version {rotated[-1]}")
                delay *= 1.37  # land somewhere else in the next re-wrap
            # Restart: the startup maintenance finishes a pending re-wrap by itself.
            mark = _log_size(server)
            server.start()
            if rotated and not finished:
                m = _wait_for(server, mark, REWRAPPED)
                assert m.group(1) == rotated[-1], f"re-wrapped onto {m.group(1)}, not {rotated[-1]}"
                print(f"  restart re-wrapped the remaining {m.group(2)} objects and {m.group(3)} uploads")
                assert int(m.group(2)) <= encrypted
            verify(server.endpoint, expected)

        # The upload kept across the rotations completes with the right content.
        bucket = _bucket(server.endpoint)
        bucket.upload_part(pending_key, pending_uid, 2, part2)
        parts = bucket.list_parts(pending_key, pending_uid).parts
        bucket.complete_multipart_upload(pending_key, pending_uid,
                                         [oss2.models.PartInfo(p.part_number, p.etag) for p in parts])
        expected[pending_key] = (hashlib.sha256(part1 + part2).hexdigest(), True)
        encrypted += 1
        assert hashlib.sha256(bucket.get_object(pending_key).read()).hexdigest() == expected[pending_key][0]

        # A rotation that runs to its end re-wraps every encrypted object and open upload, and
        # nothing else.
        uid = bucket.init_multipart_upload("open-upload").upload_id
        r = rotate_master_key(server.endpoint)
        assert r.status_code == 200, r.text
        report = r.json()
        assert (report["RewrappedObjects"], report["RewrappedUploads"]) == (encrypted, 1), report
        bucket.abort_multipart_upload("open-upload", uid)

        # A clean restart: nothing is pending any more, and everything still reads.
        assert server.stop() == 0
        mark = _log_size(server)
        server.start()
        verify(server.endpoint, expected)
        log = _log_from(server, mark)
        assert not ROTATED.search(log) and not REWRAPPED.search(log), f"unexpected key work at a clean start:\n{log}"
        assert server.stop() == 0
    except BaseException:
        print(f"server log tail:\n{server.log_tail(30)}")
        raise
    finally:
        if server.alive():
            server.kill()


def _libfaketime() -> str | None:
    for pattern in ("/usr/lib/*/faketime/libfaketime.so.1", "/usr/lib/faketime/libfaketime.so.1",
                    "/usr/local/lib/faketime/libfaketime.so.1"):
        found = sorted(glob.glob(pattern))
        if found:
            return found[0]
    return None


def test_scheduled_rotation_at_startup(tmp_path):
    lib = _libfaketime()
    if lib is None:
        pytest.skip("libfaketime is not installed (Debian package faketime)")
    server = ServerProcess(tmp_path / "data", tmp_path / "server.log", env=LOG_ENV)
    server.start()
    try:
        bucket = _bucket(server.endpoint)
        bucket.create_bucket()
        expected = {}
        for i in range(60):
            data = _small(i)
            bucket.put_object(f"o{i}", data, headers=AES256 if i % 3 else {})
            expected[f"o{i}"] = (hashlib.sha256(data).hexdigest(), bool(i % 3))
        encrypted = sum(enc for _, enc in expected.values())
        assert server.stop() == 0

        def start_at(days_ahead: int, rotation_days: int) -> str:
            server.env = {**LOG_ENV, "LD_PRELOAD": lib, "FAKETIME": f"+{days_ahead}d", "DONT_FAKE_MONOTONIC": "1"}
            server.extra_args = ["--master-key-rotation-days", str(rotation_days)]
            mark = _log_size(server)
            server.start()
            time.sleep(0.3)
            assert server.stop() == 0  # waits for a re-wrap in progress
            return _log_from(server, mark)

        # 91 days on, with a 365-day period: the key is not due.
        log = start_at(91, 365)
        assert not ROTATED.search(log), log
        # 91 days on, with the default 90-day period: rotated at startup, everything re-wrapped.
        log = start_at(91, 90)
        assert ROTATED.search(log), f"no rotation at startup with a 91-day-old key:\n{log}"
        m = REWRAPPED.search(log)
        assert m, f"no re-wrap after the rotation at startup:\n{log}"
        assert (m.group(1), int(m.group(2))) == ("2", encrypted), m.group(0)

        # Back on the real clock (requests are signed with it): no further rotation, all reads.
        server.env, server.extra_args = dict(LOG_ENV), []
        mark = _log_size(server)
        server.start()
        verify(server.endpoint, expected)
        assert not ROTATED.search(_log_from(server, mark))
        assert server.stop() == 0
    except BaseException:
        print(f"server log tail:\n{server.log_tail(30)}")
        raise
    finally:
        if server.alive():
            server.kill()


def test_appends_during_rotations_succeed(tmp_path):
    """A re-wrap changes an object's wrapped key while an append to it is in flight; the data
    key is the same, so the append must still succeed (it used to answer 500 InternalError
    "the object's encryption changed during the append" after committing)."""
    server = ServerProcess(tmp_path / "data", tmp_path / "server.log", env=LOG_ENV)
    server.start()
    try:
        probe = rotate_master_key(server.endpoint)
        if _endpoint_missing(probe):
            pytest.skip(f"no RotateMasterKey on this server yet: {probe.status_code} {probe.text[:200]}")
        bucket = _bucket(server.endpoint)
        bucket.create_bucket()
        for i in range(200):  # so that each re-wrap takes a while
            bucket.put_object(f"filler/{i}", b"f", headers=AES256)
        stop = threading.Event()
        rotations = []

        def rotator():
            while not stop.is_set():
                rotations.append(rotate_master_key(server.endpoint).status_code)

        thread = threading.Thread(target=rotator, daemon=True)
        thread.start()
        piece = random.Random(7).randbytes(512 * 1024)
        position, errors, deadline = 0, [], time.monotonic() + 3
        try:
            while time.monotonic() < deadline and len(errors) < 5:
                try:
                    r = bucket.append_object("appended", position, piece, headers=AES256 if position == 0 else None)
                    position = r.next_position
                except oss2.exceptions.OssError as e:
                    errors.append(f"append at {position}: {e.status} {e.code} {e.message}")
                    position = bucket.head_object("appended").content_length
        finally:
            stop.set()
            thread.join(30)
        assert set(rotations) == {200} and len(rotations) >= 3, rotations
        assert not errors, f"{len(errors)} appends failed during {len(rotations)} rotations:\n" + "\n".join(errors)
        body = bucket.get_object("appended").read()
        n = len(body) // len(piece)
        assert n >= 3 and body == piece * n
        assert server.stop() == 0
    finally:
        if server.alive():
            server.kill()
