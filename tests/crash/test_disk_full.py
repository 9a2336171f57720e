"""A full disk: the server's data directory on a 64 MiB tmpfs the test mounts itself.

With the default-style reserve (`--min-free-space 8MiB` here, to fit the small file system):
uploads are refused early with `503 ServiceUnavailable` naming the cause, before the disk is
really full; nothing is torn (every acknowledged object reads back byte-exact, no temp file or
unreferenced blob is left); metadata changes (ACL) and deletes still succeed; uploads resume once
space is freed. Then without a reserve (`--min-free-space 0`) the disk fills for real: the write
that meets ENOSPC is refused with the same answer, and after a restart every acknowledged object
still reads back.

Needs root (mount); skipped with the reason otherwise.
"""

from __future__ import annotations

import os
import random
import subprocess
from pathlib import Path

import oss2
import pytest

from ossvault_harness import ACCESS_KEY_ID, ACCESS_KEY_SECRET, ServerProcess

MIB = 1 << 20
INLINE_MAX = 64 << 10  # `ossvault serve --inline-max`
AES256 = {"x-oss-server-side-encryption": "AES256"}


@pytest.fixture
def small_fs(tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m,mode=0700", "tmpfs", str(mnt)],
                          capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (needs root): {done.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _bucket(endpoint: str) -> oss2.Bucket:
    return oss2.Bucket(oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET), endpoint, "full")


def _fill(bucket: oss2.Bucket, acked: dict[str, bytes], rng: random.Random, prefix: str):
    """PUTs 1 MiB objects until one is refused; returns the refusal."""
    for i in range(1000):
        key = f"{prefix}/{i:04d}"
        data = rng.randbytes(MIB)
        try:
            bucket.put_object(key, data, headers=AES256 if i % 2 else None)
        except oss2.exceptions.ServerError as e:
            return e
        acked[key] = data
    raise AssertionError("the disk never filled")


def _no_leftovers(data_dir: Path, acked: dict[str, bytes]):
    assert not any((data_dir / "tmp").iterdir()), "temp files left behind"
    blobs = [p for p in (data_dir / "blobs").rglob("*") if p.is_file()]
    # Objects of at most 64 KiB are kept inline in the metadata database, the others in a file.
    files = sum(len(data) > INLINE_MAX for data in acked.values())
    assert len(blobs) == files, f"{len(blobs)} blob files for {files} objects too large to be inline"


def _read_all(bucket: oss2.Bucket, acked: dict[str, bytes]):
    for key, data in acked.items():
        assert bucket.get_object(key).read() == data, key


def test_full_disk_refuses_writes_early_and_recovers(small_fs, tmp_path):
    rng = random.Random(4)
    data_dir = small_fs / "data"
    server = ServerProcess(data_dir, tmp_path / "server.log",
                           extra_args=["--min-free-space", "8MiB"])
    bucket = _bucket(server.start())
    bucket.create_bucket()
    acked: dict[str, bytes] = {}

    refused = _fill(bucket, acked, rng, "a")
    assert refused.status == 503 and refused.code == "ServiceUnavailable", refused
    assert "Insufficient storage" in refused.message, refused.message
    free = os.statvfs(small_fs).f_bavail * os.statvfs(small_fs).f_frsize
    assert free > 4 * MIB, f"refused early, with room to spare: {free} bytes free"
    # A declared length that does not fit is refused before its body is read.
    with pytest.raises(oss2.exceptions.ServerError) as big:
        bucket.put_object("big", b"x" * (4 * MIB))
    assert big.value.status == 503

    # Reads are unaffected; metadata changes and deletes still commit.
    _read_all(bucket, acked)
    first = next(iter(acked))
    bucket.put_object_acl(first, oss2.OBJECT_ACL_PUBLIC_READ)
    assert bucket.get_object_acl(first).acl == oss2.OBJECT_ACL_PUBLIC_READ
    victims = list(acked)[: len(acked) // 2]
    bucket.batch_delete_objects(victims[:10])
    for key in victims[10:]:
        bucket.delete_object(key)
    for key in victims:
        del acked[key]
    _no_leftovers(data_dir, acked)

    # Space is back: uploads resume.
    bucket.put_object("after", b"resumed")
    acked["after"] = b"resumed"
    _read_all(bucket, acked)
    assert server.stop() == 0

    # No reserve: the disk really fills; the write that meets ENOSPC gets the same answer and
    # nothing acknowledged is lost or torn.
    server.extra_args = ["--min-free-space", "0"]
    bucket = _bucket(server.start())
    refused = _fill(bucket, acked, rng, "b")
    assert refused.status == 503 and "Insufficient storage" in refused.message, refused
    _read_all(bucket, acked)
    server.kill()
    bucket = _bucket(server.start())
    _read_all(bucket, acked)
    _no_leftovers(data_dir, acked)
    assert server.stop() == 0
