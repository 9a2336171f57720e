"""Multipart uploads through the low-level calls, and the SDKs' resumable transfer helpers."""

from __future__ import annotations

import hashlib

import alibabacloud_oss_v2 as oss
import oss2
import pytest

from oss_rules import crc64, etag_of, multipart_etag, random_bytes
from sdk_clients import ServiceFailure

MiB = 1024 * 1024
PART = 5 * MiB


def test_multipart_20mib(client, bucket):
    data = random_bytes(20 * MiB, seed=20)
    key = "big/二十 MiB.bin"
    upload_id = client.init_multipart(bucket, key, content_type="application/x-test", metadata={"kind": "multipart"})
    assert upload_id

    parts = []
    for n in range(1, 5):
        chunk = data[(n - 1) * PART : n * PART]
        r = client.upload_part(bucket, key, upload_id, n, chunk)
        assert r.etag == etag_of(chunk)
        assert r.crc == crc64(chunk), "UploadPart returns the CRC of the part"
        parts.append((n, r.etag))

    listed = client.list_parts(bucket, key, upload_id)
    assert listed == [(n, etag, PART) for n, etag in parts]
    assert (key, upload_id) in client.list_uploads(bucket)

    done = client.complete_multipart(bucket, key, upload_id, parts)
    assert done.status == 200
    expected_etag = multipart_etag([e for _, e in parts])
    assert expected_etag.endswith('-4"')
    assert done.etag == expected_etag
    assert done.crc == crc64(data)
    if client.sdk == "v2":
        assert done.sdk.etag == expected_etag
        assert done.sdk.key == key and done.sdk.bucket == bucket

    head = client.head_object(bucket, key)
    assert head.headers["x-oss-object-type"] == "Multipart"
    assert head.etag == expected_etag
    assert head.crc == crc64(data)
    assert int(head.headers["content-length"]) == len(data)
    assert head.headers["content-type"] == "application/x-test"
    assert head.meta() == {"kind": "multipart"}

    got = client.get_object(bucket, key)
    assert hashlib.sha256(got.body).digest() == hashlib.sha256(data).digest()
    # a range straddling the part 1/part 2 boundary
    r = client.get_object(bucket, key, range=f"bytes={PART - 10}-{PART + 9}")
    assert r.body == data[PART - 10 : PART + 10]

    assert (key, upload_id) not in client.list_uploads(bucket)
    with pytest.raises(ServiceFailure) as e:
        client.list_parts(bucket, key, upload_id)
    assert (e.value.status, e.value.code) == (404, "NoSuchUpload")


def test_multipart_part_replaced_and_subset_completed(client, bucket):
    key = "reupload"
    p1, p1b, p2, p3 = (random_bytes(200 * 1024, seed=s) for s in (1, 2, 3, 4))
    upload_id = client.init_multipart(bucket, key)
    client.upload_part(bucket, key, upload_id, 1, p1)
    e1 = client.upload_part(bucket, key, upload_id, 1, p1b).etag  # replaces part 1
    client.upload_part(bucket, key, upload_id, 2, p2)
    e3 = client.upload_part(bucket, key, upload_id, 3, p3).etag
    assert [n for n, _, _ in client.list_parts(bucket, key, upload_id)] == [1, 2, 3]
    done = client.complete_multipart(bucket, key, upload_id, [(1, e1), (3, e3)])  # part 2 left out
    assert done.etag == multipart_etag([e1, e3])
    assert client.get_object(bucket, key).body == p1b + p3


def test_complete_with_wrong_etag(client, bucket):
    key = "bad-etag"
    upload_id = client.init_multipart(bucket, key)
    client.upload_part(bucket, key, upload_id, 1, b"only part")
    with pytest.raises(ServiceFailure) as e:
        client.complete_multipart(bucket, key, upload_id, [(1, '"0123456789ABCDEF0123456789ABCDEF"')])
    assert (e.value.status, e.value.code) == (400, "InvalidPart")
    client.abort_multipart(bucket, key, upload_id)


def test_abort_and_list_uploads(client, bucket):
    a = client.init_multipart(bucket, "up/a")
    b = client.init_multipart(bucket, "up/b")
    other = client.init_multipart(bucket, "elsewhere")
    client.upload_part(bucket, "up/a", a, 1, b"part data")
    uploads = client.list_uploads(bucket, prefix="up/")
    assert sorted(uploads) == sorted([("up/a", a), ("up/b", b)])
    assert len({a, b, other}) == 3

    assert client.abort_multipart(bucket, "up/a", a).status == 204
    assert sorted(client.list_uploads(bucket, prefix="up/")) == [("up/b", b)]
    with pytest.raises(ServiceFailure) as e:
        client.upload_part(bucket, "up/a", a, 2, b"too late")
    assert (e.value.status, e.value.code) == (404, "NoSuchUpload")
    with pytest.raises(ServiceFailure) as e:
        client.abort_multipart(bucket, "up/a", a)
    assert (e.value.status, e.value.code) == (404, "NoSuchUpload")
    with pytest.raises(ServiceFailure) as e:
        client.complete_multipart(bucket, "up/a", a, [(1, etag_of(b"part data"))])
    assert (e.value.status, e.value.code) == (404, "NoSuchUpload")
    with pytest.raises(ServiceFailure) as e:
        client.get_object(bucket, "up/a")
    assert (e.value.status, e.value.code) == (404, "NoSuchKey")
    client.abort_multipart(bucket, "up/b", b)
    client.abort_multipart(bucket, "elsewhere", other)
    assert client.list_uploads(bucket) == []


def test_paging_parts_and_uploads(client, bucket):
    key = "paged-parts/键"
    upload_id = client.init_multipart(bucket, key)
    parts = []
    for n in (1, 2, 3, 5, 8):  # part numbers need not be contiguous
        chunk = random_bytes(1000 + n, seed=n)
        parts.append((n, client.upload_part(bucket, key, upload_id, n, chunk).etag, len(chunk)))
    for page_size in (1, 2):
        assert client.iterate_parts(bucket, key, upload_id, page_size) == parts

    # several uploads of one key, and of other keys: paging must use key and upload-id markers
    more = [(key, client.init_multipart(bucket, key)), ("paged-parts/a", client.init_multipart(bucket, "paged-parts/a")),
            ("paged-parts/z", client.init_multipart(bucket, "paged-parts/z"))]
    everything = more + [(key, upload_id)]
    for page_size in (1, 2):
        listed = client.iterate_uploads(bucket, "paged-parts/", page_size)
        assert sorted(listed) == sorted(everything)
        assert [k for k, _ in listed] == sorted((k for k, _ in everything), key=str.encode)
    for k, u in everything:
        client.abort_multipart(bucket, k, u)


def test_oss2_resumable_upload_and_download(oss2_client, oss2_bucket, tmp_path):
    data = random_bytes(25 * MiB + 12345, seed=25)
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    bucket = oss2_client.bucket(oss2_bucket)
    key = "resumable/文件.bin"

    result = oss2.resumable_upload(
        bucket, key, str(src),
        store=oss2.ResumableStore(root=str(tmp_path), dir="up-store"),
        multipart_threshold=1 * MiB, part_size=5 * MiB, num_threads=2,
    )
    assert result.status == 200
    head = bucket.head_object(key)
    assert head.object_type == "Multipart"
    assert head.etag.endswith("-6")  # 25 MiB + a bit in 5 MiB parts
    assert head.content_length == len(data)
    assert head.server_crc == crc64(data)

    dst = tmp_path / "dst.bin"
    oss2.resumable_download(  # ranged parallel GETs; oss2 checks the whole-file CRC at the end
        bucket, key, str(dst),
        store=oss2.ResumableDownloadStore(root=str(tmp_path), dir="down-store"),
        multiget_threshold=1 * MiB, part_size=4 * MiB, num_threads=3,
    )
    assert dst.read_bytes() == data
    # the checkpoint records are removed after success
    assert not any((tmp_path / "up-store").iterdir())
    for f in (src, dst):  # pytest keeps recent tmp dirs: don't leave 50 MB behind
        f.unlink()


def test_v2_uploader_and_downloader(v2_client, v2_bucket, tmp_path):
    data = random_bytes(12 * MiB + 3, seed=12)
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    key = "managed/upload.bin"
    client = v2_client.client
    up = client.uploader(part_size=5 * MiB, parallel_num=2).upload_file(
        oss.PutObjectRequest(bucket=v2_bucket, key=key), filepath=str(src))
    assert up.etag.endswith('-3"')
    assert up.hash_crc64 == str(crc64(data))

    dst = tmp_path / "dst.bin"
    down = client.downloader(part_size=4 * MiB, parallel_num=3).download_file(
        oss.GetObjectRequest(bucket=v2_bucket, key=key), filepath=str(dst))
    assert down.written == len(data)
    assert dst.read_bytes() == data
    for f in (src, dst):
        f.unlink()


def test_oss2_complete_all_and_part_size_rule(oss2_client, oss2_bucket):
    b = oss2_client.bucket(oss2_bucket)
    big, small = random_bytes(200_000, seed=31), random_bytes(10, seed=32)
    upload_id = b.init_multipart_upload("all").upload_id
    b.upload_part("all", upload_id, 1, big)
    b.upload_part("all", upload_id, 2, small)
    # x-oss-complete-all: yes and no body: every uploaded part, in order
    result = b.complete_multipart_upload("all", upload_id, None, headers={"x-oss-complete-all": "yes"})
    assert result.etag == multipart_etag([etag_of(big), etag_of(small)]).strip('"')
    assert b.get_object("all").read() == big + small

    upload_id = b.init_multipart_upload("tiny").upload_id
    e1 = b.upload_part("tiny", upload_id, 1, small).etag
    e2 = b.upload_part("tiny", upload_id, 2, big).etag
    with pytest.raises(oss2.exceptions.ServerError) as e:  # a part but the last below 100 KB
        b.complete_multipart_upload("tiny", upload_id, [oss2.models.PartInfo(1, e1), oss2.models.PartInfo(2, e2)])
    assert (e.value.status, e.value.code) == (400, "EntityTooSmall")
    b.abort_multipart_upload("tiny", upload_id)
