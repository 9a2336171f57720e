"""Buckets: create, list, info, location, ACL, delete."""

from __future__ import annotations

import datetime
import time

import pytest

from oss_rules import unique_bucket
from sdk_clients import ServiceFailure


def test_create_list_delete(client, endpoint):
    name = unique_bucket("life")
    before = time.time()
    client.create_bucket(name)
    try:
        listed = {b["name"]: b for b in client.list_buckets(prefix="ovt-life-")}
        assert name in listed, f"created bucket missing from ListBuckets: {sorted(listed)}"
        ours = listed[name]
        assert ours["location"] == "oss-cn-hangzhou"
        assert ours["storage_class"] == "Standard"
        # The SDKs' own test harness opens a Bucket on ExtranetEndpoint: it must be this server.
        assert ours["extranet_endpoint"] == endpoint.removeprefix("http://")
        assert ours["intranet_endpoint"] == endpoint.removeprefix("http://")
        assert before - 5 <= ours["creation_date"] <= time.time() + 5
        # prefix filters: a prefix that matches nothing lists nothing of ours
        assert name not in {b["name"] for b in client.list_buckets(prefix="ovt-nomatch-")}
    finally:
        client.delete_bucket(name)
    assert name not in {b["name"] for b in client.list_buckets(prefix="ovt-life-")}
    with pytest.raises(ServiceFailure) as e:
        client.delete_bucket(name)
    assert (e.value.status, e.value.code) == (404, "NoSuchBucket")


def test_list_buckets_paging(client, admin):
    stem = unique_bucket("page")
    names = [f"{stem}-{i}" for i in (2, 0, 1)]
    for name in names:
        client.create_bucket(name)
    try:
        for page_size in (1, 2):
            listed = [b["name"] for b in client.list_buckets(prefix=stem, page_size=page_size)]
            assert listed == sorted(names)
    finally:
        for name in names:
            admin.delete_bucket(name)


def test_bucket_info_and_location(client, bucket, endpoint):
    info = client.bucket_info(bucket)
    assert info["name"] == bucket
    assert info["location"] == "oss-cn-hangzhou"
    assert info["storage_class"] == "Standard"
    assert info["acl"] == "private"
    assert info["extranet_endpoint"] == endpoint.removeprefix("http://")
    assert info["owner_id"]
    created = info["creation_date"]
    if isinstance(created, str):  # oss2 keeps the XML text: it must be YYYY-MM-DDTHH:MM:SS.000Z
        created = datetime.datetime.strptime(created, "%Y-%m-%dT%H:%M:%S.000Z").replace(tzinfo=datetime.timezone.utc)
    assert abs(created.timestamp() - time.time()) < 600
    assert client.bucket_location(bucket) == "oss-cn-hangzhou"


def test_bucket_acl(client, bucket):
    assert client.get_bucket_acl(bucket) == "private"
    client.put_bucket_acl(bucket, "public-read")
    assert client.get_bucket_acl(bucket) == "public-read"
    client.put_bucket_acl(bucket, "public-read-write")
    assert client.get_bucket_acl(bucket) == "public-read-write"
    client.put_bucket_acl(bucket, "private")
    assert client.get_bucket_acl(bucket) == "private"


def test_create_with_acl(client, admin):
    name = unique_bucket("acl")
    client.create_bucket(name, acl="public-read")
    try:
        assert client.get_bucket_acl(name) == "public-read"
    finally:
        admin.delete_bucket(name)


def test_delete_non_empty_bucket(client, bucket):
    client.put_object(bucket, "keep.txt", b"x")
    with pytest.raises(ServiceFailure) as e:
        client.delete_bucket(bucket)
    assert (e.value.status, e.value.code) == (409, "BucketNotEmpty")
    assert len(e.value.request_id) == 24
    # still there, still usable
    assert client.get_object(bucket, "keep.txt").body == b"x"


def test_delete_bucket_with_pending_upload(client, bucket):
    upload_id = client.init_multipart(bucket, "pending.bin")
    with pytest.raises(ServiceFailure) as e:
        client.delete_bucket(bucket)
    assert (e.value.status, e.value.code) == (409, "BucketNotEmpty")
    client.abort_multipart(bucket, "pending.bin", upload_id)
