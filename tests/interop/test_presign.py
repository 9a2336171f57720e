"""Presigned URLs made by the SDKs (oss2 `Bucket.sign_url`, v2 `Client.presign`), used with plain
`requests` and no other credentials."""

from __future__ import annotations

import time
import urllib.parse

import requests

from ossvault_harness import ACCESS_KEY_ID, ACCESS_KEY_SECRET
from oss_rules import crc64, etag_of, random_bytes
from sdk_clients import make_client

TIMEOUT = 15


def _signature_kind(url: str) -> str:
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    if query.get("x-oss-signature-version") == ["OSS4-HMAC-SHA256"]:
        return "v4"
    assert "OSSAccessKeyId" in query and "Signature" in query and "Expires" in query, url
    return "v1"


def test_presigned_get(client, bucket):
    data = random_bytes(70_000, seed=7)
    key = "shared/报告 +1%.bin"
    client.put_object(bucket, key, data)
    url, headers = client.presign("GET", bucket, key, expires_s=600)
    assert _signature_kind(url) == client.version
    r = requests.get(url, headers=headers, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    assert r.content == data
    assert r.headers["ETag"] == etag_of(data)
    assert r.headers["x-oss-hash-crc64ecma"] == str(crc64(data))
    assert len(r.headers["x-oss-request-id"]) == 24


def test_presigned_get_with_response_override(client, bucket):
    client.put_object(bucket, "report.csv", b"a,b\n1,2\n")
    disposition = 'attachment; filename="quarterly report.csv"'
    url, headers = client.presign("GET", bucket, "report.csv", response_disposition=disposition)
    r = requests.get(url, headers=headers, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Disposition"] == disposition
    assert r.content == b"a,b\n1,2\n"


def test_presigned_put(client, bucket):
    data = random_bytes(40_000, seed=8)
    key = "uploads/via url.txt"
    url, headers = client.presign("PUT", bucket, key, expires_s=600, headers={"Content-Type": "text/plain"})
    assert headers.get("Content-Type") == "text/plain"
    r = requests.put(url, data=data, headers=headers, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    assert r.headers["ETag"] == etag_of(data)
    assert r.headers["x-oss-hash-crc64ecma"] == str(crc64(data))
    got = client.get_object(bucket, key)
    assert got.body == data
    assert got.headers["content-type"] == "text/plain"


def test_presigned_url_tampered(client, bucket):
    client.put_object(bucket, "secret", b"not for you")
    url, headers = client.presign("GET", bucket, "secret", expires_s=600)
    # the same signature used for another key must not verify
    forged = url.replace("/secret?", "/secret2?")
    assert forged != url
    r = requests.get(forged, headers=headers, timeout=TIMEOUT)
    assert r.status_code == 403
    assert "<Code>SignatureDoesNotMatch</Code>" in r.text


def test_presigned_put_wrong_content_type(client, bucket):
    url, headers = client.presign("PUT", bucket, "typed", expires_s=600, headers={"Content-Type": "text/plain"})
    r = requests.put(url, data=b"x", headers={**headers, "Content-Type": "image/png"}, timeout=TIMEOUT)
    assert r.status_code == 403
    assert "<Code>SignatureDoesNotMatch</Code>" in r.text


def test_presigned_expired_v1(admin, admin_bucket):
    admin.put_object(admin_bucket, "old", b"stale")
    url, headers = admin.presign("GET", admin_bucket, "old", expires_s=-120)
    assert _signature_kind(url) == "v1"
    r = requests.get(url, headers=headers, timeout=TIMEOUT)
    assert r.status_code == 403
    assert "<Code>AccessDenied</Code>" in r.text


def test_presigned_expired_v4(endpoint, admin, admin_bucket):
    admin.put_object(admin_bucket, "old", b"stale")
    v4 = make_client("v2-v4", endpoint, ACCESS_KEY_ID, ACCESS_KEY_SECRET)
    url, headers = v4.presign("GET", admin_bucket, "old", expires_s=1)
    assert _signature_kind(url) == "v4"
    time.sleep(2.5)
    r = requests.get(url, headers=headers, timeout=TIMEOUT)
    assert r.status_code == 403
    assert "<Code>AccessDenied</Code>" in r.text
