"""Two-way folder sync against another writer, the official oss2 SDK, on the real server:
objects oss2 writes (client-side encrypted with its RsaProvider, the key pair imported into
ossvault) appear decrypted in the folder, an overwrite by oss2 replaces the local file, a
deletion by oss2 removes it, and a file changed on both sides keeps both versions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import oss2
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: ossvault_harness

from ossvault_harness import ACCESS_KEY_ID, ACCESS_KEY_SECRET, REGION, ServerProcess, server_binary  # noqa: E402

MATDESC = {"owner": "sync-test"}


@pytest.fixture
def env(tmp_path):
    server = ServerProcess(tmp_path / "data", tmp_path / "server.log")
    server.start()
    k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()).decode()
    public = k.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    (tmp_path / "private.pem").write_text(private)
    e = {
        **os.environ,
        "OSSVAULT_ENDPOINT": server.endpoint,
        "OSSVAULT_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "OSSVAULT_ACCESS_KEY_SECRET": ACCESS_KEY_SECRET,
        "OSSVAULT_REGION": REGION,
        "OSSVAULT_CONFIG": str(tmp_path / "config.toml"),
        "OSSVAULT_CONFIG_DIR": str(tmp_path / "config"),
        "OSSVAULT_NO_KEYCHAIN": "1",
        "OSSVAULT_KEYSTORE_FILE": str(tmp_path / "config" / "keystore.age"),
        "OSSVAULT_KEYSTORE_PASSPHRASE": "sync two-way passphrase",
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    e.pop("RUST_LOG", None)

    def cli(*args, check=True):
        r = subprocess.run([str(server_binary()), *map(str, args)], env=e, capture_output=True, text=True)
        if check:
            assert r.returncode == 0, f"ossvault {args} failed:\n{r.stdout}\n{r.stderr}"
        return r

    def run_json(*args):
        out = cli("--json", *args).stdout.strip()
        return json.loads(out)

    cli("key", "import", "--name", "sdk", tmp_path / "private.pem")
    cli("mb", "oss://twoway")
    auth = oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET)
    crypto = oss2.CryptoBucket(auth, server.endpoint, "twoway",
                               crypto_provider=oss2.RsaProvider(
                                   key_pair={"public_key": public, "private_key": private}, mat_desc=MATDESC))
    plain = oss2.Bucket(auth, server.endpoint, "twoway")
    yield type("Env", (), {"cli": staticmethod(cli), "json": staticmethod(run_json), "oss2": crypto,
                           "plain": plain, "root": tmp_path, "server": server})
    assert server.stop() == 0


def test_changes_made_with_oss2_reach_the_folder_and_conflicts_keep_both(env):
    folder = env.root / "Shared"
    folder.mkdir()
    env.cli("sync", "add", folder, "oss://twoway/team/", "--key", "sdk", "--mode", "two-way", "--name", "team")
    (folder / "a.txt").write_text("a, first version")
    (folder / "b.txt").write_text("b, first version")
    r = env.json("sync", "run", "team")
    assert r["uploaded"] == 2, r

    # What sync stored is ciphertext.
    stored = env.plain.get_object("team/a.txt").read()
    assert b"first version" not in stored

    # oss2 writes a new file and overwrites another, client-side encrypted.
    env.oss2.put_object("team/from-oss2/new.txt", b"written by oss2")
    env.oss2.put_object("team/b.txt", b"b, rewritten by oss2")
    r = env.json("sync", "run", "team")
    assert r["downloaded"] == 2, r
    assert (folder / "from-oss2" / "new.txt").read_bytes() == b"written by oss2"
    assert (folder / "b.txt").read_text() == "b, rewritten by oss2"

    # Both sides change a.txt: both versions survive, locally and remotely.
    (folder / "a.txt").write_text("a, edited locally")
    env.oss2.put_object("team/a.txt", b"a, edited with oss2")
    r = env.json("sync", "run", "team")
    assert len(r["conflicts"]) == 1, r
    copy = r["conflicts"][0]
    assert copy.startswith("a.conflict-") and copy.endswith(".txt"), copy
    assert (folder / "a.txt").read_text() == "a, edited locally"
    assert (folder / copy).read_text() == "a, edited with oss2"
    # The same run uploaded the conflict copy as a new file (and a.txt over oss2's version).
    assert r["uploaded"] == 1, r
    keys = {o.key for o in oss2.ObjectIterator(env.plain, prefix="team/")}
    assert f"team/{copy}" in keys
    back = env.root / "a.back"
    env.cli("cp", "oss://twoway/team/a.txt", back)
    assert back.read_text() == "a, edited locally"
    # oss2's version of a.txt is also kept in the trash, readable by oss2 itself.
    trashed = [k for k in keys if k.startswith("team/.ossvault-trash/a.txt/@")]
    assert any(env.oss2.get_object(k).read() == b"a, edited with oss2" for k in trashed), trashed
    conflicts = env.cli("--json", "sync", "conflicts", "team").stdout.strip().splitlines()
    assert [json.loads(c)["copy"] for c in conflicts] == [copy]

    # A deletion with oss2 removes the local file (kept in the folder's own trash).
    env.plain.delete_object("team/from-oss2/new.txt")
    r = env.json("sync", "run", "team")
    assert r["deleted_local"] == 1, r
    assert not (folder / "from-oss2" / "new.txt").exists()
    assert any((folder / ".ossvault-trash").rglob("new.txt@*"))

    status = env.json("sync", "status", "team")
    assert status["state"] == "stopped" and status["indexed"] == 3, status  # a.txt, b.txt and the conflict copy
