"""Issue 13's OSS features, through both official SDKs, each with both signature versions:
object tagging, symlinks, fine-grained error codes (x-oss-ec / <EC>), UTF-8 user metadata,
parameters that are not sub-resources, DescribeRegions, GetBucketStat per storage class, and
the archive storage classes with RestoreObject.

Expected values are OSS's (shared/reference/oss-api.md, and oss2's own integration suite,
tests/sdk_suites), never read back from the server under test.
"""

from __future__ import annotations

import json
import time
import urllib.parse

import alibabacloud_oss_v2 as oss
import oss2
import pytest
import requests
from oss2.headers import OSS_OBJECT_TAGGING, OSS_OBJECT_TAGGING_COPY_DIRECTIVE

from ossvault_harness import ACCESS_KEY_ID, ACCESS_KEY_SECRET, ServerProcess
from oss_rules import etag_of, unique_bucket
from sdk_clients import make_client

NO_SUCH_KEY_EC = "0026-00000001"


def _v2_failure(fn, *args) -> oss.exceptions.ServiceError:
    with pytest.raises(oss.exceptions.OperationError) as e:
        fn(*args)
    err = e.value.unwrap()
    assert isinstance(err, oss.exceptions.ServiceError), err
    return err


def _v2_tags(result) -> dict:
    return {t.key: t.value for t in ((result.tag_set and result.tag_set.tags) or [])}


def _v2_tagging(pairs: dict) -> oss.Tagging:
    return oss.Tagging(tag_set=oss.TagSet(tags=[oss.Tag(key=k, value=v) for k, v in pairs.items()]))


# -- object tagging ------------------------------------------------------------------------------


def test_tagging_with_oss2(oss2_client, oss2_bucket):
    b = oss2_client.bucket(oss2_bucket)
    rule = oss2.models.TaggingRule()
    rule.add("k1", "v1")
    rule.add(" +/ ", "中文")
    b.put_object("tagged", b"x", headers={OSS_OBJECT_TAGGING: rule.to_query_string()})
    assert b.get_object_tagging("tagged").tag_set.tagging_rule == {"k1": "v1", " +/ ": "中文"}
    assert b.head_object("tagged").headers["x-oss-tagging-count"] == "2"

    # PutObjectTagging replaces the set; DeleteObjectTagging empties it (204).
    tagging = oss2.models.Tagging()
    tagging.tag_set.add("only", "one")
    b.put_object_tagging("tagged", tagging)
    assert b.get_object_tagging("tagged").tag_set.tagging_rule == {"only": "one"}
    assert b.delete_object_tagging("tagged").status == 204
    assert b.get_object_tagging("tagged").tag_set.tagging_rule == {}
    assert "x-oss-tagging-count" not in b.head_object("tagged").headers

    # CopyObject: COPY (the default) keeps the source's tags, REPLACE takes the request's.
    b.put_object_tagging("tagged", tagging)
    b.copy_object(oss2_bucket, "tagged", "copied")
    assert b.get_object_tagging("copied").tag_set.tagging_rule == {"only": "one"}
    b.copy_object(oss2_bucket, "tagged", "replaced", headers={
        OSS_OBJECT_TAGGING_COPY_DIRECTIVE: "REPLACE", OSS_OBJECT_TAGGING: "a=1&b=2"})
    assert b.get_object_tagging("replaced").tag_set.tagging_rule == {"a": "1", "b": "2"}

    # Multipart: the tags given at Initiate are the object's after Complete.
    upload = b.init_multipart_upload("mp", headers={OSS_OBJECT_TAGGING: "part=ed"}).upload_id
    part = b.upload_part("mp", upload, 1, b"p")
    b.complete_multipart_upload("mp", upload, [oss2.models.PartInfo(1, part.etag)])
    assert b.get_object_tagging("mp").tag_set.tagging_rule == {"part": "ed"}

    # AppendObject: the append that creates the object sets its tags; later ones ignore them.
    b.append_object("app", 0, b"a", headers={OSS_OBJECT_TAGGING: "first=yes"})
    b.append_object("app", 1, b"b", headers={OSS_OBJECT_TAGGING: "second=no"})
    assert b.get_object_tagging("app").tag_set.tagging_rule == {"first": "yes"}

    # OSS's limits: 10 tags, keys up to 128 characters, values up to 256, a fixed alphabet.
    too_many = "&".join(f"k{i}=v" for i in range(11))
    for bad in (too_many, "k=%25abc", "k=" + "v" * 257):
        with pytest.raises(oss2.exceptions.OssError) as e:
            b.put_object("refused", b"x", headers={OSS_OBJECT_TAGGING: bad})
        assert (e.value.status, e.value.code) == (400, "InvalidTag"), bad
    assert not b.object_exists("refused")
    with pytest.raises(oss2.exceptions.NoSuchKey):
        b.get_object_tagging("refused")


def test_tagging_with_v2(v2_client, v2_bucket):
    c = v2_client.client
    c.put_object(oss.PutObjectRequest(bucket=v2_bucket, key="tagged", body=b"x", tagging="k1=v1&k2=v2"))
    got = c.get_object_tagging(oss.GetObjectTaggingRequest(bucket=v2_bucket, key="tagged"))
    assert _v2_tags(got) == {"k1": "v1", "k2": "v2"}
    head = c.head_object(oss.HeadObjectRequest(bucket=v2_bucket, key="tagged"))
    assert head.tagging_count == 2

    c.put_object_tagging(oss.PutObjectTaggingRequest(
        bucket=v2_bucket, key="tagged", tagging=_v2_tagging({"中文": "test++/"})))
    got = c.get_object_tagging(oss.GetObjectTaggingRequest(bucket=v2_bucket, key="tagged"))
    assert _v2_tags(got) == {"中文": "test++/"}
    deleted = c.delete_object_tagging(oss.DeleteObjectTaggingRequest(bucket=v2_bucket, key="tagged"))
    assert deleted.status_code == 204
    got = c.get_object_tagging(oss.GetObjectTaggingRequest(bucket=v2_bucket, key="tagged"))
    assert _v2_tags(got) == {}

    c.copy_object(oss.CopyObjectRequest(bucket=v2_bucket, key="copy", source_key="tagged",
                                        tagging_directive="REPLACE", tagging="c=d"))
    got = c.get_object_tagging(oss.GetObjectTaggingRequest(bucket=v2_bucket, key="copy"))
    assert _v2_tags(got) == {"c": "d"}

    err = _v2_failure(c.put_object_tagging, oss.PutObjectTaggingRequest(
        bucket=v2_bucket, key="tagged", tagging=_v2_tagging({f"k{i}": "v" for i in range(11)})))
    assert (err.status_code, err.code) == (400, "InvalidTag")
    err = _v2_failure(c.get_object_tagging, oss.GetObjectTaggingRequest(bucket=v2_bucket, key="none"))
    assert (err.status_code, err.code) == (404, "NoSuchKey")


# -- symlinks ------------------------------------------------------------------------------------


def test_symlink_with_oss2(oss2_client, oss2_bucket, endpoint):
    b = oss2_client.bucket(oss2_bucket)
    target = "阿里云/目标 :?;@&=+$, /<>{}[]|"
    b.put_object(target, b"hello", headers={"Content-Type": "text/plain"})
    b.put_symlink(target, "link", headers={"x-oss-meta-owner": "link"})
    assert b.get_symlink("link").target_key == target

    head = b.head_object("link")
    assert head.content_length == 5
    assert head.etag == etag_of(b"hello").strip('"')
    assert head.headers["x-oss-object-type"] == "Symlink"
    assert head.headers["Content-Type"] == "text/plain"
    assert head.headers["x-oss-meta-owner"] == "link"
    assert b.get_object("link").read() == b"hello"
    assert b.get_object("link", byte_range=(1, 3)).read() == b"ell"

    # GetSymlink of an object that is no link; a link whose target is gone.
    with pytest.raises(oss2.exceptions.OssError) as e:
        b.get_symlink(target)
    assert (e.value.status, e.value.code) == (400, "NotSymlink")
    b.put_symlink("missing", "dangling")
    with pytest.raises(oss2.exceptions.OssError) as e:
        b.get_object("dangling")
    assert (e.value.status, e.value.code) == (404, "SymlinkTargetNotExist")
    with pytest.raises(oss2.exceptions.NoSuchKey):
        b.get_symlink("nothing-here")

    # A symlink has an ACL of its own, and a public-read link never exposes a private target.
    b.put_object_acl("link", oss2.OBJECT_ACL_PUBLIC_READ)
    assert b.get_object_acl("link").acl == oss2.OBJECT_ACL_PUBLIC_READ
    anonymous = oss2.Bucket(oss2.AnonymousAuth(), endpoint, oss2_bucket)
    with pytest.raises(oss2.exceptions.AccessDenied):
        anonymous.get_object("link")
    b.put_object_acl(target, oss2.OBJECT_ACL_PUBLIC_READ)
    assert anonymous.get_object("link").read() == b"hello"

    # Deleting the link leaves the target.
    b.delete_object("link")
    assert b.get_object(target).read() == b"hello"


def test_symlink_with_v2(v2_client, v2_bucket):
    c = v2_client.client
    c.put_object(oss.PutObjectRequest(bucket=v2_bucket, key="dir/target", body=b"content"))
    c.put_symlink(oss.PutSymlinkRequest(bucket=v2_bucket, key="link", target="dir/target",
                                        metadata={"who": "link"}))
    got = c.get_symlink(oss.GetSymlinkRequest(bucket=v2_bucket, key="link"))
    assert got.target == "dir/target"
    assert got.metadata.get("who") == "link"
    body = c.get_object(oss.GetObjectRequest(bucket=v2_bucket, key="link"))
    assert body.body.read() == b"content"
    assert body.object_type == "Symlink"
    err = _v2_failure(c.get_symlink, oss.GetSymlinkRequest(bucket=v2_bucket, key="dir/target"))
    assert (err.status_code, err.code) == (400, "NotSymlink")
    c.delete_object(oss.DeleteObjectRequest(bucket=v2_bucket, key="dir/target"))
    err = _v2_failure(c.get_object, oss.GetObjectRequest(bucket=v2_bucket, key="link"))
    assert (err.status_code, err.code) == (404, "SymlinkTargetNotExist")


# -- error details, metadata, parameters ---------------------------------------------------------


def test_fine_grained_error_codes(oss2_client, oss2_bucket, v2_client, endpoint):
    b = oss2_client.bucket(oss2_bucket)
    with pytest.raises(oss2.exceptions.NoSuchKey) as e:
        b.get_object("missing")
    assert (e.value.ec, e.value.headers["x-oss-ec"]) == (NO_SUCH_KEY_EC, NO_SUCH_KEY_EC)
    with pytest.raises(oss2.exceptions.NotFound) as e:  # HEAD: from x-oss-err
        b.get_object_meta("missing")
    assert e.value.ec == NO_SUCH_KEY_EC
    err = _v2_failure(v2_client.client.head_object, oss.HeadObjectRequest(bucket=oss2_bucket, key="missing"))
    assert (err.code, err.ec) == ("NoSuchKey", NO_SUCH_KEY_EC)

    # A V4 signature for another region: OSS's message and code, word for word.
    elsewhere = oss2.Bucket(oss2.AuthV4(ACCESS_KEY_ID, ACCESS_KEY_SECRET), endpoint, oss2_bucket,
                            region="cn-shanghai")
    with pytest.raises(oss2.exceptions.OssError) as e:
        elsewhere.head_object("missing")
    assert (e.value.code, e.value.ec) == ("InvalidArgument", "0002-00000226")
    assert e.value.message == "Invalid signing region in Authorization header."


def test_utf8_user_metadata(oss2_client, oss2_bucket, v2_client):
    b = oss2_client.bucket(oss2_bucket)
    b.put_object("meta", b"x", headers={"x-oss-meta-city": "杭州".encode()})
    raw = b.head_object("meta").headers["x-oss-meta-city"]
    assert raw.encode("iso-8859-1").decode("utf-8") == "杭州"
    head = v2_client.client.head_object(oss.HeadObjectRequest(bucket=oss2_bucket, key="meta"))
    assert head.metadata["city"].encode("iso-8859-1").decode("utf-8") == "杭州"


def test_parameters_that_are_no_sub_resource_are_ignored(oss2_client, oss2_bucket, endpoint):
    b = oss2_client.bucket(oss2_bucket)
    b.put_object("public", b"shared", headers={"x-oss-object-acl": "public-read"})
    # A presigned URL carrying a parameter of the application's own (oss2's test_anonymous).
    url = b.sign_url("GET", "public", 60, params={"para1": "test"})
    assert requests.get(url, timeout=10).content == b"shared"
    anonymous = f"{endpoint}/{oss2_bucket}/public?utm_source=mail"
    assert requests.get(anonymous, timeout=10).content == b"shared"
    # A sub-resource this server lacks is still refused, never taken for a plain PUT.
    r = requests.put(f"{endpoint}/{oss2_bucket}/public?worm", data=b"<x/>", timeout=10)
    assert r.status_code in (403, 501)
    assert b.get_object("public").read() == b"shared"


# -- service and bucket figures ------------------------------------------------------------------


def test_describe_regions(oss2_client, v2_client, endpoint):
    host = urllib.parse.urlparse(endpoint).netloc
    regions = oss2_client.service().describe_regions().regions
    assert [(r.region, r.internet_endpoint) for r in regions] == [("oss-cn-hangzhou", host)]
    assert len(oss2_client.service().describe_regions("oss-cn-hangzhou").regions) == 1
    with pytest.raises(oss2.exceptions.ServerError) as e:
        oss2_client.service().describe_regions("oss-cn-chengdu")
    assert (e.value.status, e.value.code) == (404, "NoSuchRegion")
    got = v2_client.client.describe_regions(oss.DescribeRegionsRequest())
    assert [r.region for r in got.region_info] == ["oss-cn-hangzhou"]


def test_bucket_stat_per_storage_class(oss2_client, oss2_bucket, v2_client):
    b = oss2_client.bucket(oss2_bucket)
    b.put_object("std", b"1234567")
    b.put_object("ia", b"12345", headers={"x-oss-storage-class": "IA"})
    b.put_object("cold", b"123", headers={"x-oss-storage-class": "ColdArchive"})
    stat = b.get_bucket_stat()
    assert (stat.storage_size_in_bytes, stat.object_count) == (15, 3)
    assert (stat.standard_storage, stat.standard_object_count) == (7, 1)
    assert (stat.infrequent_access_storage, stat.infrequent_access_object_count) == (5, 1)
    assert (stat.cold_archive_storage, stat.cold_archive_object_count) == (3, 1)
    assert (stat.archive_storage, stat.archive_object_count) == (0, 0)
    assert stat.live_channel_count == 0 and stat.last_modified_time > 0
    got = v2_client.client.get_bucket_stat(oss.GetBucketStatRequest(bucket=oss2_bucket))
    assert (got.storage, got.standard_storage, got.infrequent_access_object_count) == (15, 7, 1)


# -- archive storage classes and RestoreObject ---------------------------------------------------

RESTORE_DELAY_S = 2


@pytest.fixture(scope="module")
def own_endpoint(tmp_path_factory):
    """A server of its own (its restores take RESTORE_DELAY_S; the default is a minute), for
    tests that change server-wide state or need that delay."""
    root = tmp_path_factory.mktemp("ossvault-restore")
    proc = ServerProcess(root / "data", root / "server.log",
                         extra_args=["--restore-delay", f"{RESTORE_DELAY_S}s"])
    proc.start()
    yield proc.endpoint
    assert proc.stop() == 0


def test_restore_an_archive_object_with_oss2(own_endpoint):
    from oss2.models import RestoreConfiguration, RestoreJobParameters

    service = oss2.Service(oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET), own_endpoint)
    name = unique_bucket("restore")
    b = oss2.Bucket(service.auth, own_endpoint, name)
    b.create_bucket(oss2.BUCKET_ACL_PRIVATE, oss2.models.BucketCreateConfig(oss2.BUCKET_STORAGE_CLASS_ARCHIVE))
    # An object takes its bucket's storage class unless the write names one.
    b.put_object("frozen", b"cold content")
    assert b.head_object("frozen").headers["x-oss-storage-class"] == "Archive"
    assert "x-oss-restore" not in b.head_object("frozen").headers
    with pytest.raises(oss2.exceptions.OssError) as e:
        b.get_object("frozen")
    assert (e.value.status, e.value.code) == (403, "InvalidObjectState")
    with pytest.raises(oss2.exceptions.OssError) as e:
        b.copy_object(name, "frozen", "copy")
    assert (e.value.status, e.value.code) == (403, "InvalidObjectState")

    # Archive takes no JobParameters (MalformedXML); the first restore is 202, a second one
    # while it runs is 409 RestoreAlreadyInProgress.
    with pytest.raises(oss2.exceptions.MalformedXml):
        b.restore_object("frozen", input=RestoreConfiguration(days=1, job_parameters=RestoreJobParameters("Bulk")))
    assert b.restore_object("frozen").status == 202
    assert b.head_object("frozen").headers["x-oss-restore"] == 'ongoing-request="true"'
    listed = b.list_objects_v2().object_list
    assert listed[0].restore_info == 'ongoing-request="true"'
    with pytest.raises(oss2.exceptions.OssError) as e:
        b.restore_object("frozen")
    assert (e.value.status, e.value.code) == (409, "RestoreAlreadyInProgress")
    assert e.value.message == "The restore operation is in progress."  # OSS's words

    time.sleep(RESTORE_DELAY_S + 0.5)
    restored = b.head_object("frozen").headers["x-oss-restore"]
    assert restored.startswith('ongoing-request="false", expiry-date="'), restored
    assert b.get_object("frozen").read() == b"cold content"
    assert b.restore_object("frozen").status == 200  # extends the restored days

    # (CleanRestoredObject, which oss2 lacks, is checked with alibabacloud-oss-v2 below.)

    # Standard objects are no archive.
    b.put_object("warm", b"x", headers={"x-oss-storage-class": "Standard"})
    with pytest.raises(oss2.exceptions.OssError) as e:
        b.restore_object("warm")
    assert (e.value.status, e.value.code) == (400, "OperationNotSupported")
    for key in ("frozen", "warm"):
        b.delete_object(key)
    b.delete_bucket()


def test_restore_a_cold_archive_object_with_v2(own_endpoint):
    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(ACCESS_KEY_ID, ACCESS_KEY_SECRET)
    cfg.region = "cn-hangzhou"
    cfg.endpoint = own_endpoint
    c = oss.Client(cfg)
    name = unique_bucket("restorev2")
    c.put_bucket(oss.PutBucketRequest(bucket=name))
    c.put_object(oss.PutObjectRequest(bucket=name, key="cold", body=b"very cold", storage_class="ColdArchive"))
    err = _v2_failure(c.get_object, oss.GetObjectRequest(bucket=name, key="cold"))
    assert (err.status_code, err.code) == (403, "InvalidObjectState")
    err = _v2_failure(c.restore_object, oss.RestoreObjectRequest(
        bucket=name, key="cold",
        restore_request=oss.RestoreRequest(days=2, job_parameters=oss.JobParameters(tier="Soon"))))
    assert (err.status_code, err.code) == (400, "InvalidArgument")
    started = c.restore_object(oss.RestoreObjectRequest(
        bucket=name, key="cold",
        restore_request=oss.RestoreRequest(days=2, job_parameters=oss.JobParameters(tier="Expedited"))))
    assert (started.status_code, started.restore_priority) == (202, "Expedited")
    head = c.head_object(oss.HeadObjectRequest(bucket=name, key="cold"))
    assert head.restore == 'ongoing-request="true"'
    err = _v2_failure(c.restore_object, oss.RestoreObjectRequest(bucket=name, key="cold"))
    assert (err.status_code, err.code, err.message) == (
        409, "RestoreAlreadyInProgress", "The restore operation is in progress.")
    time.sleep(RESTORE_DELAY_S + 0.5)
    got = c.get_object(oss.GetObjectRequest(bucket=name, key="cold"))
    assert got.body.read() == b"very cold"
    # Signature V1 too: the SDK signs the cleanRestoredObject sub-resource.
    cfg_v1 = oss.config.load_default()
    cfg_v1.credentials_provider = cfg.credentials_provider
    cfg_v1.region, cfg_v1.endpoint, cfg_v1.signature_version = "cn-hangzhou", own_endpoint, "v1"
    oss.Client(cfg_v1).clean_restored_object(oss.CleanRestoredObjectRequest(bucket=name, key="cold"))
    err = _v2_failure(c.get_object, oss.GetObjectRequest(bucket=name, key="cold"))
    assert err.code == "InvalidObjectState"
    c.delete_object(oss.DeleteObjectRequest(bucket=name, key="cold"))
    c.delete_bucket(oss.DeleteBucketRequest(bucket=name))


# -- Block Public Access -------------------------------------------------------------------------


def test_block_public_access(own_endpoint):
    auth = oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET)
    service = oss2.Service(auth, own_endpoint)
    name = unique_bucket("pab")
    b = oss2.Bucket(auth, own_endpoint, name)
    b.create_bucket(oss2.BUCKET_ACL_PUBLIC_READ)
    b.put_object("public", b"for everyone")
    url = f"{own_endpoint}/{name}/public"
    assert requests.get(url, timeout=10).status_code == 200
    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(ACCESS_KEY_ID, ACCESS_KEY_SECRET)
    cfg.region = "cn-hangzhou"
    cfg.endpoint = own_endpoint
    c = oss.Client(cfg)
    try:
        # The bucket's switch, with alibabacloud-oss-v2.
        got = c.get_bucket_public_access_block(oss.GetBucketPublicAccessBlockRequest(bucket=name))
        assert got.public_access_block_configuration.block_public_access is False
        c.put_bucket_public_access_block(oss.PutBucketPublicAccessBlockRequest(
            bucket=name,
            public_access_block_configuration=oss.PublicAccessBlockConfiguration(block_public_access=True)))
        assert b.get_bucket_public_access_block().block_public_access is True
        refused = requests.get(url, timeout=10)
        assert refused.status_code == 403 and b"<Code>AccessDenied</Code>" in refused.content
        assert b.get_object("public").read() == b"for everyone"  # the owner still reads
        deleted = c.delete_bucket_public_access_block(oss.DeleteBucketPublicAccessBlockRequest(bucket=name))
        assert deleted.status_code == 204
        assert requests.get(url, timeout=10).status_code == 200

        # The server-wide switch (OSS's account-level one), with oss2 ("True" as oss2 writes it).
        assert service.put_public_access_block(True).status == 200
        assert service.get_public_access_block().block_public_access is True
        got = c.get_public_access_block(oss.GetPublicAccessBlockRequest())
        assert got.public_access_block_configuration.block_public_access is True
        assert requests.get(url, timeout=10).status_code == 403
    finally:
        assert service.delete_public_access_block().status == 204
    assert service.get_public_access_block().block_public_access is False
    assert requests.get(url, timeout=10).status_code == 200
    b.delete_object("public")
    b.delete_bucket()


def test_block_public_access_refuses_new_public_grants(own_endpoint):
    """While Block Public Access is on (the bucket's or the server's), no public ACL or policy
    is taken ("you cannot configure public access permissions", PutPublicAccessBlock's doc):
    403 AccessDenied, with oss2 and alibabacloud-oss-v2; private grants still are."""
    auth = oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET)
    service = oss2.Service(auth, own_endpoint)
    name = unique_bucket("pab-grants")
    b = oss2.Bucket(auth, own_endpoint, name)
    b.create_bucket(oss2.BUCKET_ACL_PRIVATE)
    b.put_object("o", b"x")
    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(ACCESS_KEY_ID, ACCESS_KEY_SECRET)
    cfg.region = "cn-hangzhou"
    cfg.endpoint = own_endpoint
    c = oss.Client(cfg)
    public_policy = ('{"Version":"1","Statement":[{"Effect":"Allow","Action":["oss:GetObject"],'
                     f'"Principal":["*"],"Resource":["acs:oss:*:*:{name}/*"]}}]}}')
    named_policy = public_policy.replace('"Principal":["*"]', '"Principal":["20000"]')

    def refused_by_both():
        with pytest.raises(oss2.exceptions.AccessDenied) as e:
            b.put_bucket_acl(oss2.BUCKET_ACL_PUBLIC_READ)
        assert e.value.status == 403 and "Block Public Access" in e.value.message
        with pytest.raises(oss2.exceptions.AccessDenied):
            b.put_object_acl("o", oss2.OBJECT_ACL_PUBLIC_READ_WRITE)
        with pytest.raises(oss2.exceptions.AccessDenied):
            b.put_bucket_policy(public_policy)
        for call, request in [
            (c.put_bucket_acl, oss.PutBucketAclRequest(bucket=name, acl="public-read-write")),
            (c.put_object_acl, oss.PutObjectAclRequest(bucket=name, key="o", acl="public-read")),
            (c.put_bucket_policy, oss.PutBucketPolicyRequest(bucket=name, body=public_policy)),
        ]:
            err = _v2_failure(call, request)
            assert (err.status_code, err.code) == (403, "AccessDenied"), err
        # Nothing was granted; private grants and non-public policies are still taken.
        assert b.get_bucket_acl().acl == oss2.BUCKET_ACL_PRIVATE
        assert b.get_object_acl("o").acl in (oss2.OBJECT_ACL_DEFAULT, oss2.OBJECT_ACL_PRIVATE)
        with pytest.raises(oss2.exceptions.NoSuchBucketPolicy):
            b.get_bucket_policy()
        b.put_bucket_acl(oss2.BUCKET_ACL_PRIVATE)
        c.put_object_acl(oss.PutObjectAclRequest(bucket=name, key="o", acl="private"))
        b.put_bucket_policy(named_policy)
        b.delete_bucket_policy()

    try:
        # The bucket's switch.
        c.put_bucket_public_access_block(oss.PutBucketPublicAccessBlockRequest(
            bucket=name,
            public_access_block_configuration=oss.PublicAccessBlockConfiguration(block_public_access=True)))
        refused_by_both()
        b.delete_bucket_public_access_block()
        # The server's switch.
        assert service.put_public_access_block(True).status == 200
        refused_by_both()
    finally:
        assert service.delete_public_access_block().status == 204
    # Lifted: public grants are taken again.
    b.put_bucket_acl(oss2.BUCKET_ACL_PUBLIC_READ)
    c.put_object_acl(oss.PutObjectAclRequest(bucket=name, key="o", acl="public-read-write"))
    c.put_bucket_policy(oss.PutBucketPolicyRequest(bucket=name, body=public_policy))
    assert requests.get(f"{own_endpoint}/{name}/o", timeout=10).status_code == 200
    b.delete_bucket_policy()
    b.delete_object("o")
    b.delete_bucket()


# -- gzip ----------------------------------------------------------------------------------------



def test_gzip_as_oss_does(oss2_client, oss2_bucket, v2_client):
    b = oss2_client.bucket(oss2_bucket)
    text = b"line of text\n" * 2000  # 26 KB, text/plain
    b.put_object("notes.txt", text)
    got = b.get_object("notes.txt", headers={"Accept-Encoding": "gzip"})
    assert got.headers["Content-Encoding"] == "gzip"
    assert got.headers.get("Transfer-Encoding") == "chunked" and got.content_length is None
    assert got.read() == text  # decoded by the client, its CRC-64 check on the plain bytes
    # Not compressed: no gzip asked, a range, under 1 KB, a binary type.
    plain = b.get_object("notes.txt")
    assert "Content-Encoding" not in plain.headers and plain.content_length == len(text)
    ranged = b.get_object("notes.txt", byte_range=(0, 99), headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in ranged.headers and ranged.read() == text[:100]
    b.put_object("small.txt", b"x" * 1000)
    assert "Content-Encoding" not in b.get_object("small.txt", headers={"Accept-Encoding": "gzip"}).headers
    b.put_object("data.bin", text, headers={"Content-Type": "application/octet-stream"})
    assert "Content-Encoding" not in b.get_object("data.bin", headers={"Accept-Encoding": "gzip"}).headers
    # alibabacloud-oss-v2 reads the same object whole and intact, with its CRC-64 check on.
    got = v2_client.client.get_object(oss.GetObjectRequest(bucket=oss2_bucket, key="notes.txt"))
    assert got.body.read() == text


# -- signature V2 (oss2's AuthV2) ----------------------------------------------------------------


def test_signature_v2_with_oss2(endpoint):
    auth = oss2.AuthV2(ACCESS_KEY_ID, ACCESS_KEY_SECRET)
    name = unique_bucket("sigv2")
    b = oss2.Bucket(auth, endpoint, name)
    b.create_bucket()
    try:
        key = "目录/a b+c.txt"
        b.put_object(key, b"signed with V2", headers={"x-oss-meta-k": "v"})
        assert b.get_object(key, byte_range=(0, 5)).read() == b"signed"  # Range is signed too
        assert [o.key for o in oss2.ObjectIterator(b, prefix="目录/")] == [key]
        url = b.sign_url("GET", key, 60, params={"response-content-type": "text/plain"})
        got = requests.get(url, timeout=10)
        assert (got.status_code, got.content) == (200, b"signed with V2")
        assert got.headers["Content-Type"] == "text/plain"
        # Every parameter is signed in V2: one added to the URL breaks it.
        assert requests.get(url + "&extra=1", timeout=10).status_code == 403
        wrong = oss2.Bucket(oss2.AuthV2(ACCESS_KEY_ID, "not-the-secret"), endpoint, name)
        with pytest.raises(oss2.exceptions.OssError) as e:
            wrong.get_object(key)
        assert (e.value.status, e.value.code) == (403, "SignatureDoesNotMatch")
        b.delete_object(key)
    finally:
        b.delete_bucket()


# -- what alibabacloud-oss-v2's own suite (written against OSS) checks ----------------------------


def _public_read_policy(bucket: str, principal: str = "*") -> str:
    return json.dumps({"Version": "1", "Statement": [{
        "Effect": "Allow", "Principal": [principal], "Action": ["oss:GetObject"],
        "Resource": [f"acs:oss:*:*:{bucket}/*"]}]})


def test_bucket_policy_status(oss2_client, oss2_bucket, v2_client):
    """GetBucketPolicyStatus: IsPublic, false without a policy. oss2 has no such call: a raw
    request, signed V4 (oss2's V1 signer does not sign the policyStatus sub-resource)."""
    b = oss2_client.bucket(oss2_bucket)
    req = oss.GetBucketPolicyStatusRequest(bucket=oss2_bucket)

    def oss2_status(public: bool) -> bool:
        if oss2_client.name != "oss2-v4":
            return True
        body = b._Bucket__do_bucket("GET", params={"policyStatus": ""}).read()
        return body.endswith(f"<PolicyStatus><IsPublic>{str(public).lower()}</IsPublic></PolicyStatus>".encode())

    assert v2_client.client.get_bucket_policy_status(req).policy_status.is_public is False
    assert oss2_status(False)
    b.put_bucket_policy(_public_read_policy(oss2_bucket))
    assert v2_client.client.get_bucket_policy_status(req).policy_status.is_public is True
    assert oss2_status(True)
    # Granted to one named account only: not public.
    b.put_bucket_policy(_public_read_policy(oss2_bucket, principal="1234567890"))
    assert v2_client.client.get_bucket_policy_status(req).policy_status.is_public is False
    b.delete_bucket_policy()


def test_bucket_info_says_block_public_access(oss2_client, oss2_bucket, v2_client):
    b = oss2_client.bucket(oss2_bucket)
    c = v2_client.client
    info = oss.GetBucketInfoRequest(bucket=oss2_bucket)
    assert c.get_bucket_info(info).bucket_info.block_public_access is False
    b.put_bucket_public_access_block(True)
    assert c.get_bucket_info(info).bucket_info.block_public_access is True
    raw = b._Bucket__do_bucket("GET", params={"bucketInfo": ""}).read()
    assert b"<BlockPublicAccess>true</BlockPublicAccess>" in raw
    b.delete_bucket_public_access_block()
    assert c.get_bucket_info(info).bucket_info.block_public_access is False


def test_list_uploads_names_the_last_one_on_the_last_page(oss2_client, oss2_bucket, v2_client):
    """OSS writes NextKeyMarker / NextUploadIdMarker even when IsTruncated is false."""
    b = oss2_client.bucket(oss2_bucket)
    ids = [b.init_multipart_upload(key).upload_id for key in ("a/1", "b/名")]
    r = b.list_multipart_uploads()
    assert r.is_truncated is False
    assert (r.next_key_marker, r.next_upload_id_marker) == ("b/名", ids[1])
    v = v2_client.client.list_multipart_uploads(oss.ListMultipartUploadsRequest(bucket=oss2_bucket))
    assert v.is_truncated is False
    assert (v.next_key_marker, v.next_upload_id_marker) == ("b/名", ids[1])
    for key, upload_id in zip(("a/1", "b/名"), ids):
        b.abort_multipart_upload(key, upload_id)


def test_copy_replace_keeps_type_and_client_side_encryption_meta(client, bucket):
    """REPLACE takes the request's metadata, but keeps the source's Content-Type when the
    request names none and the envelope of client-side encryption (OSS, per v2's suite)."""
    cse = {
        "client-side-encryption-key": "d3JhcHBlZCBrZXk=",
        "client-side-encryption-start": "aXYgYnl0ZXM=",
        "client-side-encryption-cek-alg": "AES/CTR/NoPadding",
        "client-side-encryption-wrap-alg": "RSA/NONE/PKCS1Padding",
    }
    client.put_object(bucket, "src", b"ciphertext", content_type="text/plain", cache_control="no-cache",
                      metadata={**cse, "old": "1"})
    client.copy_object(bucket, "dst", bucket, "src", directive="REPLACE", metadata={"new": "2"})
    head = client.head_object(bucket, "dst")
    assert head.headers["content-type"] == "text/plain"
    assert head.meta() == {**cse, "new": "2"}
    assert "cache-control" not in head.headers
    # What the request names wins.
    client.copy_object(bucket, "dst2", bucket, "src", directive="REPLACE", content_type="application/json",
                       metadata={"client-side-encryption-start": "bmV3IGl2"})
    head = client.head_object(bucket, "dst2")
    assert head.headers["content-type"] == "application/json"
    assert head.meta() == {**cse, "client-side-encryption-start": "bmV3IGl2"}


def test_overwrite_config_is_refused_not_taken_for_another_operation(oss2_client, oss2_bucket, v2_client):
    """Bucket overwrite protection is not implemented: 501, and neither PutBucket nor a listing."""
    b = oss2_client.bucket(oss2_bucket)
    b.put_object("kept", b"as it was")
    c = v2_client.client
    rule = oss.OverwriteRule(id="r", action="forbid", prefix="a/", suffix=".txt")
    calls = [
        (c.put_bucket_overwrite_config, oss.PutBucketOverwriteConfigRequest(
            bucket=oss2_bucket, overwrite_configuration=oss.OverwriteConfiguration(rules=[rule]))),
        (c.get_bucket_overwrite_config, oss.GetBucketOverwriteConfigRequest(bucket=oss2_bucket)),
        (c.delete_bucket_overwrite_config, oss.DeleteBucketOverwriteConfigRequest(bucket=oss2_bucket)),
    ]
    for fn, req in calls:
        err = _v2_failure(fn, req)
        assert (err.status_code, err.code) == (501, "NotImplemented")
    # Authenticated first, as on OSS: an unknown AccessKeyId is told so.
    stranger = make_client(v2_client.name, v2_client.endpoint, "no-such-access-key", ACCESS_KEY_SECRET)
    err = _v2_failure(stranger.client.get_bucket_overwrite_config, calls[1][1])
    assert (err.status_code, err.code) == (403, "InvalidAccessKeyId")
    # oss2 has no such calls, and only its V4 signer signs the overwriteConfig sub-resource.
    for method in ("PUT", "GET", "DELETE") if oss2_client.name == "oss2-v4" else ():
        with pytest.raises(oss2.exceptions.OssError) as e:
            b._Bucket__do_bucket(method, data=b"<OverwriteConfiguration/>" if method == "PUT" else None,
                                 params={"overwriteConfig": ""})
        assert (e.value.status, e.value.code) == (501, "NotImplemented")
    assert b.get_object("kept").read() == b"as it was"


def test_unknown_key_on_a_missing_bucket(own_endpoint):
    """OSS answers reads of a missing bucket with NoSuchBucket before it looks at an unknown
    AccessKeyId (writes: InvalidAccessKeyId). An anonymous GetObject learns as much, so the
    server follows, except while server-wide Block Public Access hides it from anonymous ones."""
    gone = unique_bucket("gone")
    strangers = [make_client(f, own_endpoint, "no-such-access-key", ACCESS_KEY_SECRET)
                 for f in ("oss2-v1", "oss2-v4", "v2-v4", "v2-v1")]

    def reads(s):
        if s.sdk == "oss2":
            b = s.bucket(gone)
            return [b.get_bucket_acl, b.get_bucket_info, b.get_bucket_location, b.get_bucket_stat,
                    b.list_objects_v2, lambda: b.get_object_meta("k")]
        c = s.client
        return [lambda: c.get_bucket_acl(oss.GetBucketAclRequest(bucket=gone)),
                lambda: c.get_bucket_info(oss.GetBucketInfoRequest(bucket=gone)),
                lambda: c.get_bucket_location(oss.GetBucketLocationRequest(bucket=gone)),
                lambda: c.get_bucket_stat(oss.GetBucketStatRequest(bucket=gone)),
                lambda: c.list_objects_v2(oss.ListObjectsV2Request(bucket=gone)),
                lambda: c.get_object_meta(oss.GetObjectMetaRequest(bucket=gone, key="k"))]

    def failure(call):
        try:
            call()
        except oss2.exceptions.OssError as e:
            return e.status, e.code
        except oss.exceptions.OperationError as e:
            err = e.unwrap()
            return err.status_code, err.code
        raise AssertionError("succeeded with an unknown AccessKeyId")

    anonymous = requests.get(f"{own_endpoint}/{gone}/k", timeout=10)
    assert (anonymous.status_code, b"<Code>NoSuchBucket</Code>" in anonymous.content) == (404, True)
    for s in strangers:
        for call in reads(s):
            assert failure(call) == (404, "NoSuchBucket"), s.name
        put_acl = ((lambda: s.bucket(gone).put_bucket_acl(oss2.BUCKET_ACL_PRIVATE)) if s.sdk == "oss2" else
                   (lambda: s.client.put_bucket_acl(oss.PutBucketAclRequest(bucket=gone, acl="private"))))
        assert failure(put_acl) == (403, "InvalidAccessKeyId"), s.name
    assert strangers[2].client.is_bucket_exist(gone) is False
    service = oss2.Service(oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET), own_endpoint)
    service.put_public_access_block(True)
    try:
        assert requests.get(f"{own_endpoint}/{gone}/k", timeout=10).status_code == 403
        for s in strangers:
            for call in reads(s):
                assert failure(call) == (403, "InvalidAccessKeyId"), s.name
    finally:
        service.delete_public_access_block()
