"""Simple objects: put / get / head / delete, stored headers, ranges, conditionals, ACL."""

from __future__ import annotations

import base64
import email.utils
import hashlib
import time

import oss2
import pytest
import requests

from oss_rules import crc64, etag_of, random_bytes
from sdk_clients import ServiceFailure

KEY_SAMPLES = [
    "plain.txt",
    "dir/sub/file.bin",
    "with space and +plus+ and 100%.dat",
    "中文/文件 名.txt",
    "odd chars !'()*;:@&=$,[]~.txt",
    "%2F-literal-not-a-slash",
]


@pytest.mark.parametrize("key", KEY_SAMPLES)
def test_put_get_head_delete(client, bucket, key):
    data = random_bytes(64 * 1024 + 7, seed=len(key))
    put = client.put_object(bucket, key, data)
    assert put.status == 200
    assert put.etag == etag_of(data)
    assert put.crc == crc64(data), "PutObject must return x-oss-hash-crc64ecma of the body"
    assert len(put.request_id) == 24

    got = client.get_object(bucket, key)
    assert got.status == 200
    assert got.body == data
    assert got.etag == etag_of(data)
    assert got.crc == crc64(data)
    assert int(got.headers["content-length"]) == len(data)
    assert got.headers["x-oss-object-type"] == "Normal"

    head = client.head_object(bucket, key)
    assert head.status == 200
    assert int(head.headers["content-length"]) == len(data)
    assert head.etag == etag_of(data)
    assert head.crc == crc64(data)
    assert "last-modified" in head.headers

    deleted = client.delete_object(bucket, key)
    assert deleted.status == 204
    with pytest.raises(ServiceFailure) as e:
        client.get_object(bucket, key)
    assert (e.value.status, e.value.code) == (404, "NoSuchKey")


def test_empty_object(client, bucket):
    put = client.put_object(bucket, "empty", b"")
    assert put.etag == '"D41D8CD98F00B204E9800998ECF8427E"'
    assert put.crc == 0
    got = client.get_object(bucket, "empty")
    assert got.body == b""
    assert got.crc == 0


def test_hello_world_etag(client, bucket):
    # The reference value seen in real OSS captures (oss-api.md §3.2).
    put = client.put_object(bucket, "hello", b"hello world")
    assert put.etag == '"5EB63BBBE01EEED093CB22BB8F5ACDC3"'
    assert put.headers["content-md5"] == "XrY7u+Ae7tCTyyK7j1rNww=="


def test_stored_headers_round_trip(client, bucket):
    data = b"<html>hello</html>"
    meta = {"author": "alice", "project": "ossvault interop", "empty-ish": "-"}
    fields = dict(
        content_type="text/html; charset=utf-8",
        content_disposition='attachment; filename="report 2024.html"',
        cache_control="no-cache, max-age=0",
        expires="Thu, 01 Dec 2094 16:00:00 GMT",
    )
    client.put_object(bucket, "page", data, metadata=meta, **fields)
    for reply in (client.head_object(bucket, "page"), client.get_object(bucket, "page")):
        h = reply.headers
        assert h["content-type"] == fields["content_type"]
        assert h["content-disposition"] == fields["content_disposition"]
        assert h["cache-control"] == fields["cache_control"]
        assert h["expires"] == fields["expires"]
        assert reply.meta() == meta
    if client.sdk == "v2":  # the SDK's own parsing of the same headers
        head = client.head_object(bucket, "page").sdk
        assert dict(head.metadata) == meta
        assert head.content_type == fields["content_type"]
        assert head.cache_control == fields["cache_control"]
        assert head.content_disposition == fields["content_disposition"]
        assert head.hash_crc64 == str(crc64(data))
        assert head.etag == etag_of(data)


def test_default_content_type(client, bucket):
    client.put_object(bucket, "page.html", b"<p/>")
    assert client.head_object(bucket, "page.html").headers["content-type"] == "text/html"
    client.put_object(bucket, "noext", b"x")
    assert client.head_object(bucket, "noext").headers["content-type"] == "application/octet-stream"


def test_overwrite_replaces_content_and_metadata(client, bucket):
    client.put_object(bucket, "k", b"first", metadata={"v": "1"})
    client.put_object(bucket, "k", b"second!", metadata={"w": "2"})
    got = client.get_object(bucket, "k")
    assert got.body == b"second!"
    assert got.meta() == {"w": "2"}


@pytest.mark.parametrize(
    "range_header, start, end",
    [
        ("bytes=10-19", 10, 19),
        ("bytes=0-0", 0, 0),
        ("bytes=-5", 995, 999),  # suffix range: the last 5 bytes
        ("bytes=990-", 990, 999),  # open range: to the end
        ("bytes=999-999", 999, 999),
    ],
)
def test_range_get(client, bucket, range_header, start, end):
    data = random_bytes(1000, seed=3)
    client.put_object(bucket, "ranged", data)
    got = client.get_object(bucket, "ranged", range=range_header)
    assert got.status == 206
    assert got.body == data[start : end + 1]
    assert got.headers["content-range"] == f"bytes {start}-{end}/1000"
    assert int(got.headers["content-length"]) == end - start + 1


@pytest.mark.parametrize("range_header", ["bytes=200-300", "bytes=50-5000", "bytes=60-10", "bytes=abc"])
def test_invalid_range_is_ignored(client, bucket, range_header):
    # Without x-oss-range-behavior: standard, OSS ignores a range it cannot serve exactly and
    # answers 200 with the whole object (oss-api.md §3.2).
    data = random_bytes(100, seed=4)
    client.put_object(bucket, "short", data)
    got = client.get_object(bucket, "short", range=range_header)
    assert got.status == 200
    assert got.body == data
    assert "content-range" not in got.headers


def test_standard_range_behavior(client, bucket):
    data = random_bytes(100, seed=5)
    client.put_object(bucket, "std", data)
    got = client.get_object(bucket, "std", range="bytes=50-5000", range_behavior="standard")
    assert got.status == 206
    assert got.body == data[50:]
    assert got.headers["content-range"] == "bytes 50-99/100"
    with pytest.raises(ServiceFailure) as e:
        client.get_object(bucket, "std", range="bytes=100-200", range_behavior="standard")
    assert (e.value.status, e.value.code) == (416, "InvalidRange")


def test_conditional_get(client, bucket):
    data = b"conditional body"
    etag = client.put_object(bucket, "cond", data).etag

    assert client.get_object(bucket, "cond", if_match=etag).body == data
    with pytest.raises(ServiceFailure) as e:
        client.get_object(bucket, "cond", if_match='"00000000000000000000000000000000"')
    assert (e.value.status, e.value.code) == (412, "PreconditionFailed")
    assert len(e.value.request_id) == 24

    with pytest.raises(ServiceFailure) as e:
        client.get_object(bucket, "cond", if_none_match=etag)
    assert e.value.status == 304
    if client.sdk == "oss2":
        assert isinstance(e.value.original, oss2.exceptions.NotModified)
    assert client.get_object(bucket, "cond", if_none_match='"0123"').body == data


def test_forbid_overwrite(client, bucket):
    first = client.put_object(bucket, "once", b"original", forbid_overwrite=True)
    assert first.status == 200
    with pytest.raises(ServiceFailure) as e:
        client.put_object(bucket, "once", b"clobber", forbid_overwrite=True)
    assert (e.value.status, e.value.code) == (409, "FileAlreadyExists")
    assert client.get_object(bucket, "once").body == b"original"
    # without the header an overwrite is allowed
    client.put_object(bucket, "once", b"replaced")
    assert client.get_object(bucket, "once").body == b"replaced"


def test_delete_missing_key_is_204(client, bucket):
    assert client.delete_object(bucket, "never-existed").status == 204


def test_object_acl(client, bucket, endpoint):
    client.put_object(bucket, "acl.txt", b"acl body")
    assert client.get_object_acl(bucket, "acl.txt") == "default"
    anonymous_url = f"{endpoint}/{bucket}/acl.txt"

    r = requests.get(anonymous_url, timeout=10)
    assert r.status_code == 403, "private bucket, default object ACL: anonymous read must be denied"
    assert "<Code>AccessDenied</Code>" in r.text

    client.put_object_acl(bucket, "acl.txt", "public-read")
    assert client.get_object_acl(bucket, "acl.txt") == "public-read"
    r = requests.get(anonymous_url, timeout=10)
    assert r.status_code == 200 and r.content == b"acl body"

    client.put_object_acl(bucket, "acl.txt", "private")
    assert client.get_object_acl(bucket, "acl.txt") == "private"
    assert requests.get(anonymous_url, timeout=10).status_code == 403


def test_content_md5_checked(client, bucket):
    data = b"checked body"
    good = base64.b64encode(hashlib.md5(data).digest()).decode()
    assert client.put_object(bucket, "md5", data, content_md5=good).etag == etag_of(data)
    bad = base64.b64encode(hashlib.md5(b"other body").digest()).decode()
    with pytest.raises(ServiceFailure) as e:
        client.put_object(bucket, "md5", b"corrupted in flight", content_md5=bad)
    assert (e.value.status, e.value.code) == (400, "InvalidDigest")
    assert client.get_object(bucket, "md5").body == data


def test_response_header_override(client, bucket):
    client.put_object(bucket, "data.bin", b"1,2,3", content_type="application/octet-stream")
    got = client.get_object(bucket, "data.bin", response_content_type="text/csv")
    assert got.headers["content-type"] == "text/csv"
    assert got.body == b"1,2,3"
    assert client.head_object(bucket, "data.bin").headers["content-type"] == "application/octet-stream"


def test_object_meta_and_exists(client, bucket):
    data = random_bytes(5000, seed=9)
    client.put_object(bucket, "present", data)
    meta = client.object_meta(bucket, "present")
    assert meta.status == 200
    assert meta.etag == etag_of(data)
    assert int(meta.headers["content-length"]) == len(data)
    assert client.exists(bucket, "present") is True
    assert client.exists(bucket, "absent") is False
    # HEAD ?objectMeta must tell NoSuchBucket from NoSuchKey (through x-oss-err): the SDKs raise
    with pytest.raises(ServiceFailure) as e:
        client.exists(bucket + "-missing", "present")
    assert (e.value.status, e.value.code) == (404, "NoSuchBucket")


def test_oss2_chunked_upload(oss2_client, oss2_bucket):
    """An iterable body goes out with Transfer-Encoding: chunked (no Content-Length)."""
    chunks = [random_bytes(n, seed=n) for n in (1, 70_000, 3, 200_000)]
    result = oss2_client.bucket(oss2_bucket).put_object("chunked", iter(chunks))  # oss2 checks the CRC
    data = b"".join(chunks)
    assert result.etag == etag_of(data).strip('"')
    assert result.crc == crc64(data)
    assert oss2_client.get_object(oss2_bucket, "chunked").body == data


def test_oss2_time_conditionals(oss2_client, oss2_bucket):
    b = oss2_client.bucket(oss2_bucket)
    b.put_object("t", b"0123456789")
    future = email.utils.formatdate(time.time() + 3600, usegmt=True)
    past = email.utils.formatdate(time.time() - 3600, usegmt=True)
    with pytest.raises(oss2.exceptions.NotModified):
        b.get_object("t", headers={"If-Modified-Since": future})
    with pytest.raises(oss2.exceptions.NotModified):  # even with a Range (oss2 test_modified_since)
        b.get_object("t", byte_range=(0, 3), headers={"If-Modified-Since": future})
    assert b.get_object("t", headers={"If-Modified-Since": past}).read() == b"0123456789"
    with pytest.raises(oss2.exceptions.PreconditionFailed):
        b.get_object("t", headers={"If-Unmodified-Since": past})
    assert b.get_object("t", headers={"If-Unmodified-Since": future}).read() == b"0123456789"


def test_oss2_copy_source_conditions(oss2_client, oss2_bucket):
    b = oss2_client.bucket(oss2_bucket)
    etag = b.put_object("src", b"source").etag
    with pytest.raises(oss2.exceptions.PreconditionFailed):
        b.copy_object(oss2_bucket, "src", "dst", headers={"x-oss-copy-source-if-match": '"0000"'})
    with pytest.raises(oss2.exceptions.NoSuchKey):
        b.get_object("dst")
    b.copy_object(oss2_bucket, "src", "dst", headers={"x-oss-copy-source-if-match": f'"{etag}"'})
    assert b.get_object("dst").read() == b"source"


def test_oss2_key_length_limit(oss2_client, oss2_bucket):
    b = oss2_client.bucket(oss2_bucket)
    longest = "é" * 511 + "x"  # 1023 bytes of UTF-8
    b.put_object(longest, b"long")
    assert b.get_object(longest).read() == b"long"
    assert longest in [o.key for o in oss2.ObjectIterator(b)]
    with pytest.raises(oss2.exceptions.InvalidObjectName):
        b.put_object("x" * 1025, b"too long")
