"""CopyObject (COPY / REPLACE metadata) and AppendObject (positions, CRC continuation)."""

from __future__ import annotations

import oss2
import pytest

from oss_rules import crc64, etag_of, random_bytes
from sdk_clients import ServiceFailure


def test_copy_keeps_metadata(client, bucket):
    data = random_bytes(300 * 1024, seed=11)
    src = "src/中文 +%.bin"
    client.put_object(bucket, src, data, content_type="image/png", metadata={"color": "blue"})
    copied = client.copy_object(bucket, "dst/copy one.bin", bucket, src)
    assert copied.status == 200
    assert copied.crc == crc64(data), "CopyObject must return the CRC of the source content"
    if client.sdk == "v2":
        assert copied.sdk.etag == etag_of(data)
        assert copied.sdk.hash_crc64 == str(crc64(data))

    got = client.get_object(bucket, "dst/copy one.bin")
    assert got.body == data
    assert got.etag == etag_of(data)
    assert got.crc == crc64(data)
    assert got.headers["content-type"] == "image/png"
    assert got.meta() == {"color": "blue"}
    # the source is untouched
    assert client.get_object(bucket, src).body == data


def test_copy_replace_metadata(client, bucket):
    data = b"replace my metadata"
    client.put_object(bucket, "orig", data, content_type="text/plain", metadata={"old": "1", "keep": "no"})
    client.copy_object(bucket, "replaced", bucket, "orig", directive="REPLACE",
                       content_type="application/json", metadata={"new": "2"})
    head = client.head_object(bucket, "replaced")
    assert head.headers["content-type"] == "application/json"
    assert head.meta() == {"new": "2"}
    assert head.crc == crc64(data)
    assert client.get_object(bucket, "replaced").body == data
    # explicit COPY ignores the request's metadata
    client.copy_object(bucket, "copied", bucket, "orig", directive="COPY", metadata={"ignored": "yes"})
    assert client.head_object(bucket, "copied").meta() == {"old": "1", "keep": "no"}


def test_copy_onto_itself_replaces_metadata(client, bucket):
    client.put_object(bucket, "self", b"same bytes", metadata={"rev": "1"})
    client.copy_object(bucket, "self", bucket, "self", directive="REPLACE", metadata={"rev": "2"})
    got = client.get_object(bucket, "self")
    assert got.body == b"same bytes"
    assert got.meta() == {"rev": "2"}


def test_copy_across_buckets(client, bucket, admin):
    other = bucket + "-2"
    client.create_bucket(other)
    try:
        client.put_object(other, "far/away", b"cross bucket")
        client.copy_object(bucket, "near", other, "far/away")
        assert client.get_object(bucket, "near").body == b"cross bucket"
    finally:
        admin.delete_object(other, "far/away")
        admin.delete_bucket(other)


def test_copy_missing_source(client, bucket):
    with pytest.raises(ServiceFailure) as e:
        client.copy_object(bucket, "dst", bucket, "no-such-source")
    assert (e.value.status, e.value.code) == (404, "NoSuchKey")


def test_append_positions_and_crc(client, bucket):
    chunks = [b"hello ", random_bytes(100_000, seed=5), b"tail"]
    content = b""
    crc = None
    for chunk in chunks:
        r = client.append_object(bucket, "log", len(content), chunk, init_crc=crc)
        content += chunk
        assert r.next_position == len(content)
        assert int(r.headers["x-oss-next-append-position"]) == len(content)
        assert r.crc == crc64(content), "AppendObject returns the CRC of the whole object"
        crc = r.crc
    head = client.head_object(bucket, "log")
    assert head.headers["x-oss-object-type"] == "Appendable"
    assert int(head.headers["content-length"]) == len(content)
    got = client.get_object(bucket, "log")
    assert got.body == content
    assert got.crc == crc64(content)


def test_append_wrong_position(client, bucket):
    client.append_object(bucket, "app", 0, b"12345")
    for wrong in (0, 3, 6):
        with pytest.raises(ServiceFailure) as e:
            client.append_object(bucket, "app", wrong, b"x")
        assert (e.value.status, e.value.code) == (409, "PositionNotEqualToLength")
        assert e.value.headers["x-oss-next-append-position"] == "5"
        if client.sdk == "oss2":
            assert isinstance(e.value.original, oss2.exceptions.PositionNotEqualToLength)
    assert client.get_object(bucket, "app").body == b"12345"


def test_append_to_normal_object(client, bucket):
    client.put_object(bucket, "normal", b"abc")
    with pytest.raises(ServiceFailure) as e:
        client.append_object(bucket, "normal", 3, b"d")
    assert (e.value.status, e.value.code) == (409, "ObjectNotAppendable")
    assert client.get_object(bucket, "normal").body == b"abc"


def test_oss2_append_crc_continuation(oss2_client, oss2_bucket):
    """oss2 combines the CRC itself from init_crc and raises InconsistentError on a mismatch."""
    b = oss2_client.bucket(oss2_bucket)
    r1 = b.append_object("c", 0, b"part one|")
    assert r1.crc == crc64(b"part one|")
    r2 = b.append_object("c", r1.next_position, b"part two", init_crc=r1.crc)
    assert r2.crc == crc64(b"part one|part two")
    assert r2.next_position == len(b"part one|part two")
