#!/usr/bin/env python3
"""Writes the test vectors of crates/crypto from implementations independent of the Rust code.

- sealed-v1.json: the sealed format v1 of FORMAT.md, computed with pyca/cryptography (AES-GCM,
  HMAC-SHA256, RSA-OAEP-SHA256, SHA-256 of the SubjectPublicKeyInfo).
- compat-oss2.json: objects encrypted by the official oss2 SDK's own classes (RsaProvider,
  AESCTRCipher, ContentCryptoMaterial.to_object_meta), offline: a simple PUT and a multipart
  upload, with the exact metadata headers oss2 sends.

Run once with the project's venv (it has oss2 and cryptography):

    /var/tmp/ossvault-venv/bin/python crates/crypto/tests/vectors/gen_vectors.py

The RSA test key is kept from an existing sealed-v1.json so that re-running changes only the
random parts (oss2's CEK/IV/padding, RSA-OAEP padding).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

HERE = Path(__file__).resolve().parent


def pattern(n: int) -> bytes:
    return bytes(i % 251 for i in range(n))


def b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def hm(key: bytes, msg: bytes) -> bytes:
    return hmac.new(key, msg, hashlib.sha256).digest()


# ---- sealed v1 (FORMAT.md) -------------------------------------------------------------------

def chunk_key(ck: bytes) -> bytes:
    return hm(ck, b"ossvault-cse-v1 chunk key")


def commitment(ck: bytes, chunk_size: int) -> bytes:
    return hm(ck, b"ossvault-cse-v1 key commitment" + chunk_size.to_bytes(4, "big"))


def aad(index: int, last: bool) -> bytes:
    return b"ossvault-cse-v1\0" + index.to_bytes(8, "big") + bytes([1 if last else 0])


def seal(ck: bytes, chunk_size: int, plain: bytes, prefix: bytes) -> bytes:
    gcm = AESGCM(chunk_key(ck))
    chunks = [plain[i:i + chunk_size] for i in range(0, len(plain), chunk_size)] or [b""]
    out = b""
    for i, c in enumerate(chunks):
        nonce = prefix + i.to_bytes(4, "big")
        out += nonce + gcm.encrypt(nonce, c, aad(i, i == len(chunks) - 1))
    return out


def aes_fingerprint(mk: bytes) -> bytes:
    return hm(mk, b"ossvault master key fingerprint")


def aes_wrap(mk: bytes, ck: bytes, salt: bytes) -> bytes:
    kw = hm(mk, b"ossvault-cse-v1 wrap key" + salt)
    return salt + AESGCM(kw).encrypt(b"\0" * 12, ck, b"ossvault-cse-v1 content key")


def rsa_fingerprint(private_key) -> bytes:
    spki = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).digest()


def sealed_headers(chunk_size, wrap_alg, fp, wrapped, ck):
    return {
        "x-oss-meta-ossvault-cse-version": "1",
        "x-oss-meta-ossvault-cse-chunk-size": str(chunk_size),
        "x-oss-meta-ossvault-cse-wrap-alg": wrap_alg,
        "x-oss-meta-ossvault-cse-key-fingerprint": fp.hex(),
        "x-oss-meta-ossvault-cse-wrapped-key": wrapped,
        "x-oss-meta-ossvault-cse-key-commitment": b64(commitment(ck, chunk_size)),
    }


def load_or_make_rsa():
    old = HERE / "sealed-v1.json"
    if old.exists():
        pem = json.loads(old.read_text())["rsa_private_key_pkcs8_pem"]
        return serialization.load_pem_private_key(pem.encode(), password=None)
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def sealed_vectors(rsa_key) -> dict:
    mk = bytes.fromhex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
    pem = rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    cases = []
    specs = [
        # name, wrap, chunk size, plaintext length, store the whole ciphertext?
        ("aes-3-chunks-1k", "AES256-GCM", 1024, 2600, True),
        ("aes-exact-2-chunks-1k", "AES256-GCM", 1024, 2048, True),
        ("aes-empty", "AES256-GCM", 65536, 0, True),
        ("aes-default-chunk", "AES256-GCM", 65536, 65537, False),
        ("rsa-oaep", "RSA-OAEP-SHA256", 4096, 10000, True),
    ]
    for n, (name, wrap, chunk, length, full) in enumerate(specs):
        ck = hashlib.sha256(b"content key %d" % n).digest()
        prefix = hashlib.sha256(b"nonce prefix %d" % n).digest()[:8]
        salt = hashlib.sha256(b"wrap salt %d" % n).digest()
        plain = pattern(length)
        stored = seal(ck, chunk, plain, prefix)
        if wrap == "AES256-GCM":
            wrapped = b64(aes_wrap(mk, ck, salt))
            fp = aes_fingerprint(mk)
        else:
            oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
            wrapped = b64(rsa_key.public_key().encrypt(ck, oaep))
            fp = rsa_fingerprint(rsa_key)
        case = {
            "name": name,
            "chunk_size": chunk,
            "plaintext_length": length,
            "content_key": ck.hex(),
            "chunk_key": chunk_key(ck).hex(),
            "nonce_prefix": prefix.hex(),
            "headers": sealed_headers(chunk, wrap, fp, wrapped, ck),
            "stored_length": len(stored),
            "stored_sha256": hashlib.sha256(stored).hexdigest(),
        }
        if wrap == "AES256-GCM":
            case["aes_wrap_salt"] = salt.hex()
        if full:
            case["stored"] = stored.hex()
        cases.append(case)
    return {
        "description": "ossvault sealed format v1 (crates/crypto/FORMAT.md); plaintext byte i is "
        "i % 251; computed by gen_vectors.py with pyca/cryptography",
        "master_aes_key": mk.hex(),
        "master_aes_fingerprint": aes_fingerprint(mk).hex(),
        "rsa_private_key_pkcs8_pem": pem,
        "rsa_fingerprint": rsa_fingerprint(rsa_key).hex(),
        "cases": cases,
    }


# ---- compat, written by oss2's own classes ---------------------------------------------------

def compat_vectors(rsa_key) -> dict:
    import oss2
    from oss2 import models

    private_pem = rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    public_pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    provider = oss2.RsaProvider(
        key_pair={"public_key": public_pem, "private_key": private_pem}, mat_desc={"tag": "value"}
    )

    # A simple PutObject whose caller gave Content-Length: oss2 moves it into the metadata.
    plain = pattern(1000)
    material = provider.create_content_material()
    headers = dict(material.to_object_meta({"content-length": str(len(plain))}))
    stored = material.cipher.encrypt(plain)
    put = {"headers": headers, "plaintext_length": len(plain), "stored": stored.hex()}

    # A multipart upload, as CryptoBucket.init_multipart_upload / upload_part do it.
    part_size, data_size = 4096, 2 * 4096 + 1807  # small, to keep the file small
    plain = pattern(data_size)
    material = provider.create_content_material()
    ctx = models.MultipartUploadCryptoContext(data_size, part_size, material)
    init_headers = dict(material.to_object_meta({}, ctx))
    key = provider.decrypt_encrypted_key(material.encrypted_key)
    iv = provider.decrypt_encrypted_iv(material.encrypted_iv)
    parts = []
    for n in range(1, -(-data_size // part_size) + 1):
        cipher = copy.copy(material.cipher)
        cipher.initialize(key, iv, provider.cipher.calc_offset(part_size * (n - 1)))
        parts.append(cipher.encrypt(plain[(n - 1) * part_size:n * part_size]))
    part_headers = dict(material.to_object_meta({}, ctx))
    stored = b"".join(parts)
    multipart = {
        "initiate_headers": init_headers,
        "part_headers": part_headers,
        "part_size": part_size,
        "plaintext_length": data_size,
        "stored_sha256": hashlib.sha256(stored).hexdigest(),
        "stored": stored.hex(),
    }
    return {
        "description": "objects written by oss2 2.19.1's RsaProvider/AESCTRCipher (offline); "
        "plaintext byte i is i % 251; made by gen_vectors.py",
        "oss2_version": oss2.__version__,
        "rsa_private_key_pkcs1_pem": private_pem,
        "rsa_public_key_spki_pem": public_pem,
        "put": put,
        "multipart": multipart,
    }


def main():
    rsa_key = load_or_make_rsa()
    (HERE / "sealed-v1.json").write_text(json.dumps(sealed_vectors(rsa_key), indent=1) + "\n")
    (HERE / "compat-oss2.json").write_text(json.dumps(compat_vectors(rsa_key), indent=1) + "\n")


if __name__ == "__main__":
    main()
