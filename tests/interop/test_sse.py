"""Server-side encryption with SSE-OSS (AES256), as the official SDKs see it: bucket default
encryption (`?encryption`), the per-object headers of reference §4.2 on Put/Get/Head, multipart,
copy and append, range reads across the 64 KiB sealed-chunk boundaries, and the error codes.

The at-rest side (ciphertext on disk, tampering, key rotation) is in tests/crash. SSE-KMS is
not tested here.

Integrity values of an encrypted object are those of its plaintext (reference §4.2): the SDKs'
own CRC-64 checks stay on, and simple objects' ETags are compared with the plaintext MD5.
"""

from __future__ import annotations

import pytest

from oss_rules import crc64, etag_of, multipart_etag, random_bytes
from sdk_clients import ServiceFailure

SSE = "x-oss-server-side-encryption"
AES256 = {SSE: "AES256"}
CHUNK = 64 * 1024  # plaintext bytes per sealed chunk (crates/server/src/sse/seal.rs)


def _sse_of(reply):
    return reply.headers.get(SSE)


def _failure(fn, *args, **kwargs) -> ServiceFailure:
    with pytest.raises(ServiceFailure) as e:
        fn(*args, **kwargs)
    return e.value


# -- bucket default encryption -------------------------------------------------------------------


def test_bucket_encryption_put_get_delete(client, bucket):
    e = _failure(client.get_bucket_encryption, bucket)
    assert (e.status, e.code) == (404, "NoSuchServerSideEncryptionRule")
    assert client.bucket_info(bucket)["sse_algorithm"] in (None, "None")

    assert client.put_bucket_encryption(bucket, "AES256").status == 200
    rule = client.get_bucket_encryption(bucket)
    assert rule == {"sse_algorithm": "AES256", "kms_master_key_id": None, "kms_data_encryption": None}
    assert client.bucket_info(bucket)["sse_algorithm"] == "AES256"

    assert client.delete_bucket_encryption(bucket).status == 204
    e = _failure(client.get_bucket_encryption, bucket)
    assert (e.status, e.code) == (404, "NoSuchServerSideEncryptionRule")
    assert client.bucket_info(bucket)["sse_algorithm"] in (None, "None")
    # Deleting when nothing is configured also succeeds (oss2's docstring).
    assert client.delete_bucket_encryption(bucket).status == 204


def test_bucket_encryption_errors(client, bucket):
    e = _failure(client.put_bucket_encryption, bucket, "AES128")
    assert (e.status, e.code) == (400, "InvalidEncryptionAlgorithmError")
    # Nothing was stored by the refused request.
    e = _failure(client.get_bucket_encryption, bucket)
    assert (e.status, e.code) == (404, "NoSuchServerSideEncryptionRule")

    e = _failure(client.get_bucket_encryption, bucket + "-missing")
    assert (e.status, e.code) == (404, "NoSuchBucket")
    e = _failure(client.put_bucket_encryption, bucket + "-missing", "AES256")
    assert (e.status, e.code) == (404, "NoSuchBucket")


# -- PutObject / GetObject / HeadObject ----------------------------------------------------------

# (Range header, start, end exclusive) over a 4-chunk object of SIZE bytes.
SIZE = 3 * CHUNK + 12_345
RANGES = [
    ("bytes=0-0", 0, 1),
    ("bytes=0-65535", 0, CHUNK),  # exactly the first chunk
    ("bytes=65535-65536", CHUNK - 1, CHUNK + 1),  # the last byte of chunk 0, the first of chunk 1
    ("bytes=65530-131080", CHUNK - 6, 2 * CHUNK + 9),  # three chunks, partly
    ("bytes=65536-131071", CHUNK, 2 * CHUNK),  # exactly the second chunk
    ("bytes=100-200000", 100, 200_001),  # all four chunks, partly
    (f"bytes={3 * CHUNK}-", 3 * CHUNK, SIZE),  # open end: the last (short) chunk
    (f"bytes={SIZE - 1}-{SIZE - 1}", SIZE - 1, SIZE),  # the very last byte
    ("bytes=-1", SIZE - 1, SIZE),  # suffix ranges
    ("bytes=-100", SIZE - 100, SIZE),
    (f"bytes=-{SIZE - 3 * CHUNK + 1}", 3 * CHUNK - 1, SIZE),  # suffix reaching back over a boundary
    ("bytes=-200000", SIZE - 200_000, SIZE),
]


def test_put_get_head_with_sse_header(client, bucket):
    data = random_bytes(SIZE, seed=401)
    put = client.put_object(bucket, "enc/object.bin", data, headers=AES256)
    assert put.status == 200
    assert _sse_of(put) == "AES256"
    assert put.etag == etag_of(data), "the ETag of an SSE object is the MD5 of its plaintext"
    assert put.crc == crc64(data), "the CRC-64 of an SSE object is that of its plaintext"
    assert "x-oss-server-side-encryption-key-id" not in put.headers

    got = client.get_object(bucket, "enc/object.bin")  # the SDK checks the CRC-64 itself
    assert got.body == data
    assert _sse_of(got) == "AES256"
    assert got.etag == etag_of(data)
    assert got.crc == crc64(data)
    assert int(got.headers["content-length"]) == SIZE

    head = client.head_object(bucket, "enc/object.bin")
    assert _sse_of(head) == "AES256"
    assert int(head.headers["content-length"]) == SIZE
    assert head.etag == etag_of(data)
    assert head.crc == crc64(data)
    assert "x-oss-server-side-encryption-key-id" not in head.headers


@pytest.mark.parametrize("spec,start,end", RANGES, ids=[r[0] for r in RANGES])
def test_range_gets_of_an_sse_object(admin, admin_bucket, spec, start, end):
    data = random_bytes(SIZE, seed=402)
    admin.put_object(admin_bucket, "ranged", data, headers=AES256)
    got = admin.get_object(admin_bucket, "ranged", range=spec)
    assert got.status == 206
    assert got.body == data[start:end], f"{spec}: {len(got.body)} bytes, wanted {end - start}"
    assert got.headers["content-range"] == f"bytes {start}-{end - 1}/{SIZE}"
    assert _sse_of(got) == "AES256"


def test_range_gets_every_flavour(client, bucket):
    """A few of the ranges above through every SDK flavour (v2's range handling differs)."""
    data = random_bytes(SIZE, seed=403)
    client.put_object(bucket, "ranged", data, headers=AES256)
    for spec, start, end in (RANGES[2], RANGES[5], RANGES[8], RANGES[10]):
        got = client.get_object(bucket, "ranged", range=spec)
        assert got.status == 206, spec
        assert got.body == data[start:end], spec
    # `standard` behaviour clamps an end past EOF instead of serving the whole object.
    got = client.get_object(bucket, "ranged", range=f"bytes={SIZE - 10}-{SIZE + 1000}", range_behavior="standard")
    assert (got.status, got.body) == (206, data[-10:])


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1])
def test_sizes_at_chunk_edges(admin, admin_bucket, size):
    data = random_bytes(size, seed=size)
    put = admin.put_object(admin_bucket, f"edge-{size}", data, headers=AES256)
    assert (put.etag, put.crc, _sse_of(put)) == (etag_of(data), crc64(data), "AES256")
    got = admin.get_object(admin_bucket, f"edge-{size}")
    assert got.body == data
    assert (got.etag, got.crc, _sse_of(got)) == (etag_of(data), crc64(data), "AES256")


def test_content_md5_is_checked_against_the_plaintext(client, bucket):
    import base64
    import hashlib

    data = random_bytes(CHUNK + 77, seed=404)
    good = base64.b64encode(hashlib.md5(data).digest()).decode()
    put = client.put_object(bucket, "md5-ok", data, content_md5=good, headers=AES256)
    assert _sse_of(put) == "AES256"
    bad = base64.b64encode(hashlib.md5(data + b"x").digest()).decode()
    e = _failure(client.put_object, bucket, "md5-bad", data, content_md5=bad, headers=AES256)
    assert (e.status, e.code) == (400, "InvalidDigest")
    assert not client.exists(bucket, "md5-bad")


def test_invalid_sse_header_is_refused(client, bucket):
    e = _failure(client.put_object, bucket, "bad-alg", b"data", headers={SSE: "AES128"})
    assert (e.status, e.code) == (400, "InvalidEncryptionAlgorithmError")
    assert not client.exists(bucket, "bad-alg")
    e = _failure(client.initiate_multipart, bucket, "bad-alg-mp", headers={SSE: "aes256"})
    assert (e.status, e.code) == (400, "InvalidEncryptionAlgorithmError")
    client.put_object(bucket, "src", b"copy me")
    e = _failure(client.copy_object, bucket, "bad-alg-copy", bucket, "src", headers={SSE: "SM5"})
    assert (e.status, e.code) == (400, "InvalidEncryptionAlgorithmError")
    e = _failure(client.append_object, bucket, "bad-alg-append", 0, b"x", headers={SSE: "none"})
    assert (e.status, e.code) == (400, "InvalidEncryptionAlgorithmError")
    assert not client.exists(bucket, "bad-alg-append")


# -- bucket default vs. object header ------------------------------------------------------------


def test_bucket_default_applies_to_new_objects_only(client, bucket):
    before = random_bytes(1000, seed=405)
    put = client.put_object(bucket, "before", before)
    assert _sse_of(put) is None

    client.put_bucket_encryption(bucket, "AES256")
    # Existing objects keep what they were written with.
    assert _sse_of(client.head_object(bucket, "before")) is None
    got = client.get_object(bucket, "before")
    assert (got.body, _sse_of(got)) == (before, None)

    after = random_bytes(CHUNK * 2 + 1, seed=406)
    put = client.put_object(bucket, "after", after)  # no header: the default applies
    assert _sse_of(put) == "AES256"
    assert (put.etag, put.crc) == (etag_of(after), crc64(after))
    assert _sse_of(client.head_object(bucket, "after")) == "AES256"
    got = client.get_object(bucket, "after")
    assert (got.body, _sse_of(got)) == (after, "AES256")

    # An explicit header is honoured under the default too.
    put = client.put_object(bucket, "explicit", b"explicit", headers=AES256)
    assert _sse_of(put) == "AES256"

    # Removing the default changes neither the objects written under it nor the older ones.
    client.delete_bucket_encryption(bucket)
    assert _sse_of(client.head_object(bucket, "after")) == "AES256"
    assert _sse_of(client.head_object(bucket, "before")) is None
    assert client.get_object(bucket, "after").body == after
    put = client.put_object(bucket, "later", b"later")
    assert _sse_of(put) is None
    assert _sse_of(client.head_object(bucket, "later")) is None


def test_object_header_is_read_before_the_default(client, bucket):
    """The object's header wins over the bucket default. Without SSE-KMS (not tested here) the
    only other thing a header can say is something invalid: it must be refused, not replaced by
    the default."""
    client.put_bucket_encryption(bucket, "AES256")
    e = _failure(client.put_object, bucket, "bad", b"data", headers={SSE: "AES512"})
    assert (e.status, e.code) == (400, "InvalidEncryptionAlgorithmError")
    put = client.put_object(bucket, "good", b"data", headers=AES256)
    assert _sse_of(put) == "AES256"


def test_bucket_created_with_sse_header_has_the_default(admin, endpoint):
    """PutBucket with x-oss-server-side-encryption sets the default rule (reference §3.1)."""
    from oss_rules import unique_bucket

    name = unique_bucket("ssehdr")
    b = admin.bucket(name)
    b.create_bucket(headers=AES256)
    try:
        assert admin.get_bucket_encryption(name)["sse_algorithm"] == "AES256"
        assert admin.bucket_info(name)["sse_algorithm"] == "AES256"
        put = admin.put_object(name, "o", b"default from PutBucket")
        assert _sse_of(put) == "AES256"
    finally:
        b.delete_object("o")
        b.delete_bucket()


# -- multipart ------------------------------------------------------------------------------------


def _parts():
    # Part 1 is not a multiple of the chunk size, so part 2 starts mid-chunk of the object.
    return [random_bytes(150 * 1024 + 3, seed=407), random_bytes(70 * 1024, seed=408)]


def test_multipart_under_sse(client, bucket):
    parts = _parts()
    data = b"".join(parts)
    init = client.initiate_multipart(bucket, "mp/enc", headers=AES256)
    assert init.status == 200
    assert _sse_of(init) == "AES256"
    uid = init.upload_id

    etags = []
    for n, part in enumerate(parts, start=1):
        r = client.upload_part(bucket, "mp/enc", uid, n, part)
        assert r.status == 200
        assert _sse_of(r) == "AES256"
        assert r.etag == etag_of(part)
        assert r.crc == crc64(part)
        etags.append((n, r.etag))
    listed = client.list_parts(bucket, "mp/enc", uid)
    assert [(n, e.upper(), size) for n, e, size in listed] == [
        (n, etag_of(p), len(p)) for n, p in enumerate(parts, start=1)
    ]

    done = client.complete_multipart(bucket, "mp/enc", uid, etags)
    assert done.status == 200
    assert _sse_of(done) == "AES256"
    assert done.etag == multipart_etag([e for _, e in etags])
    assert done.crc == crc64(data)

    got = client.get_object(bucket, "mp/enc")
    assert got.body == data
    assert (_sse_of(got), got.crc) == ("AES256", crc64(data))
    assert _sse_of(client.head_object(bucket, "mp/enc")) == "AES256"
    # Ranges across the part boundary (a segment boundary inside a sealed chunk's span).
    b = len(parts[0])
    for start, end in [(b - 1, b + 1), (b - 70_000, b + 70_000), (CHUNK - 5, b + CHUNK + 5)]:
        r = client.get_object(bucket, "mp/enc", range=f"bytes={start}-{end - 1}")
        assert r.body == data[start:end], (start, end)


def test_upload_part_echoes_the_uploads_sse(client, bucket):
    """Reference §4.2: UploadPart without SSE headers answers 200 and echoes the upload's SSE
    headers."""
    uid = client.initiate_multipart(bucket, "mp/echo", headers=AES256).upload_id
    r = client.upload_part(bucket, "mp/echo", uid, 1, b"part one")
    assert r.status == 200
    assert _sse_of(r) == "AES256", f"UploadPart response headers: {r.headers}"
    client.abort_multipart(bucket, "mp/echo", uid)


def test_sse_headers_refused_on_upload_part_and_complete(client, bucket):
    parts = _parts()
    uid = client.initiate_multipart(bucket, "mp/refuse", headers=AES256).upload_id
    e = _failure(client.upload_part, bucket, "mp/refuse", uid, 1, parts[0], headers=AES256)
    assert (e.status, e.code) == (400, "InvalidArgument")
    assert client.list_parts(bucket, "mp/refuse", uid) == []

    etags = [(n, client.upload_part(bucket, "mp/refuse", uid, n, p).etag) for n, p in enumerate(parts, start=1)]
    e = _failure(client.complete_multipart, bucket, "mp/refuse", uid, etags, headers=AES256)
    assert (e.status, e.code) == (400, "InvalidArgument")
    assert not client.exists(bucket, "mp/refuse")
    # The upload is still there and completes without the header.
    done = client.complete_multipart(bucket, "mp/refuse", uid, etags)
    assert _sse_of(done) == "AES256"
    assert client.get_object(bucket, "mp/refuse").body == b"".join(parts)


def test_multipart_under_the_bucket_default(client, bucket):
    client.put_bucket_encryption(bucket, "AES256")
    parts = _parts()
    init = client.initiate_multipart(bucket, "mp/default")
    assert _sse_of(init) == "AES256"
    # Changing the default mid-upload does not change the upload: Initiate decided.
    client.delete_bucket_encryption(bucket)
    etags = [(n, client.upload_part(bucket, "mp/default", init.upload_id, n, p).etag)
             for n, p in enumerate(parts, start=1)]
    done = client.complete_multipart(bucket, "mp/default", init.upload_id, etags)
    assert _sse_of(done) == "AES256"
    got = client.get_object(bucket, "mp/default")
    assert (got.body, _sse_of(got)) == (b"".join(parts), "AES256")

    # Without a header and without a default, an upload is not encrypted.
    init = client.initiate_multipart(bucket, "mp/plain")
    assert _sse_of(init) is None
    client.abort_multipart(bucket, "mp/plain", init.upload_id)


# -- copy -----------------------------------------------------------------------------------------


def test_copy_decides_its_own_encryption(client, bucket):
    data = random_bytes(2 * CHUNK + 999, seed=409)
    client.put_object(bucket, "src-enc", data, headers=AES256)

    # No header, no bucket default: the copy is not encrypted, whatever the source was.
    plain = client.copy_object(bucket, "copy-plain", bucket, "src-enc")
    assert plain.status == 200
    assert _sse_of(plain) is None
    assert plain.crc == crc64(data)
    head = client.head_object(bucket, "copy-plain")
    assert _sse_of(head) is None
    assert head.etag == etag_of(data)
    got = client.get_object(bucket, "copy-plain")
    assert (got.body, _sse_of(got)) == (data, None)

    # With the header: encrypted.
    enc = client.copy_object(bucket, "copy-enc", bucket, "src-enc", headers=AES256)
    assert _sse_of(enc) == "AES256"
    assert enc.crc == crc64(data)
    got = client.get_object(bucket, "copy-enc")
    assert (got.body, _sse_of(got), got.etag) == (data, "AES256", etag_of(data))

    # An unencrypted source copied with the header becomes encrypted.
    client.put_object(bucket, "src-plain", data)
    enc2 = client.copy_object(bucket, "copy-enc2", bucket, "src-plain", headers=AES256)
    assert _sse_of(enc2) == "AES256"
    assert _sse_of(client.head_object(bucket, "copy-enc2")) == "AES256"
    assert client.get_object(bucket, "copy-enc2").body == data

    # The bucket default applies to a copy without a header.
    client.put_bucket_encryption(bucket, "AES256")
    dflt = client.copy_object(bucket, "copy-default", bucket, "src-plain")
    assert _sse_of(dflt) == "AES256"
    got = client.get_object(bucket, "copy-default")
    assert (got.body, _sse_of(got)) == (data, "AES256")
    # The sources are untouched.
    assert _sse_of(client.head_object(bucket, "src-plain")) is None
    assert client.get_object(bucket, "src-enc").body == data


def test_metadata_update_keeps_the_encryption(client, bucket):
    """A copy onto itself without SSE headers (oss2's update_object_meta) changes metadata
    only: it must never quietly store the object decrypted."""
    data = random_bytes(CHUNK + 5, seed=411)
    client.put_object(bucket, "self", data, headers=AES256)
    client.copy_object(bucket, "self", bucket, "self", directive="REPLACE", content_type="text/plain")
    head = client.head_object(bucket, "self")
    assert _sse_of(head) == "AES256"
    got = client.get_object(bucket, "self")
    assert (got.body, got.headers.get("content-type")) == (data, "text/plain")


# -- append ---------------------------------------------------------------------------------------


def _append_all(client, bucket, key, pieces, headers_per_call):
    content, crc = b"", None
    replies = []
    for piece, headers in zip(pieces, headers_per_call):
        r = client.append_object(bucket, key, len(content), piece, init_crc=crc, headers=headers)
        content += piece
        crc = crc64(content)
        assert r.next_position == len(content)
        assert r.crc == crc
        replies.append(r)
    return content, replies


def test_first_append_decides(client, bucket):
    pieces = [b"first ", random_bytes(CHUNK + 10, seed=410), b"third", random_bytes(100, seed=411)]
    # Later appends say nothing, or something else: the object stays AES256.
    content, replies = _append_all(client, bucket, "app-enc", pieces, [AES256, None, {SSE: "KMS"}, AES256])
    assert [_sse_of(r) for r in replies] == ["AES256"] * 4
    got = client.get_object(bucket, "app-enc")
    assert (got.body, _sse_of(got), got.crc) == (content, "AES256", crc64(content))
    assert _sse_of(client.head_object(bucket, "app-enc")) == "AES256"
    r = client.get_object(bucket, "app-enc", range=f"bytes=3-{6 + CHUNK}")
    assert r.body == content[3 : 7 + CHUNK]

    # Unencrypted from the first append on: a later header does not encrypt it.
    content, replies = _append_all(client, bucket, "app-plain", pieces[:3], [None, AES256, AES256])
    assert [_sse_of(r) for r in replies] == [None] * 3
    got = client.get_object(bucket, "app-plain")
    assert (got.body, _sse_of(got)) == (content, None)


def test_first_append_takes_the_bucket_default(client, bucket):
    client.put_bucket_encryption(bucket, "AES256")
    pieces = [b"a" * 10, b"b" * CHUNK, b"c" * 10]
    content, replies = _append_all(client, bucket, "app-default", pieces, [None, None, None])
    assert [_sse_of(r) for r in replies] == ["AES256"] * 3
    # Removing the default does not change an object being appended to.
    client.delete_bucket_encryption(bucket)
    r = client.append_object(bucket, "app-default", len(content), b"d", init_crc=crc64(content))
    assert _sse_of(r) == "AES256"
    got = client.get_object(bucket, "app-default")
    assert (got.body, _sse_of(got)) == (content + b"d", "AES256")


def test_a_default_set_later_does_not_change_an_unencrypted_appendable_object(client, bucket):
    """An object begun without encryption (even by an empty first append) stays unencrypted
    when a bucket default appears: appends continue it as it is, and it stays readable."""
    r = client.append_object(bucket, "app-plain", 0, b"")
    assert _sse_of(r) is None
    client.put_bucket_encryption(bucket, "AES256")
    r = client.append_object(bucket, "app-plain", 0, b"still plain", init_crc=0)
    assert _sse_of(r) is None
    got = client.get_object(bucket, "app-plain")
    assert (got.body, _sse_of(got)) == (b"still plain", None)


def test_upload_part_copy_is_sealed_and_echoes_the_upload_encryption(endpoint, admin):
    """UploadPartCopy into an SSE upload: the part is sealed under the upload's key and the
    answer carries the upload's encryption, like UploadPart."""
    import oss2

    from ossvault_harness import ACCESS_KEY_ID, ACCESS_KEY_SECRET
    from oss_rules import unique_bucket

    name = unique_bucket("sse-upc")
    admin.create_bucket(name)
    b = oss2.Bucket(oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET), endpoint, name)
    data = random_bytes(3 * CHUNK + 11, seed=413)
    b.put_object("src", data)
    upload_id = b.init_multipart_upload("dst", headers=AES256).upload_id
    part = b.upload_part_copy(name, "src", (0, len(data) - 1), "dst", upload_id, 1)
    assert part.headers.get(SSE) == "AES256"
    b.complete_multipart_upload("dst", upload_id, [oss2.models.PartInfo(1, part.etag)])
    got = b.get_object("dst")
    assert (got.read(), got.headers.get(SSE)) == (data, "AES256")
    b.delete_object("src")
    b.delete_object("dst")
    b.delete_bucket()
