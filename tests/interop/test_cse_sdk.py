"""Client-side encryption interop through the real server and the `ossvault` command line.

- Objects written by the official SDKs (oss2.CryptoBucket with RsaProvider, alibabacloud-oss-v2's
  EncryptionClient with MasterRsaCipher), simple and multipart, decrypt with `ossvault cp`
  (whole and `--range`) once the same RSA key is imported with `ossvault key import`.
- Objects written by `ossvault cp --encrypt NAME --format compat` (simple and multipart) decrypt
  with both SDKs, whole and ranged.
- Afterwards no master key and no data key (content key, IV) is found in plaintext (raw, hex or
  base64) in the CLI's config dir, the server's data dir, or the server's and CLI's logs, and no
  plaintext marker of an encrypted upload is in the data dir.

The CLI runs with the passphrase-file keystore (OSSVAULT_KEYSTORE_FILE +
OSSVAULT_KEYSTORE_PASSPHRASE), as on a machine without a Secret Service.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import subprocess
from pathlib import Path
from types import SimpleNamespace

import alibabacloud_oss_v2 as oss
import oss2
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ossvault_harness import ACCESS_KEY_ID, ACCESS_KEY_SECRET, REGION, server_binary
from oss_rules import unique_bucket

MATDESC = {"owner": "interop"}
PART = 102_400  # 100 KiB: a multiple of 16, and the smallest part ossvault sends
SIZES = {"simple": 100_003, "multipart": 3 * PART + 77}
RANGES = [(0, 0), (17, 4096), (65_535, 65_537), (99_990, 100_001), (-5, None)]


def pattern(n: int, seed: int = 0) -> bytes:
    return bytes((i * 7 + i // 251 + seed) % 256 for i in range(n))


def encodings(secret: bytes) -> list[bytes]:
    """The ways a secret could leak: raw, hex (both cases), base64 (standard and url-safe)."""
    return [secret, secret.hex().encode(), secret.hex().upper().encode(), base64.b64encode(secret),
            base64.urlsafe_b64encode(secret), base64.b64encode(secret).rstrip(b"=")]


@pytest.fixture(scope="module")
def session(server, tmp_path_factory):
    """A CLI environment (config dir, file keystore), an RSA key pair imported as `sdk` and an
    AES key imported as `aes`, a bucket, and what the scan must look for."""
    root = tmp_path_factory.mktemp("cse-sdk")
    k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                              serialization.NoEncryption()).decode()
    public = k.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    (root / "private.pem").write_text(private)
    aes = os.urandom(32)
    (root / "aes.hex").write_text(aes.hex())
    env = {
        **os.environ,
        "OSSVAULT_ENDPOINT": server.endpoint,
        "OSSVAULT_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "OSSVAULT_ACCESS_KEY_SECRET": ACCESS_KEY_SECRET,
        "OSSVAULT_REGION": REGION,
        "OSSVAULT_CONFIG": str(root / "config.toml"),
        "OSSVAULT_CONFIG_DIR": str(root / "config"),
        "OSSVAULT_KEYSTORE_FILE": str(root / "config" / "keystore.age"),
        "OSSVAULT_KEYSTORE_PASSPHRASE": "interop keystore passphrase",
        "XDG_CACHE_HOME": str(root / "cache"),
    }
    env.pop("RUST_LOG", None)
    s = SimpleNamespace(root=root, env=env, private=private, public=public, rsa=k, aes=aes,
                        log=root / "cli.log", data_keys=[], markers=[], server=server)

    def cli(*args, check=True):
        r = subprocess.run([str(server_binary()), *map(str, args)], env=env, capture_output=True, text=True)
        with open(s.log, "a") as log:
            log.write(f"$ ossvault {' '.join(map(str, args))}\n{r.stdout}{r.stderr}")
        if check:
            assert r.returncode == 0, f"ossvault {args} failed:\n{r.stdout}\n{r.stderr}"
        return r

    s.cli = cli
    cli("key", "import", "--name", "sdk", root / "private.pem")
    cli("key", "import", "--name", "aes", root / "aes.hex")
    s.bucket = unique_bucket("cse")
    cli("mb", f"oss://{s.bucket}")
    auth = oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET)
    s.oss2 = oss2.CryptoBucket(auth, server.endpoint, s.bucket,
                               crypto_provider=oss2.RsaProvider(
                                   key_pair={"public_key": public, "private_key": private}, mat_desc=MATDESC))
    s.plain_bucket = oss2.Bucket(auth, server.endpoint, s.bucket)
    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(ACCESS_KEY_ID, ACCESS_KEY_SECRET)
    cfg.region = REGION
    cfg.endpoint = server.endpoint
    s.v2 = oss.EncryptionClient(oss.Client(cfg), oss.crypto.MasterRsaCipher(
        mat_desc=MATDESC, public_key=public, private_key=private))
    yield s


def record_data_key(s, key: str) -> None:
    """Recovers the content key (and IV) of a stored object from its metadata with the master
    keys, for the final scan."""
    h = {k.lower(): v for k, v in s.plain_bucket.head_object(key).headers.items()}
    if "x-oss-meta-client-side-encryption-key" in h:
        for name in ("key", "start"):
            wrapped = base64.b64decode(h[f"x-oss-meta-client-side-encryption-{name}"])
            s.data_keys.append(s.rsa.decrypt(wrapped, padding.PKCS1v15()))
    elif h.get("x-oss-meta-ossvault-cse-wrap-alg") == "AES256-GCM":
        wrapped = base64.b64decode(h["x-oss-meta-ossvault-cse-wrapped-key"])
        kw = hmac.new(s.aes, b"ossvault-cse-v1 wrap key" + wrapped[:32], hashlib.sha256).digest()
        s.data_keys.append(AESGCM(kw).decrypt(b"\0" * 12, wrapped[32:], b"ossvault-cse-v1 content key"))
    else:
        raise AssertionError(f"{key}: unexpected encryption metadata {h}")


def check_download(s, key: str, plain: bytes) -> None:
    out = s.root / "down.bin"
    s.cli("cp", f"oss://{s.bucket}/{key}", out)
    assert out.read_bytes() == plain, key
    for a, b in RANGES:
        spec = f"-{-a}" if a < 0 else f"{a}-{b}"
        want = plain[a:] if a < 0 else plain[a:b + 1]
        s.cli("cp", f"oss://{s.bucket}/{key}", out, "--range", spec)
        assert out.read_bytes() == want, (key, spec)


def oss2_put(s, key: str, plain: bytes, shape: str) -> None:
    if shape == "simple":
        s.oss2.put_object(key, plain)
        return
    ctx = oss2.models.MultipartUploadCryptoContext(len(plain), PART)
    upload_id = s.oss2.init_multipart_upload(key, upload_context=ctx).upload_id
    parts = []
    for n, start in enumerate(range(0, len(plain), PART), 1):
        r = s.oss2.upload_part(key, upload_id, n, plain[start:start + PART], upload_context=ctx)
        parts.append(oss2.models.PartInfo(n, r.etag))
    s.oss2.complete_multipart_upload(key, upload_id, parts)


def v2_put(s, key: str, plain: bytes, shape: str) -> None:
    if shape == "simple":
        s.v2.put_object(oss.PutObjectRequest(bucket=s.bucket, key=key, body=plain))
        return
    init = s.v2.initiate_multipart_upload(oss.InitiateMultipartUploadRequest(
        bucket=s.bucket, key=key, cse_part_size=PART, cse_data_size=len(plain)))
    parts = []
    for n, start in enumerate(range(0, len(plain), PART), 1):
        r = s.v2.upload_part(oss.UploadPartRequest(
            bucket=s.bucket, key=key, upload_id=init.upload_id, part_number=n,
            cse_multipart_context=init.cse_multipart_context, body=plain[start:start + PART]))
        parts.append(oss.UploadPart(part_number=n, etag=r.etag))
    s.v2.complete_multipart_upload(oss.CompleteMultipartUploadRequest(
        bucket=s.bucket, key=key, upload_id=init.upload_id,
        complete_multipart_upload=oss.CompleteMultipartUpload(parts=parts)))


@pytest.mark.parametrize("shape", SIZES)
@pytest.mark.parametrize("sdk", ["oss2", "v2"])
def test_sdk_objects_decrypt_with_ossvault_cp(session, sdk, shape):
    s = session
    plain = pattern(SIZES[shape], seed=len(sdk))
    key = f"from-{sdk}/{shape}"
    (oss2_put if sdk == "oss2" else v2_put)(s, key, plain, shape)
    stat = json.loads(s.cli("--json", "stat", f"oss://{s.bucket}/{key}").stdout)
    cse = stat["client_side_encryption"]
    assert cse["format"] == "compat" and cse["key_fingerprint"] is None
    assert json.loads(cse["matdesc"]) == MATDESC
    check_download(s, key, plain)
    record_data_key(s, key)


def sdk_get(s, sdk: str, key: str, byte_range=None) -> bytes:
    if sdk == "oss2":
        return s.oss2.get_object(key, byte_range=byte_range).read()
    header = None if byte_range is None else f"bytes={byte_range[0]}-{byte_range[1]}"
    return s.v2.get_object(oss.GetObjectRequest(bucket=s.bucket, key=key, range_header=header)).body.read()


@pytest.mark.parametrize("shape", SIZES)
def test_ossvault_compat_objects_decrypt_with_both_sdks(session, shape):
    s = session
    plain = pattern(SIZES[shape], seed=99)
    src = s.root / f"up-{shape}"
    src.write_bytes(plain)
    key = f"from-ossvault/{shape}"
    s.cli("cp", src, f"oss://{s.bucket}/{key}", "--encrypt", "sdk", "--format", "compat",
          "--matdesc", "owner=interop",
          "--bigfile-threshold", "200KiB", "--part-size", "100KiB")
    h = {k.lower(): v for k, v in s.plain_bucket.head_object(key).headers.items()}
    assert h["x-oss-meta-client-side-encryption-wrap-alg"] == "RSA/NONE/PKCS1Padding"
    if shape == "multipart":
        assert h["x-oss-meta-client-side-encryption-part-size"] == str(PART)
        assert h["x-oss-meta-client-side-encryption-data-size"] == str(len(plain))
    for sdk in ("oss2", "v2"):
        assert sdk_get(s, sdk, key) == plain, sdk
        for a, b in [(0, 0), (17, 4096), (65_533, 65_600), (len(plain) - 5, len(plain) - 1)]:
            assert sdk_get(s, sdk, key, (a, b)) == plain[a:b + 1], (sdk, a, b)
    record_data_key(s, key)


def test_sealed_upload_and_wrong_key_message(session):
    s = session
    marker = b"OSSVAULT-PLAINTEXT-MARKER-" + os.urandom(8).hex().encode()
    plain = marker * 4096
    s.markers.append(marker)
    src = s.root / "sealed.bin"
    src.write_bytes(plain)
    s.cli("cp", src, f"oss://{s.bucket}/sealed.bin", "--encrypt", "aes")
    record_data_key(s, "sealed.bin")
    check_download(s, "sealed.bin", plain)
    # Without the key: one line naming the fingerprint, exit non-zero, no file.
    env = {**s.env, "OSSVAULT_CONFIG_DIR": str(s.root / "empty-config"),
           "OSSVAULT_KEYSTORE_FILE": str(s.root / "empty.age")}
    r = subprocess.run([str(server_binary()), "cp", f"oss://{s.bucket}/sealed.bin", str(s.root / "nokey.bin")],
                       env=env, capture_output=True, text=True)
    fp = hmac.new(s.aes, b"ossvault master key fingerprint", hashlib.sha256).hexdigest()
    assert r.returncode != 0
    assert r.stderr.strip() == (f"ossvault: the key with fingerprint {fp} is not in the keychain "
                                "(key import / key restore it)")
    assert not (s.root / "nokey.bin").exists()


def test_zz_no_key_material_in_plaintext_anywhere(session):
    """Runs last (name order): scans what the session left behind."""
    s = session
    assert len(s.data_keys) >= 10, "the earlier tests recorded the data keys they made"
    der_pkcs1 = s.rsa.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL,
                                    serialization.NoEncryption())
    der_pkcs8 = s.rsa.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    d = s.rsa.private_numbers().d
    secrets = {"aes master key": s.aes, "rsa private key (PKCS#1 DER)": der_pkcs1,
               "rsa private key (PKCS#8 DER)": der_pkcs8,
               "rsa private exponent": d.to_bytes((d.bit_length() + 7) // 8, "big")}
    for i, k in enumerate(s.data_keys):
        secrets[f"data key {i}"] = k
    needles = [(name, enc) for name, secret in secrets.items() for enc in encodings(secret)]
    # The PEM body of the private key, line by line (a PEM copy would show as its lines).
    pem_lines = [l.encode() for l in s.private.splitlines() if l and not l.startswith("-----")]
    needles += [("rsa private key PEM", line) for line in pem_lines[1:-1]]
    needles += [("plaintext marker", m) for m in s.markers]
    places = [s.root / "config", s.server.data_dir, s.server.log_path, s.log]
    files = []
    for place in places:
        files += [place] if place.is_file() else [p for p in place.rglob("*") if p.is_file()]
    assert any(f.name == "keys.json" for f in files) and any(f.name == "keystore.age" for f in files)
    found = []
    for f in files:
        data = f.read_bytes()
        for name, needle in needles:
            if needle in data:
                found.append(f"{name} in {f}")
    assert not found, found
