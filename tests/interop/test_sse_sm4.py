"""SM4 (国密) server-side encryption as the official SDKs see it: SSE-OSS with
`x-oss-server-side-encryption: SM4` and SSE-KMS with `x-oss-server-side-data-encryption: SM4`, on
Put/Get/Head, ranges across the sealed chunks, copy, append, multipart, bucket default rules
(`SSEAlgorithm` SM4, `KMSDataEncryption` SM4) and PutBucket headers, with the response headers
of reference §4.2.

The at-rest format is checked offline against an independent SM4: OpenSSL's SM4-GCM through
pyca/cryptography re-derives the published vector crates/server/tests/vectors/sse-sm4-v1.json
(which the Rust unit test `sse::seal::vectors::matches_the_published_sm4_vector` seals
byte-for-byte) and opens its chunks. The data directory scan is in tests/crash/test_at_rest.py.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from oss_rules import crc64, etag_of, multipart_etag, random_bytes, unique_bucket
from sdk_clients import ServiceFailure

SSE = "x-oss-server-side-encryption"
DATA_ENC = "x-oss-server-side-data-encryption"
KEY_ID = "x-oss-server-side-encryption-key-id"
SM4 = {SSE: "SM4"}
KMS_SM4 = {SSE: "KMS", DATA_ENC: "SM4"}
CHUNK = 64 * 1024  # plaintext bytes per sealed chunk (crates/server/src/sse/seal.rs)
SIZE = 3 * CHUNK + 12_345
VECTOR = Path(__file__).resolve().parents[2] / "crates/server/tests/vectors/sse-sm4-v1.json"


def _failure(fn, *args, **kwargs) -> ServiceFailure:
    with pytest.raises(ServiceFailure) as e:
        fn(*args, **kwargs)
    return e.value


def _assert_sm4(reply):
    """SSE-OSS SM4: the algorithm only (no key id, no data encryption header)."""
    assert reply.headers.get(SSE) == "SM4", reply.headers
    assert DATA_ENC not in reply.headers and KEY_ID not in reply.headers, reply.headers


def _assert_kms_sm4(reply, key_id=None):
    """SSE-KMS with SM4 data: KMS, SM4 and the key id (always present for KMS)."""
    assert reply.headers.get(SSE) == "KMS", reply.headers
    assert reply.headers.get(DATA_ENC) == "SM4", reply.headers
    assert reply.headers.get(KEY_ID), reply.headers
    if key_id is not None:
        assert reply.headers.get(KEY_ID) == key_id


# -- the format, against OpenSSL's SM4 ------------------------------------------------------------


def _sm4_gcm(key: bytes, index: int, last: bool):
    nonce = bytes(4) + index.to_bytes(8, "big")
    aad = b"ossvault-sm4-v1\0" + index.to_bytes(8, "big") + bytes([last])
    return nonce, aad


def test_sm4_block_cipher_is_the_standards():
    """GB/T 32907-2016 appendix A, example 1, with OpenSSL's SM4."""
    k = bytes.fromhex("0123456789abcdeffedcba9876543210")
    enc = Cipher(algorithms.SM4(k), modes.ECB()).encryptor()
    assert (enc.update(k) + enc.finalize()).hex() == "681edf34d206965e86b3e94f536e4246"


def test_the_published_sm4_vector_opens_with_openssl():
    v = json.loads(VECTOR.read_text())
    dk = bytes.fromhex(v["data_key"])
    assert len(dk) == 16, "SM4 data keys are 128 bits"
    blob = bytes.fromhex(v["blob_id"])
    n = v["plaintext_length"]
    plain = bytes(i % 251 for i in range(n))
    segment_key = hmac.new(dk, b"ossvault-sm4-v1 segment key" + blob, hashlib.sha256).digest()[:16]
    chunks = max(1, -(-n // CHUNK))
    stored = b""
    for i in range(chunks):
        nonce, aad = _sm4_gcm(segment_key, i, i + 1 == chunks)
        enc = Cipher(algorithms.SM4(segment_key), modes.GCM(nonce)).encryptor()
        enc.authenticate_additional_data(aad)
        stored += enc.update(plain[i * CHUNK:(i + 1) * CHUNK]) + enc.finalize() + enc.tag
    assert len(stored) == v["stored_length"]
    assert hashlib.sha256(stored).hexdigest() == v["stored_sha256"]
    last = bytes.fromhex(v["stored_last_chunk"])
    assert stored.endswith(last)

    # Open the published last chunk (40 bytes + tag) as a reader would.
    nonce, aad = _sm4_gcm(segment_key, 1, True)
    dec = Cipher(algorithms.SM4(segment_key), modes.GCM(nonce, last[-16:])).decryptor()
    dec.authenticate_additional_data(aad)
    assert dec.update(last[:-16]) + dec.finalize() == plain[CHUNK:]
    # Marked as not last (a truncation), it does not authenticate.
    nonce, aad = _sm4_gcm(segment_key, 1, False)
    dec = Cipher(algorithms.SM4(segment_key), modes.GCM(nonce, last[-16:])).decryptor()
    dec.authenticate_additional_data(aad)
    dec.update(last[:-16])
    with pytest.raises(InvalidTag):
        dec.finalize()


# -- SSE-OSS with SM4 -----------------------------------------------------------------------------


def test_put_get_head_and_ranges_with_sm4(client, bucket):
    data = random_bytes(SIZE, seed=701)
    put = client.put_object(bucket, "sm4/object", data, headers=SM4)
    assert put.status == 200
    _assert_sm4(put)
    assert (put.etag, put.crc) == (etag_of(data), crc64(data)), "integrity values are the plaintext's"

    got = client.get_object(bucket, "sm4/object")  # the SDK checks the CRC-64 itself
    assert got.body == data
    _assert_sm4(got)
    assert (got.etag, got.crc) == (etag_of(data), crc64(data))
    head = client.head_object(bucket, "sm4/object")
    _assert_sm4(head)
    assert int(head.headers["content-length"]) == SIZE

    for start, end in [(0, 1), (CHUNK - 1, CHUNK + 1), (CHUNK - 6, 2 * CHUNK + 9), (100, 200_001),
                       (3 * CHUNK, SIZE), (SIZE - 1, SIZE)]:
        r = client.get_object(bucket, "sm4/object", range=f"bytes={start}-{end - 1}")
        assert r.status == 206
        assert r.body == data[start:end], (start, end)
        assert r.headers["content-range"] == f"bytes {start}-{end - 1}/{SIZE}"


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1])
def test_sm4_sizes_at_chunk_edges(admin, admin_bucket, size):
    data = random_bytes(size, seed=size + 7)
    put = admin.put_object(admin_bucket, f"sm4-edge-{size}", data, headers=SM4)
    _assert_sm4(put)
    got = admin.get_object(admin_bucket, f"sm4-edge-{size}")
    assert (got.body, got.etag, got.crc) == (data, etag_of(data), crc64(data))


def test_sm4_header_matrix(client, bucket):
    """Reference §4.2's matrix: the data encryption header counts only with KMS."""
    cases = [
        ({SSE: "SM4"}, ("SM4", None, False)),
        ({SSE: "SM4", DATA_ENC: "SM4"}, ("SM4", None, False)),
        ({SSE: "AES256", DATA_ENC: "SM4"}, ("AES256", None, False)),
        ({DATA_ENC: "SM4"}, (None, None, False)),
        ({SSE: "KMS", DATA_ENC: "SM4"}, ("KMS", "SM4", True)),
        ({SSE: "KMS"}, ("KMS", None, True)),
    ]
    for n, (headers, (sse, data_enc, key_id)) in enumerate(cases):
        put = client.put_object(bucket, f"matrix/{n}", b"a", headers=headers)
        got = (put.headers.get(SSE), put.headers.get(DATA_ENC), bool(put.headers.get(KEY_ID)))
        assert got == (sse, data_enc, key_id), headers
        assert client.get_object(bucket, f"matrix/{n}").body == b"a"
    e = _failure(client.put_object, bucket, "bad", b"a", headers={SSE: "sm4"})
    assert (e.status, e.code) == (400, "InvalidEncryptionAlgorithmError")
    e = _failure(client.put_object, bucket, "bad", b"a", headers={SSE: "KMS", DATA_ENC: "SM3"})
    assert (e.status, e.code) == (400, "InvalidEncryptionAlgorithmError")
    e = _failure(client.put_object, bucket, "bad", b"a", headers={SSE: "SM4", KEY_ID: "k"})
    assert (e.status, e.code) == (400, "InvalidArgument")
    assert not client.exists(bucket, "bad")


def _parts():
    # Part 1 is not a multiple of the chunk size, so part 2 starts mid-chunk of the object.
    return [random_bytes(150 * 1024 + 3, seed=702), random_bytes(70 * 1024, seed=703)]


@pytest.mark.parametrize("kind", ["SM4", "KMS+SM4"])
def test_multipart_with_sm4(client, bucket, kind):
    headers, check = (SM4, _assert_sm4) if kind == "SM4" else (KMS_SM4, _assert_kms_sm4)
    parts = _parts()
    data = b"".join(parts)
    init = client.initiate_multipart(bucket, "mp/sm4", headers=headers)
    check(init)
    uid = init.upload_id
    e = _failure(client.upload_part, bucket, "mp/sm4", uid, 1, parts[0], headers=headers)
    assert (e.status, e.code) == (400, "InvalidArgument")
    etags = []
    for n, part in enumerate(parts, start=1):
        r = client.upload_part(bucket, "mp/sm4", uid, n, part)
        check(r)
        assert (r.etag, r.crc) == (etag_of(part), crc64(part))
        etags.append((n, r.etag))
    e = _failure(client.complete_multipart, bucket, "mp/sm4", uid, etags, headers=headers)
    assert (e.status, e.code) == (400, "InvalidArgument")
    done = client.complete_multipart(bucket, "mp/sm4", uid, etags)
    check(done)
    assert done.etag == multipart_etag([e for _, e in etags])
    assert done.crc == crc64(data)
    if kind == "KMS+SM4":
        assert done.headers[KEY_ID] == init.headers[KEY_ID]

    got = client.get_object(bucket, "mp/sm4")
    assert got.body == data
    check(got)
    b = len(parts[0])
    for start, end in [(b - 1, b + 1), (b - 70_000, b + 70_000), (CHUNK - 5, b + CHUNK + 5)]:
        r = client.get_object(bucket, "mp/sm4", range=f"bytes={start}-{end - 1}")
        assert r.body == data[start:end], (start, end)


def test_copy_with_sm4(client, bucket):
    data = random_bytes(2 * CHUNK + 999, seed=704)
    client.put_object(bucket, "src-sm4", data, headers=SM4)
    # SM4 -> SM4 with the header.
    enc = client.copy_object(bucket, "copy-sm4", bucket, "src-sm4", headers=SM4)
    _assert_sm4(enc)
    got = client.get_object(bucket, "copy-sm4")
    assert (got.body, got.etag) == (data, etag_of(data))
    _assert_sm4(got)
    # SM4 -> plain without a header or default.
    plain = client.copy_object(bucket, "copy-plain", bucket, "src-sm4")
    assert plain.headers.get(SSE) is None
    assert client.get_object(bucket, "copy-plain").body == data
    # SM4 -> AES256 and -> KMS with SM4 data.
    aes = client.copy_object(bucket, "copy-aes", bucket, "src-sm4", headers={SSE: "AES256"})
    assert aes.headers.get(SSE) == "AES256" and DATA_ENC not in aes.headers
    assert client.get_object(bucket, "copy-aes").body == data
    kms = client.copy_object(bucket, "copy-kms-sm4", bucket, "src-sm4", headers=KMS_SM4)
    _assert_kms_sm4(kms)
    got = client.get_object(bucket, "copy-kms-sm4")
    assert got.body == data
    _assert_kms_sm4(got)
    # Plain -> SM4.
    client.put_object(bucket, "src-plain", data)
    _assert_sm4(client.copy_object(bucket, "plain-to-sm4", bucket, "src-plain", headers=SM4))
    assert client.get_object(bucket, "plain-to-sm4").body == data
    # A metadata update (copy onto itself) keeps SM4.
    client.copy_object(bucket, "src-sm4", bucket, "src-sm4", directive="REPLACE", content_type="text/plain")
    got = client.get_object(bucket, "src-sm4")
    _assert_sm4(got)
    assert (got.body, got.headers.get("content-type")) == (data, "text/plain")


def test_append_with_sm4(client, bucket):
    content, crc = b"", None
    for i, size in enumerate([100, CHUNK + 1, 3000]):
        piece = random_bytes(size, seed=710 + i)
        # The first append decides; later ones without (or with other) headers keep SM4.
        headers = [SM4, None, {SSE: "AES256"}][i]
        r = client.append_object(bucket, "appended", len(content), piece, init_crc=crc, headers=headers)
        _assert_sm4(r)
        content += piece
        crc = crc64(content)
        assert (r.next_position, r.crc) == (len(content), crc)
    got = client.get_object(bucket, "appended")
    assert got.body == content
    _assert_sm4(got)
    r = client.get_object(bucket, "appended", range=f"bytes={CHUNK}-{CHUNK + 200}")
    assert r.body == content[CHUNK:CHUNK + 201]


# -- bucket default rules -------------------------------------------------------------------------


def test_bucket_default_sm4(client, bucket):
    client.put_bucket_encryption(bucket, "SM4")
    assert client.get_bucket_encryption(bucket) == {
        "sse_algorithm": "SM4", "kms_master_key_id": None, "kms_data_encryption": None}
    info = client.bucket_info(bucket)
    assert (info["sse_algorithm"], info["kms_data_encryption"]) == ("SM4", None)

    data = random_bytes(CHUNK * 2 + 1, seed=720)
    _assert_sm4(client.put_object(bucket, "by-default", data))
    got = client.get_object(bucket, "by-default")
    assert got.body == data
    _assert_sm4(got)
    init = client.initiate_multipart(bucket, "mp-default")
    _assert_sm4(init)
    client.abort_multipart(bucket, "mp-default", init.upload_id)
    # An explicit header wins over the default.
    put = client.put_object(bucket, "explicit", b"x", headers={SSE: "AES256"})
    assert put.headers.get(SSE) == "AES256"

    # AES256 or SM4 with KMSDataEncryption: the data encryption is not kept (oss2's test).
    for algorithm in ("AES256", "SM4"):
        client.put_bucket_encryption(bucket, algorithm, kms_data_encryption="SM4")
        assert client.get_bucket_encryption(bucket) == {
            "sse_algorithm": algorithm, "kms_master_key_id": None, "kms_data_encryption": None}
    # SM4 takes no CMK.
    e = _failure(client.put_bucket_encryption, bucket, "SM4", kms_key_id="cmk")
    assert (e.status, e.code) == (400, "InvalidArgument")
    # Changing the default leaves existing objects as they are.
    client.delete_bucket_encryption(bucket)
    _assert_sm4(client.head_object(bucket, "by-default"))
    assert client.get_object(bucket, "by-default").body == data


def test_bucket_default_kms_with_sm4_data(client, bucket):
    client.put_bucket_encryption(bucket, "KMS", kms_data_encryption="SM4")
    assert client.get_bucket_encryption(bucket) == {
        "sse_algorithm": "KMS", "kms_master_key_id": None, "kms_data_encryption": "SM4"}
    info = client.bucket_info(bucket)
    assert (info["sse_algorithm"], info["kms_data_encryption"]) == ("KMS", "SM4")
    data = random_bytes(CHUNK + 17, seed=721)
    put = client.put_object(bucket, "by-default", data)
    _assert_kms_sm4(put)
    got = client.get_object(bucket, "by-default")
    assert got.body == data
    _assert_kms_sm4(got, put.headers[KEY_ID])

    client.put_bucket_encryption(bucket, "KMS", kms_key_id="123", kms_data_encryption="SM4")
    assert client.get_bucket_encryption(bucket) == {
        "sse_algorithm": "KMS", "kms_master_key_id": "123", "kms_data_encryption": "SM4"}
    e = _failure(client.put_bucket_encryption, bucket, "KMS", kms_data_encryption="SM3")
    assert (e.status, e.code) == (400, "InvalidEncryptionAlgorithmError")


def test_kms_with_sm4_data_put_get_head_and_ranges(client, bucket):
    data = random_bytes(SIZE, seed=722)
    put = client.put_object(bucket, "kms-sm4", data, headers=KMS_SM4)
    _assert_kms_sm4(put)
    assert (put.etag, put.crc) == (etag_of(data), crc64(data))
    got = client.get_object(bucket, "kms-sm4")
    assert got.body == data
    _assert_kms_sm4(got, put.headers[KEY_ID])
    _assert_kms_sm4(client.head_object(bucket, "kms-sm4"), put.headers[KEY_ID])
    for start, end in [(CHUNK - 1, CHUNK + 1), (100, 200_001), (SIZE - 10, SIZE)]:
        r = client.get_object(bucket, "kms-sm4", range=f"bytes={start}-{end - 1}")
        assert r.body == data[start:end], (start, end)


@pytest.mark.parametrize("headers,rule", [
    (SM4, ("SM4", None, None)),
    ({**KMS_SM4, KEY_ID: "9468da86-3509-4f8d-a61e-6eab1eac"}, ("KMS", "9468da86-3509-4f8d-a61e-6eab1eac", "SM4")),
], ids=["SM4", "KMS+SM4"])
def test_bucket_created_with_sm4_headers(admin, headers, rule):
    """PutBucket's SSE headers set the default rule (oss2 test_bucket_header_SM4 / _KMS_SM4)."""
    name = unique_bucket("sm4hdr")
    b = admin.bucket(name)
    b.create_bucket(headers=headers)
    try:
        got = admin.get_bucket_encryption(name)
        assert (got["sse_algorithm"], got["kms_master_key_id"], got["kms_data_encryption"]) == rule
        assert admin.bucket_info(name)["kms_data_encryption"] == rule[2]
        if rule[0] == "SM4":
            _assert_sm4(admin.put_object(name, "o", b"default from PutBucket"))
            assert admin.get_object(name, "o").body == b"default from PutBucket"
    finally:
        if rule[0] == "SM4":
            b.delete_object("o")
        b.delete_bucket()
