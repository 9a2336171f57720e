"""`ossvault backup` / `ossvault restore` on the command line (offline: the server is stopped;
a running server holds its data directory locked and the backup is refused without touching
it). The restored directory, served with the original root secret, reads back every object
(plain and SSE-OSS) byte-exact. (Backup while writers run: crates/server/tests/backup.rs.)"""

from __future__ import annotations

import random
import subprocess

import oss2

from ossvault_harness import ACCESS_KEY_ID, ACCESS_KEY_SECRET, ServerProcess


def _cli(server: ServerProcess, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(server.binary), *args], capture_output=True, timeout=120)


def test_backup_and_restore_on_the_command_line(tmp_path):
    rng = random.Random(5)
    server = ServerProcess(tmp_path / "data", tmp_path / "server.log")
    bucket = oss2.Bucket(oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET), server.start(), "keep")
    bucket.create_bucket()
    objects = {}
    for i in range(30):
        data = rng.randbytes(rng.randrange(1, 300_000))
        sse = {"x-oss-server-side-encryption": "AES256"} if i % 2 else None
        bucket.put_object(f"o/{i}", data, headers=sse)
        objects[f"o/{i}"] = data

    busy = _cli(server, "backup", "--data-dir", str(server.data_dir), "--out", str(tmp_path / "b0"))
    assert busy.returncode != 0 and b"in use" in busy.stderr, busy.stderr
    assert not (tmp_path / "b0").exists()
    assert server.stop() == 0

    done = _cli(server, "backup", "--data-dir", str(server.data_dir), "--out", str(tmp_path / "b1"))
    assert done.returncode == 0, done.stderr
    assert b"30 objects" in done.stdout, done.stdout
    done = _cli(server, "restore", "--from", str(tmp_path / "b1"), "--data-dir",
                str(tmp_path / "restored"))
    assert done.returncode == 0, done.stderr

    restored = ServerProcess(tmp_path / "restored", tmp_path / "restored.log",
                             extra_args=["--root-secret-file", str(tmp_path / "data.root-key")])
    bucket = oss2.Bucket(oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET), restored.start(), "keep")
    for key, data in objects.items():
        assert bucket.get_object(key).read() == data, key
    assert restored.stop() == 0
