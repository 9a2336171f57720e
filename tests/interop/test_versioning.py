"""Object versioning (issue 13, item 1) through both official SDKs, each with both signature
versions: Put/GetBucketVersioning, versions made by every write path, versionId on reads,
deletes, copies, ACLs and tags, delete markers, ListObjectVersions, DeleteMultipleObjects with
versions, the null version, and noncurrent versions staying ciphertext at rest.

Expected values are OSS's (its API reference and oss2's own integration suite,
tests/sdk_suites), never read back from the server under test.
"""

from __future__ import annotations

import os
from pathlib import Path

import alibabacloud_oss_v2 as oss
import oss2
import pytest
import requests
from oss2.models import BatchDeleteObjectVersion, BatchDeleteObjectVersionList, BucketVersioningConfig

from oss_rules import etag_of

# A well-formed id (24 hex digits) that names no version; and one OSS would never have made.
ABSENT_ID = "000000000000000100000000"
MALFORMED_ID = "not-a-version"


def _enable(b: oss2.Bucket, status=oss2.BUCKET_VERSIONING_ENABLE):
    config = BucketVersioningConfig()
    config.status = status
    assert b.put_bucket_versioning(config).status == 200


def _v2_enable(c: oss.Client, bucket: str, status="Enabled"):
    r = c.put_bucket_versioning(oss.PutBucketVersioningRequest(
        bucket=bucket, versioning_configuration=oss.VersioningConfiguration(status=status)))
    assert r.status_code == 200


def _v2_failure(fn, *args) -> oss.exceptions.ServiceError:
    with pytest.raises(oss.exceptions.OperationError) as e:
        fn(*args)
    err = e.value.unwrap()
    assert isinstance(err, oss.exceptions.ServiceError), err
    return err


def _oss2_error(fn, *args, **kwargs) -> oss2.exceptions.OssError:
    with pytest.raises(oss2.exceptions.OssError) as e:
        fn(*args, **kwargs)
    return e.value


def _oss2_versions(b: oss2.Bucket, **kw):
    """(key, version id, is latest, is a delete marker) of one ListObjectVersions page, with the
    delete markers and versions in the order OSS gives each list."""
    r = b.list_object_versions(**kw)
    return r, [(v.key, v.versionid, v.is_latest, False) for v in r.versions] + [
        (m.key, m.versionid, m.is_latest, True) for m in r.delete_marker
    ]


# -- bucket configuration --------------------------------------------------------------------


def test_bucket_versioning_config_with_oss2(oss2_client, oss2_bucket):
    b = oss2_client.bucket(oss2_bucket)
    assert b.get_bucket_versioning().status is None, "a bucket never versioned has no Status"
    assert b.get_bucket_info().versioning_status is None
    _enable(b)
    assert b.get_bucket_versioning().status == "Enabled"
    assert b.get_bucket_info().versioning_status == "Enabled"
    _enable(b, oss2.BUCKET_VERSIONING_SUSPEND)
    assert b.get_bucket_versioning().status == "Suspended"
    for bad in (None, "Disabled"):
        config = BucketVersioningConfig()
        config.status = bad
        with pytest.raises(oss2.exceptions.MalformedXml):
            b.put_bucket_versioning(config)
    assert b.get_bucket_versioning().status == "Suspended"


def test_bucket_versioning_config_with_v2(v2_client, v2_bucket):
    c = v2_client.client
    assert c.get_bucket_versioning(oss.GetBucketVersioningRequest(bucket=v2_bucket)).version_status is None
    _v2_enable(c, v2_bucket)
    assert c.get_bucket_versioning(oss.GetBucketVersioningRequest(bucket=v2_bucket)).version_status == "Enabled"
    _v2_enable(c, v2_bucket, "Suspended")
    assert c.get_bucket_versioning(oss.GetBucketVersioningRequest(bucket=v2_bucket)).version_status == "Suspended"
    err = _v2_failure(c.put_bucket_versioning, oss.PutBucketVersioningRequest(
        bucket=v2_bucket, versioning_configuration=oss.VersioningConfiguration(status="Off")))
    assert (err.status_code, err.code) == (400, "MalformedXML")


# -- versions, reads, deletes and delete markers ------------------------------------------------


def test_versions_reads_and_delete_markers_with_oss2(oss2_client, oss2_bucket):
    b = oss2_client.bucket(oss2_bucket)
    plain = b.put_object("k", b"before")
    assert plain.versionid is None, "no x-oss-version-id on a bucket never versioned"
    _enable(b)
    v1 = b.put_object("k", b"one").versionid
    v2 = b.put_object("k", b"two").versionid
    assert v1 and v2 and len({v1, v2, "null"}) == 3

    assert b.get_object("k").read() == b"two"
    assert b.get_object("k").versionid == v2
    assert b.get_object("k", params={"versionId": v1}).read() == b"one"
    assert b.get_object("k", params={"versionId": "null"}).read() == b"before"
    head = b.head_object("k", params={"versionId": v1})
    assert (head.versionid, head.etag, head.content_length) == (v1, etag_of(b"one").strip('"'), 3)
    assert b.get_object_meta("k", params={"versionId": v1}).versionid == v1
    # A resumable download of an old version reads that version's bytes.
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"{oss2_bucket}-v1"
    oss2.resumable_download(b, "k", str(path), params={"versionId": v1})
    assert path.read_bytes() == b"one"
    path.unlink()

    e = _oss2_error(b.get_object, "k", params={"versionId": ABSENT_ID})
    assert (e.status, e.code) == (404, "NoSuchVersion")
    with pytest.raises(oss2.exceptions.InvalidArgument):
        b.get_object("k", params={"versionId": MALFORMED_ID})
    with pytest.raises(oss2.exceptions.InvalidArgument):
        b.get_object("k", params={"versionId": ""})

    # A delete without a version id adds a delete marker on top.
    d = b.delete_object("k")
    assert d.status == 204 and d.delete_marker is True and d.versionid
    marker = d.versionid
    with pytest.raises(oss2.exceptions.NoSuchKey) as e:
        b.get_object("k")
    assert e.value.headers.get("x-oss-delete-marker") == "true"
    assert not b.object_exists("k")
    assert [o.key for o in oss2.ObjectIterator(b)] == []
    # GET of the marker itself is 405; the older versions are still readable.
    with pytest.raises(oss2.exceptions.ServerError) as e:
        b.get_object("k", params={"versionId": marker})
    assert e.value.status == 405
    assert e.value.headers.get("x-oss-delete-marker") == "true"
    assert b.get_object("k", params={"versionId": v2}).read() == b"two"

    # Removing the marker brings v2 back; removing v2 for good brings v1 back.
    d = b.delete_object("k", params={"versionId": marker})
    assert (d.status, d.versionid, d.delete_marker) == (204, marker, True)
    assert b.get_object("k").read() == b"two"
    d = b.delete_object("k", params={"versionId": v2})
    assert d.versionid == v2 and not d.delete_marker, "no x-oss-delete-marker for an object version"
    assert b.get_object("k").read() == b"one"
    e = _oss2_error(b.get_object, "k", params={"versionId": v2})
    assert (e.status, e.code) == (404, "NoSuchVersion")
    # Deleting a version that is not there is not an error (204).
    assert b.delete_object("k", params={"versionId": ABSENT_ID}).status == 204


def test_versions_reads_and_delete_markers_with_v2(v2_client, v2_bucket):
    c = v2_client.client
    _v2_enable(c, v2_bucket)
    v1 = c.put_object(oss.PutObjectRequest(bucket=v2_bucket, key="k", body=b"one")).version_id
    v2 = c.put_object(oss.PutObjectRequest(bucket=v2_bucket, key="k", body=b"two")).version_id
    assert v1 and v2 and v1 != v2
    got = c.get_object(oss.GetObjectRequest(bucket=v2_bucket, key="k", version_id=v1))
    assert (got.body.read(), got.version_id) == (b"one", v1)
    head = c.head_object(oss.HeadObjectRequest(bucket=v2_bucket, key="k", version_id=v1))
    assert (head.version_id, head.content_length) == (v1, 3)
    err = _v2_failure(c.head_object, oss.HeadObjectRequest(bucket=v2_bucket, key="k", version_id=ABSENT_ID))
    assert (err.status_code, err.code) == (404, "NoSuchVersion")

    def markers() -> int:
        # oss2 2.19.1's BucketStat has no field for it; the v2 SDK reads DeleteMarkerCount.
        return c.get_bucket_stat(oss.GetBucketStatRequest(bucket=v2_bucket)).delete_marker_count

    assert markers() == 0
    d = c.delete_object(oss.DeleteObjectRequest(bucket=v2_bucket, key="k"))
    assert d.delete_marker is True and d.version_id
    assert markers() == 1
    err = _v2_failure(c.get_object, oss.GetObjectRequest(bucket=v2_bucket, key="k"))
    assert (err.status_code, err.code) == (404, "NoSuchKey")
    err = _v2_failure(c.head_object, oss.HeadObjectRequest(bucket=v2_bucket, key="k", version_id=d.version_id))
    assert err.status_code == 405
    d2 = c.delete_object(oss.DeleteObjectRequest(bucket=v2_bucket, key="k", version_id=d.version_id))
    assert (d2.version_id, d2.delete_marker) == (d.version_id, True)
    assert markers() == 0
    got = c.get_object(oss.GetObjectRequest(bucket=v2_bucket, key="k"))
    assert (got.body.read(), got.version_id) == (b"two", v2)


# -- every write path makes a version -------------------------------------------------------------


def test_write_paths_make_versions_with_oss2(oss2_client, oss2_bucket):
    b = oss2_client.bucket(oss2_bucket)
    _enable(b)
    src1 = b.put_object("src", b"source one").versionid
    src2 = b.put_object("src", b"source two").versionid

    # CopyObject from a named source version; the answer names both versions.
    copy = b.copy_object(oss2_bucket, "src", "dst", params={"versionId": src1})
    assert copy.versionid and copy.versionid not in (src1, src2)
    assert copy.headers["x-oss-copy-source-version-id"] == src1
    assert b.get_object("dst").read() == b"source one"
    e = _oss2_error(b.copy_object, oss2_bucket, "src", "nope", params={"versionId": ABSENT_ID})
    assert (e.status, e.code) == (404, "NoSuchVersion")

    # Copy onto itself (update_object_meta) is a new version with the same bytes.
    before = b.head_object("src").versionid
    b.update_object_meta("src", {"Content-Type": "text/plain"})
    after = b.head_object("src")
    assert after.versionid != before and after.content_type == "text/plain"
    assert b.get_object("src", params={"versionId": before}).headers["Content-Type"] == "application/octet-stream"
    assert b.get_object("src").read() == b"source two"

    # Multipart Complete, with an UploadPartCopy from an old version.
    upload = b.init_multipart_upload("mp").upload_id
    part = b.upload_part_copy(oss2_bucket, "src", (0, 5), "mp", upload, 1, params={"versionId": src1})
    assert part.headers["x-oss-copy-source-version-id"] == src1
    done = b.complete_multipart_upload("mp", upload, [oss2.models.PartInfo(1, part.etag)])
    assert done.versionid
    assert b.get_object("mp").read() == b"source"

    # Symlinks are versions too; GetSymlink takes a versionId.
    link = b.put_symlink("src", "link")
    assert link.versionid
    assert b.get_symlink("link", params={"versionId": link.versionid}).target_key == "src"

    # Appending changes the current appendable version in place (no version per append) and
    # takes no versionId.
    first = b.append_object("log", 0, b"ab")
    second = b.append_object("log", 2, b"cd")
    assert first.versionid and second.versionid == first.versionid
    # oss2's append_object takes no params: the request is sent as a presigned URL.
    url = b.sign_url("POST", "log", 60, params={"append": "", "position": "4", "versionId": first.versionid})
    refused = requests.post(url, data=b"ef")
    assert refused.status_code == 400 and "<Code>InvalidArgument</Code>" in refused.text
    _, entries = _oss2_versions(b, prefix="log")
    assert len(entries) == 1
    # On a Normal current version, or a delete marker, the append rules of OSS hold.
    with pytest.raises(oss2.exceptions.ObjectNotAppendable):
        b.append_object("src", 0, b"x")
    b.delete_object("log")
    fresh = b.append_object("log", 0, b"new")
    assert fresh.versionid not in (None, first.versionid)


def test_write_paths_make_versions_with_v2(v2_client, v2_bucket):
    c = v2_client.client
    _v2_enable(c, v2_bucket)
    src1 = c.put_object(oss.PutObjectRequest(bucket=v2_bucket, key="src", body=b"source one")).version_id
    c.put_object(oss.PutObjectRequest(bucket=v2_bucket, key="src", body=b"source two"))
    copy = c.copy_object(oss.CopyObjectRequest(
        bucket=v2_bucket, key="dst", source_bucket=v2_bucket, source_key="src", source_version_id=src1))
    assert copy.version_id and copy.source_version_id == src1
    assert c.get_object(oss.GetObjectRequest(bucket=v2_bucket, key="dst")).body.read() == b"source one"

    init = c.initiate_multipart_upload(oss.InitiateMultipartUploadRequest(bucket=v2_bucket, key="mp"))
    part = c.upload_part(oss.UploadPartRequest(bucket=v2_bucket, key="mp", upload_id=init.upload_id,
                                               part_number=1, body=b"part"))
    done = c.complete_multipart_upload(oss.CompleteMultipartUploadRequest(
        bucket=v2_bucket, key="mp", upload_id=init.upload_id,
        complete_multipart_upload=oss.CompleteMultipartUpload(
            parts=[oss.UploadPart(part_number=1, etag=part.etag)])))
    assert done.version_id

    a = c.append_object(oss.AppendObjectRequest(bucket=v2_bucket, key="log", position=0, body=b"ab"))
    b2 = c.append_object(oss.AppendObjectRequest(bucket=v2_bucket, key="log", position=2, body=b"cd"))
    assert a.version_id and b2.version_id == a.version_id


# -- ACLs and tags of a version --------------------------------------------------------------


def test_acl_and_tags_of_a_version_with_oss2(oss2_client, oss2_bucket):
    b = oss2_client.bucket(oss2_bucket)
    _enable(b)
    v1 = b.put_object("k", b"one").versionid
    v2 = b.put_object("k", b"two").versionid
    b.put_object_acl("k", oss2.OBJECT_ACL_PUBLIC_READ, params={"versionId": v1})
    assert b.get_object_acl("k", params={"versionId": v1}).acl == oss2.OBJECT_ACL_PUBLIC_READ
    assert b.get_object_acl("k").acl == oss2.OBJECT_ACL_DEFAULT
    # Anonymous reads are decided by the addressed version's ACL (the bucket is private).
    url = f"{b.endpoint}/{oss2_bucket}/k"
    assert requests.get(url, params={"versionId": v1}, verify=False).content == b"one"
    assert requests.get(url, verify=False).status_code == 403
    assert requests.get(url, params={"versionId": v2}, verify=False).status_code == 403
    for bad in (MALFORMED_ID, ""):
        with pytest.raises(oss2.exceptions.InvalidArgument):
            b.get_object_acl("k", params={"versionId": bad})

    tagging = oss2.models.Tagging()
    tagging.tag_set.add("k1", "v1")
    b.put_object_tagging("k", tagging, params={"versionId": v1})
    assert b.get_object_tagging("k", params={"versionId": v1}).tag_set.tagging_rule == {"k1": "v1"}
    assert b.get_object_tagging("k", params={"versionId": v2}).tag_set.tagging_rule == {}
    assert b.delete_object_tagging("k", params={"versionId": v1}).status == 204
    assert b.get_object_tagging("k", params={"versionId": v1}).tag_set.tagging_rule == {}
    # A delete marker has no ACL or tags.
    marker = b.delete_object("k").versionid
    with pytest.raises(oss2.exceptions.ServerError) as e:
        b.get_object_acl("k", params={"versionId": marker})
    assert e.value.status == 405


def test_acl_and_tags_of_a_version_with_v2(v2_client, v2_bucket):
    c = v2_client.client
    _v2_enable(c, v2_bucket)
    v1 = c.put_object(oss.PutObjectRequest(bucket=v2_bucket, key="k", body=b"one")).version_id
    c.put_object(oss.PutObjectRequest(bucket=v2_bucket, key="k", body=b"two"))
    c.put_object_acl(oss.PutObjectAclRequest(bucket=v2_bucket, key="k", acl="public-read", version_id=v1))
    acl = c.get_object_acl(oss.GetObjectAclRequest(bucket=v2_bucket, key="k", version_id=v1))
    assert acl.acl == "public-read"
    assert c.get_object_acl(oss.GetObjectAclRequest(bucket=v2_bucket, key="k")).acl == "default"
    c.put_object_tagging(oss.PutObjectTaggingRequest(
        bucket=v2_bucket, key="k", version_id=v1,
        tagging=oss.Tagging(tag_set=oss.TagSet(tags=[oss.Tag(key="a", value="b")]))))
    got = c.get_object_tagging(oss.GetObjectTaggingRequest(bucket=v2_bucket, key="k", version_id=v1))
    assert [(t.key, t.value) for t in got.tag_set.tags] == [("a", "b")]
    assert got.version_id == v1


# -- ListObjectVersions and DeleteMultipleObjects ------------------------------------------------


def test_list_versions_and_batch_delete_with_oss2(oss2_client, oss2_bucket):
    b = oss2_client.bucket(oss2_bucket)
    b.put_object("a", b"null one")
    r, entries = _oss2_versions(b)
    assert entries == [("a", "null", True, False)], "a bucket never versioned lists null versions"
    _enable(b)
    a1 = b.put_object("a", b"a1").versionid
    b.put_object("dir/x", b"x")
    b.put_object("dir/y", b"y")
    for i in range(5):
        b.put_object("z", str(i).encode())
    b.delete_object("dir/x")

    r, entries = _oss2_versions(b)
    assert not r.is_truncated
    assert [v[:3] for v in entries if not v[3]][:2] == [("a", a1, True), ("a", "null", False)]
    assert [(k, latest) for k, _, latest, m in entries if m] == [("dir/x", True)]
    assert sum(1 for e in entries if not e[3]) == 9

    # Paging with prefix and delimiter: every version once, folders rolled up.
    seen, prefixes, key_marker, id_marker = [], [], "", ""
    for _ in range(20):
        page = b.list_object_versions(max_keys=2, delimiter="/", key_marker=key_marker,
                                      versionid_marker=id_marker)
        assert len(page.versions) + len(page.delete_marker) + len(page.common_prefix) <= 2
        seen += [(v.key, v.versionid) for v in page.versions]
        prefixes += page.common_prefix
        if not page.is_truncated:
            break
        key_marker, id_marker = page.next_key_marker, page.next_versionid_marker
    assert prefixes == ["dir/"]
    assert [k for k, _ in seen] == ["a", "a"] + ["z"] * 5
    assert len(set(seen)) == 7

    for kw in ({"prefix": "p" * 1025}, {"key_marker": "k" * 1025}, {"max_keys": 1001},
               {"versionid_marker": a1}):
        with pytest.raises(oss2.exceptions.InvalidArgument):
            b.list_object_versions(**kw)

    # DeleteMultipleObjects: without versions it adds markers, with versions it removes them.
    result = b.batch_delete_objects(["a", "z"])
    assert [(d.key, d.delete_marker, bool(d.delete_marker_versionid)) for d in result.delete_versions] == [
        ("a", True, True), ("z", True, True)]
    with pytest.raises(oss2.exceptions.BucketNotEmpty):
        b.delete_bucket()
    everything = BatchDeleteObjectVersionList()
    r, entries = _oss2_versions(b)
    for key, vid, _, _ in entries:
        everything.append(BatchDeleteObjectVersion(key, vid))
    result = b.delete_object_versions(everything)
    assert sorted((d.key, d.versionid) for d in result.delete_versions) == sorted((k, v) for k, v, _, _ in entries)
    assert all(d.delete_marker == m for d, (_, _, _, m) in zip(
        sorted(result.delete_versions, key=lambda d: (d.key, d.versionid)),
        sorted(entries, key=lambda e: (e[0], e[1]))))
    assert _oss2_versions(b)[1] == []
    bad = BatchDeleteObjectVersionList()
    bad.append(BatchDeleteObjectVersion("a", "234"))
    with pytest.raises(oss2.exceptions.InvalidArgument):
        b.delete_object_versions(bad)


def test_list_versions_and_batch_delete_with_v2(v2_client, v2_bucket):
    c = v2_client.client
    _v2_enable(c, v2_bucket)
    ids = [c.put_object(oss.PutObjectRequest(bucket=v2_bucket, key="k", body=bytes([i]))).version_id
           for i in range(3)]
    marker = c.delete_object(oss.DeleteObjectRequest(bucket=v2_bucket, key="k")).version_id
    listed = []
    for page in c.list_object_versions_paginator(limit=2).iter_page(
            oss.ListObjectVersionsRequest(bucket=v2_bucket)):
        listed += [(m.key, m.version_id, m.is_latest, True) for m in page.delete_marker or []]
        listed += [(v.key, v.version_id, v.is_latest, False) for v in page.version or []]
    assert listed == [("k", marker, True, True)] + [("k", i, False, False) for i in reversed(ids)]
    result = c.delete_multiple_objects(oss.DeleteMultipleObjectsRequest(
        bucket=v2_bucket, objects=[oss.DeleteObject(key="k", version_id=v) for v in [marker, *ids]]))
    assert sorted((d.key, d.version_id) for d in result.deleted_objects) == sorted(
        ("k", v) for v in [marker, *ids])
    assert [d.delete_marker for d in result.deleted_objects if d.version_id == marker] == [True]
    page = c.list_object_versions(oss.ListObjectVersionsRequest(bucket=v2_bucket))
    assert not page.version and not page.delete_marker


# -- Suspended and the null version --------------------------------------------------------------


def test_suspended_bucket_replaces_the_null_version(oss2_client, oss2_bucket):
    b = oss2_client.bucket(oss2_bucket)
    _enable(b)
    v1 = b.put_object("k", b"kept").versionid
    _enable(b, oss2.BUCKET_VERSIONING_SUSPEND)
    assert b.put_object("k", b"null one").versionid == "null"
    assert b.put_object("k", b"null two").versionid == "null"
    _, entries = _oss2_versions(b)
    assert entries == [("k", "null", True, False), ("k", v1, False, False)]
    assert b.get_object("k", params={"versionId": "null"}).read() == b"null two"
    d = b.delete_object("k")
    assert (d.versionid, d.delete_marker) == ("null", True)
    _, entries = _oss2_versions(b)
    assert entries == [("k", v1, False, False), ("k", "null", True, True)]


# -- at rest --------------------------------------------------------------------------------------


def test_noncurrent_versions_stay_ciphertext_at_rest(server, admin, admin_bucket):
    """Every version of an SSE object, current or not, is sealed on disk: none of the
    plaintexts appears in any blob file, and each version still reads back."""
    b = admin.bucket(admin_bucket)
    _enable(b)
    texts = [f"versioned-plaintext-{i}-{os.urandom(8).hex()}".encode() * 64 for i in range(3)]
    ids = [b.put_object("secret", t, headers={"x-oss-server-side-encryption": "AES256"}).versionid
           for t in texts]
    marker = b.delete_object("secret").versionid
    for vid, text in zip(ids, texts):
        got = b.get_object("secret", params={"versionId": vid})
        assert got.read() == text
        assert got.headers["x-oss-server-side-encryption"] == "AES256"
    blobs = [p for p in (server.data_dir / "blobs").rglob("*") if p.is_file()]
    assert blobs
    for path in blobs:
        data = path.read_bytes()
        for text in texts:
            assert text[:40] not in data, f"plaintext of a version found in {path}"
    b.delete_object("secret", params={"versionId": marker})
