"""ListObjects v1/v2, delimiter and CommonPrefixes, paging through the SDKs' iterators and
paginators, keys that need URL encoding; DeleteMultipleObjects."""

from __future__ import annotations

import hashlib

import pytest

from ossvault_harness import ACCESS_KEY_ID, ACCESS_KEY_SECRET
from oss_rules import expected_listing, unique_bucket
from sdk_clients import make_client

KEYS = [
    "a.txt",
    "dir/",
    "dir/a.txt",
    "dir/b c.txt",
    "dir/100%.txt",
    "dir/2+2=4.txt",
    "dir/sub/1.txt",
    "dir/sub/deeper/x",
    "dir/中文.txt",
    "dir/中文/文件 名.txt",
    "plus+dir/y",
    "space dir/z",
    "pct%2Fdir/w",
    "pct%2F",
    "z~tilde",
    "zz/end",
]

CASES = [  # (prefix, delimiter)
    ("", ""),
    ("", "/"),
    ("dir/", "/"),
    ("dir/", ""),
    ("dir/中文", "/"),
    ("dir/sub/", "/"),
    ("pct%2F", "/"),
    ("space dir/", "/"),  # oss2 (requests) sends the space in a query value as '+'
    ("plus+dir/", "/"),
    ("nothing-here/", "/"),
]


def _by_bytes(items):
    return sorted(items, key=lambda s: s.encode())


@pytest.fixture(scope="module")
def _listed_buckets(endpoint):
    """One populated bucket per flavour, shared by this module's read-only listing tests."""
    made = {}
    yield made
    admin = make_client("oss2-v1", endpoint, ACCESS_KEY_ID, ACCESS_KEY_SECRET)
    for name in made.values():
        try:
            admin.delete_objects(name, KEYS)
            admin.delete_bucket(name)
        except Exception as e:  # cleanup must not hide the tests' own verdicts
            print(f"cleanup of bucket {name} failed: {e}")


@pytest.fixture
def listed_bucket(client, _listed_buckets):
    """A bucket holding KEYS (each key's content is the key itself), written by the flavour under test."""
    if client.name not in _listed_buckets:
        name = unique_bucket("list")
        client.create_bucket(name)
        _listed_buckets[client.name] = name
        for key in KEYS:
            client.put_object(name, key, key.encode())
    return _listed_buckets[client.name]


@pytest.mark.parametrize("prefix, delimiter", CASES)
def test_list_v1_single_page(client, listed_bucket, prefix, delimiter):
    page = client.list_v1(listed_bucket, prefix=prefix, delimiter=delimiter, max_keys=1000)
    assert (page.keys, page.prefixes) == expected_listing(KEYS, prefix, delimiter)
    assert page.truncated is False


@pytest.mark.parametrize("prefix, delimiter", CASES)
def test_list_v2_single_page(client, listed_bucket, prefix, delimiter):
    page = client.list_v2(listed_bucket, prefix=prefix, delimiter=delimiter, max_keys=1000)
    keys, prefixes = expected_listing(KEYS, prefix, delimiter)
    assert (page.keys, page.prefixes) == (keys, prefixes)
    assert page.truncated is False
    if client.sdk == "v2":  # oss2 does not parse KeyCount
        assert page.key_count == len(keys) + len(prefixes)


def test_list_entry_fields(client, listed_bucket):
    page = client.list_v2(listed_bucket, max_keys=1000)
    assert [e["key"] for e in page.entries] == _by_bytes(KEYS)
    for e in page.entries:
        body = e["key"].encode()
        assert e["size"] == len(body)
        assert e["etag"] == hashlib.md5(body).hexdigest().upper()
        assert e["type"] == "Normal"
        assert e["storage_class"] == "Standard"


@pytest.mark.parametrize("prefix, delimiter", [("", "/"), ("dir/", "/"), ("", ""), ("dir/", "")])
@pytest.mark.parametrize("page_size", [1, 3])
def test_paging_through_sdk_iterators(client, listed_bucket, prefix, delimiter, page_size):
    """oss2.ObjectIterator / ObjectIteratorV2, or v2's list_objects(_v2)_paginator."""
    expected = expected_listing(KEYS, prefix, delimiter)
    assert client.iterate_v1(listed_bucket, prefix, delimiter, page_size) == expected
    assert client.iterate_v2(listed_bucket, prefix, delimiter, page_size) == expected


def test_v1_page_boundaries(client, listed_bucket):
    keys, prefixes = expected_listing(KEYS, "", "/")
    merged = _by_bytes(keys + prefixes)  # contents and prefixes share one order and one max-keys
    seen, marker = [], ""
    while True:
        page = client.list_v1(listed_bucket, delimiter="/", marker=marker, max_keys=3)
        items = _by_bytes(page.keys + page.prefixes)
        assert len(items) <= 3
        seen += items
        if not page.truncated:
            break
        assert len(items) == 3
        assert page.next_marker == items[-1], "NextMarker is the last key or prefix of the page"
        marker = page.next_marker
    assert seen == merged


def test_v2_continuation_and_start_after(client, listed_bucket):
    all_keys = _by_bytes(KEYS)
    first = client.list_v2(listed_bucket, max_keys=4)
    assert first.keys == all_keys[:4]
    assert first.truncated is True and first.next_marker
    if client.sdk == "v2":
        assert first.key_count == 4
    second = client.list_v2(listed_bucket, max_keys=4, token=first.next_marker)
    assert second.keys == all_keys[4:8]

    for start in ("dir/b c.txt", "space dir/", "dir/中文"):
        after = client.list_v2(listed_bucket, start_after=start, max_keys=1000)
        assert after.keys == [k for k in all_keys if k.encode() > start.encode()], start


@pytest.mark.parametrize("marker", ["space dir/", "plus+dir/", "dir/中文.txt", "pct%2F"])
def test_v1_marker_needing_encoding(client, listed_bucket, marker):
    page = client.list_v1(listed_bucket, marker=marker, max_keys=1000)
    assert page.keys == [k for k in _by_bytes(KEYS) if k.encode() > marker.encode()]


DELETE_KEYS = [
    "a&b<c>.txt",
    "quote\"'.txt",
    "中文 删除/文件",
    "x/y%z+w",
    "sp ace",
    "plain",
]


def test_delete_multiple_verbose(client, bucket):
    for key in DELETE_KEYS:
        client.put_object(bucket, key, b"doomed")
    client.put_object(bucket, "survivor", b"stay")
    requested = DELETE_KEYS + ["never-existed"]
    deleted = client.delete_objects(bucket, requested)
    # verbose mode reports every requested key, missing ones included, decoded
    assert sorted(deleted) == sorted(requested)
    assert client.list_v2(bucket, max_keys=1000).keys == ["survivor"]


def test_delete_multiple_quiet(v2_client, v2_bucket):
    for key in DELETE_KEYS:
        v2_client.put_object(v2_bucket, key, b"doomed")
    v2_client.put_object(v2_bucket, "survivor", b"stay")
    assert v2_client.delete_objects(v2_bucket, DELETE_KEYS, quiet=True) == []
    assert v2_client.list_v2(v2_bucket, max_keys=1000).keys == ["survivor"]
