"""Client-side encryption interop, offline: objects exchanged between ossvault-crypto (through its
example binary `cse`, crates/crypto/examples/cse.rs) and the official SDKs' own cipher classes
(oss2 RsaProvider/AESCTRCipher, alibabacloud-oss-v2 MasterRsaCipher/AESCtrCipherBuilder), in both
directions, simple and multipart, with ranged reads. The sealed format is checked against an
independent reading of crates/crypto/FORMAT.md with pyca/cryptography.

Needs no server: the SDKs encrypt and decrypt in memory, exactly as they do around their requests.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import os
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ROOT = Path(__file__).resolve().parents[2]
MATDESC = {"tag": "value"}


@pytest.fixture(scope="module")
def cse() -> Path:
    """Builds the example binary and returns its path."""
    out = subprocess.run(
        ["cargo", "build", "-q", "-p", "ossvault-crypto", "--example", "cse", "--message-format=json"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout
    for line in out.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg["target"]["name"] == "cse" and msg.get("executable"):
            return Path(msg["executable"])
    raise AssertionError("cargo did not report the cse example binary")


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                              serialization.NoEncryption()).decode()
    public = k.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    (d / "private.pem").write_text(private)
    (d / "public.pem").write_text(public)
    return SimpleNamespace(private=private, public=public, private_path=d / "private.pem",
                           public_path=d / "public.pem")


def pattern(n: int) -> bytes:
    return bytes((i * 7 + i // 251) % 256 for i in range(n))


def run(cse: Path, *args) -> None:
    r = subprocess.run([str(cse), *map(str, args)], capture_output=True, text=True)
    assert r.returncode == 0, f"cse {' '.join(map(str, args))} failed:\n{r.stderr}"


# ---- the two SDKs, offline ----------------------------------------------------------------------

class Oss2:
    """oss2 2.19.1: what CryptoBucket.put_object / init_multipart_upload / upload_part / get_object
    do around their requests."""

    def __init__(self, keys):
        import oss2
        self.oss2 = oss2
        self.provider = oss2.RsaProvider(key_pair={"public_key": keys.public, "private_key": keys.private},
                                         mat_desc=MATDESC)

    def encrypt(self, plain: bytes, part_size: int | None):
        from oss2 import models
        material = self.provider.create_content_material()
        if part_size is None:
            headers = dict(material.to_object_meta({"content-length": str(len(plain))}))
            return headers, material.cipher.encrypt(plain)
        ctx = models.MultipartUploadCryptoContext(len(plain), part_size, material)
        headers = dict(material.to_object_meta({}, ctx))
        key = self.provider.decrypt_encrypted_key(material.encrypted_key)
        iv = self.provider.decrypt_encrypted_iv(material.encrypted_iv)
        parts = []
        for start in range(0, len(plain), part_size):
            cipher = copy.copy(material.cipher)
            cipher.initialize(key, iv, self.provider.cipher.calc_offset(start))
            parts.append(cipher.encrypt(plain[start:start + part_size]))
        return headers, b"".join(parts)

    def decrypt(self, headers: dict, stored: bytes, start: int = 0) -> bytes:
        from oss2 import models
        material = models.ContentCryptoMaterial(self.provider.cipher, self.provider.wrap_alg)
        material.from_object_meta(headers)
        assert material.cek_alg == "AES/CTR/NoPadding" and material.wrap_alg == "RSA/NONE/PKCS1Padding"
        key = self.provider.decrypt_encrypted_key(material.encrypted_key)
        iv = self.provider.decrypt_encrypted_iv(material.encrypted_iv)
        aligned, _ = self.provider.cipher.adjust_range(start, None)
        cipher = copy.copy(material.cipher)
        cipher.initialize(key, iv, self.provider.cipher.calc_offset(aligned or 0))
        return cipher.decrypt(stored[aligned or 0:])[start - (aligned or 0):]


class V2:
    """alibabacloud-oss-v2 1.4.1: what EncryptionClient does around its requests."""

    def __init__(self, keys):
        from alibabacloud_oss_v2 import encryption_client as ec
        from alibabacloud_oss_v2.crypto import MasterRsaCipher
        from alibabacloud_oss_v2.crypto.aes_ctr_cipher import AESCtrCipherBuilder
        self.ec = ec
        self.builder = AESCtrCipherBuilder(MasterRsaCipher(MATDESC, keys.public, keys.private))

    def encrypt(self, plain: bytes, part_size: int | None):
        cc = self.builder.content_cipher()
        if part_size is None:
            req = SimpleNamespace(headers=None, content_md5=None, content_length=len(plain))
            self.ec._add_crypto_header_putobject(req, cc.get_cipher_data())
            return dict(req.headers), cc.encrypt_content(plain)
        init = SimpleNamespace(headers=None, cse_data_size=len(plain), cse_part_size=part_size)
        self.ec._add_crypto_header_initpart(init, cc.get_cipher_data())
        parts = []
        ctx = self.ec.EncryptionMultiPartContext(content_cipher=cc, part_size=part_size, data_size=len(plain))
        for n, start in enumerate(range(0, len(plain), part_size), 1):
            pc = ctx.content_cipher.clone(offset=(n - 1) * part_size)
            parts.append(pc.encrypt_content(plain[start:start + part_size]))
            req = SimpleNamespace(headers=None)
            self.ec._add_crypto_header_uploadpart(req, ctx, pc.get_cipher_data())
            assert {k: v for k, v in req.headers.items()} == {
                k: v for k, v in init.headers.items()}, "v2 repeats the initiate headers on each part"
        return dict(init.headers), b"".join(parts)

    def decrypt(self, headers: dict, stored: bytes, start: int = 0) -> bytes:
        from alibabacloud_oss_v2.types import CaseInsensitiveDict
        env = self.ec._get_envelope_from_header(CaseInsensitiveDict(headers))
        assert env.is_valid()
        aligned = self.ec._adjust_range_start(start)
        cc = self.builder.content_cipher_from_env(env, offset=aligned)
        return cc.decrypt_content(stored[aligned:])[start - aligned:]


SDKS = {"oss2": Oss2, "v2": V2}
CASES = [("simple", None, 100_003), ("multipart", 102_400, 3 * 102_400 + 77)]


@pytest.mark.parametrize("sdk", SDKS)
@pytest.mark.parametrize("shape,part_size,length", CASES)
def test_objects_written_by_the_sdk_decrypt_with_ours(cse, keys, tmp_path, sdk, shape, part_size, length):
    plain = pattern(length)
    headers, stored = SDKS[sdk](keys).encrypt(plain, part_size)
    assert headers["x-oss-meta-client-side-encryption-wrap-alg"] == "RSA/NONE/PKCS1Padding"
    (tmp_path / "h.json").write_text(json.dumps(headers))
    (tmp_path / "stored").write_bytes(stored)
    run(cse, "decrypt", "--private-key", keys.private_path, "--headers", tmp_path / "h.json",
        "--in", tmp_path / "stored", "--out", tmp_path / "plain")
    assert (tmp_path / "plain").read_bytes() == plain
    for a, b in [(0, 1), (17, 4096), (102_399, 102_401), (length - 5, length)]:
        run(cse, "decrypt", "--private-key", keys.private_path, "--headers", tmp_path / "h.json",
            "--in", tmp_path / "stored", "--out", tmp_path / "range", "--range", f"{a}:{b}")
        assert (tmp_path / "range").read_bytes() == plain[a:b], (a, b)


@pytest.mark.parametrize("sdk", SDKS)
@pytest.mark.parametrize("shape,part_size,length", CASES)
def test_objects_written_by_ours_decrypt_with_the_sdk(cse, keys, tmp_path, sdk, shape, part_size, length):
    plain = pattern(length)
    (tmp_path / "plain").write_bytes(plain)
    args = ["encrypt", "--format", "compat", "--public-key", keys.public_path, "--in", tmp_path / "plain",
            "--out", tmp_path / "stored", "--headers-out", tmp_path / "h.json", "--matdesc", "tag=value"]
    if part_size:
        args += ["--part-size", part_size, "--part-headers-out", tmp_path / "ph.json"]
    run(cse, *args)
    headers = json.loads((tmp_path / "h.json").read_text())
    stored = (tmp_path / "stored").read_bytes()
    assert headers["x-oss-meta-client-side-encryption-matdesc"] == json.dumps(MATDESC)
    sdk_obj = SDKS[sdk](keys)
    assert sdk_obj.decrypt(headers, stored) == plain
    assert sdk_obj.decrypt(headers, stored, 1000)[:5000] == plain[1000:6000]
    # The SDK writes the same header names and value shapes (values differ: random key and IV).
    sdk_headers, _ = sdk_obj.encrypt(plain, part_size)
    ours = {k for k in headers if k.startswith("x-oss-meta-client-side-encryption-")}
    theirs = {k for k in sdk_headers if not k.endswith("unencrypted-content-length")}
    assert ours == theirs
    for k in ours:
        assert len(headers[k]) == len(sdk_headers[k]), k
    if part_size:
        part_headers = json.loads((tmp_path / "ph.json").read_text())
        assert part_headers == {k: headers[k] for k in ours}


# ---- the sealed format, read independently from FORMAT.md ---------------------------------------

def sealed_open(master: bytes, headers: dict, stored: bytes) -> bytes:
    assert headers["x-oss-meta-ossvault-cse-version"] == "1"
    assert headers["x-oss-meta-ossvault-cse-wrap-alg"] == "AES256-GCM"
    fp = hmac.new(master, b"ossvault master key fingerprint", hashlib.sha256).hexdigest()
    assert headers["x-oss-meta-ossvault-cse-key-fingerprint"] == fp
    wrapped = base64.b64decode(headers["x-oss-meta-ossvault-cse-wrapped-key"])
    salt, body = wrapped[:32], wrapped[32:]
    kw = hmac.new(master, b"ossvault-cse-v1 wrap key" + salt, hashlib.sha256).digest()
    ck = AESGCM(kw).decrypt(b"\0" * 12, body, b"ossvault-cse-v1 content key")
    chunk = int(headers["x-oss-meta-ossvault-cse-chunk-size"])
    commit = hmac.new(ck, b"ossvault-cse-v1 key commitment" + chunk.to_bytes(4, "big"), hashlib.sha256).digest()
    assert base64.b64decode(headers["x-oss-meta-ossvault-cse-key-commitment"]) == commit
    gcm = AESGCM(hmac.new(ck, b"ossvault-cse-v1 chunk key", hashlib.sha256).digest())
    frame = chunk + 28
    frames = [stored[i:i + frame] for i in range(0, len(stored), frame)]
    out = b""
    for i, f in enumerate(frames):
        aad = b"ossvault-cse-v1\0" + i.to_bytes(8, "big") + bytes([i == len(frames) - 1])
        out += gcm.decrypt(f[:12], f[12:], aad)
    return out


@pytest.mark.parametrize("length,part_size", [(0, None), (65_537, None), (300_000, 131_072)])
def test_sealed_objects_follow_the_spec(cse, tmp_path, length, part_size):
    master = os.urandom(32)
    plain = pattern(length)
    (tmp_path / "plain").write_bytes(plain)
    args = ["encrypt", "--format", "sealed", "--aes-key", master.hex(), "--in", tmp_path / "plain",
            "--out", tmp_path / "stored", "--headers-out", tmp_path / "h.json"]
    if part_size:
        args += ["--part-size", part_size]
    run(cse, *args)
    headers = json.loads((tmp_path / "h.json").read_text())
    assert sealed_open(master, headers, (tmp_path / "stored").read_bytes()) == plain
