"""Error answers as the SDKs see them: exact status, code, and a 24-character request id."""

from __future__ import annotations

import re

import oss2
import pytest
import requests

from ossvault_harness import ACCESS_KEY_ID, ACCESS_KEY_SECRET
from oss_rules import unique_bucket
from sdk_clients import FLAVOURS, ServiceFailure, make_client


def _check(failure: ServiceFailure, status: int, code: str):
    assert (failure.status, failure.code) == (status, code), str(failure)
    assert failure.request_id and len(failure.request_id) == 24, failure.request_id
    assert failure.headers.get("x-oss-request-id") == failure.request_id


def test_get_missing_key(client, bucket):
    with pytest.raises(ServiceFailure) as e:
        client.get_object(bucket, "missing/键")
    _check(e.value, 404, "NoSuchKey")
    if client.sdk == "oss2":
        assert isinstance(e.value.original, oss2.exceptions.NoSuchKey)


def test_head_missing_key_reports_code(client, bucket):
    """A HEAD error has no body: the code travels base64-encoded in the x-oss-err header."""
    with pytest.raises(ServiceFailure) as e:
        client.head_object(bucket, "missing")
    _check(e.value, 404, "NoSuchKey")
    assert "x-oss-err" in e.value.headers
    if client.sdk == "oss2":
        assert isinstance(e.value.original, oss2.exceptions.NoSuchKey)


def test_missing_bucket(client):
    name = unique_bucket("gone")
    with pytest.raises(ServiceFailure) as e:
        client.get_object(name, "k")
    _check(e.value, 404, "NoSuchBucket")
    with pytest.raises(ServiceFailure) as e:
        client.put_object(name, "k", b"data")
    _check(e.value, 404, "NoSuchBucket")
    with pytest.raises(ServiceFailure) as e:
        client.list_v2(name)
    _check(e.value, 404, "NoSuchBucket")
    with pytest.raises(ServiceFailure) as e:
        client.head_object(name, "k")
    _check(e.value, 404, "NoSuchBucket")
    if client.sdk == "oss2":
        assert isinstance(e.value.original, oss2.exceptions.NoSuchBucket)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_wrong_secret(flavour, endpoint, admin, admin_bucket):
    admin.put_object(admin_bucket, "k", b"v")
    bad = make_client(flavour, endpoint, ACCESS_KEY_ID, ACCESS_KEY_SECRET + "x")
    for call in (lambda: bad.get_object(admin_bucket, "k"),
                 lambda: bad.put_object(admin_bucket, "k", b"overwritten?"),
                 lambda: bad.list_buckets()):
        with pytest.raises(ServiceFailure) as e:
            call()
        _check(e.value, 403, "SignatureDoesNotMatch")
    assert admin.get_object(admin_bucket, "k").body == b"v"


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_unknown_access_key(flavour, endpoint, admin, admin_bucket):
    stranger = make_client(flavour, endpoint, "no-such-access-key", ACCESS_KEY_SECRET)
    with pytest.raises(ServiceFailure) as e:
        stranger.get_object(admin_bucket, "k")
    _check(e.value, 403, "InvalidAccessKeyId")
    with pytest.raises(ServiceFailure) as e:
        stranger.head_object(admin_bucket, "k")
    _check(e.value, 403, "InvalidAccessKeyId")


def test_anonymous_list_denied(endpoint, admin_bucket):
    r = requests.get(f"{endpoint}/{admin_bucket}/", timeout=10)
    assert r.status_code == 403
    assert r.headers["Content-Type"].startswith("application/xml")
    assert re.search(r"<Code>AccessDenied</Code>", r.text)
    assert re.search(r"<RequestId>[^<]{24}</RequestId>", r.text)
    assert r.headers["x-oss-request-id"] == re.search(r"<RequestId>([^<]*)</RequestId>", r.text).group(1)


def test_common_response_headers(endpoint, admin, admin_bucket):
    admin.put_object(admin_bucket, "k", b"v")
    url, _ = admin.presign("GET", admin_bucket, "k")
    r = requests.get(url, timeout=10)
    assert r.status_code == 200
    assert r.reason == "OK"  # v2's own tests assert the reason phrase
    assert r.headers["Server"] == "AliyunOSS"
    assert re.fullmatch(r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT", r.headers["Date"])
    assert re.fullmatch(r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT", r.headers["Last-Modified"])
    assert r.headers["Accept-Ranges"] == "bytes"
    ids = {requests.get(url, timeout=10).headers["x-oss-request-id"] for _ in range(5)}
    assert len(ids) == 5 and all(len(i) == 24 for i in ids), ids
