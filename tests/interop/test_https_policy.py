"""HTTPS with the server's pinned self-signed certificate, and the HTTPS-only bucket policy,
driven by both official SDKs."""

from __future__ import annotations

import json

import pytest

from ossvault_harness import ACCESS_KEY_ID, ACCESS_KEY_SECRET
from oss_rules import unique_bucket
from sdk_clients import FLAVOURS, ServiceFailure, make_client


def https_only(bucket: str) -> str:
    return json.dumps({
        "Version": "1",
        "Statement": [{
            "Effect": "Deny",
            "Action": ["oss:*"],
            "Principal": ["*"],
            "Resource": [f"acs:oss:*:*:{bucket}", f"acs:oss:*:*:{bucket}/*"],
            "Condition": {"Bool": {"acs:SecureTransport": ["false"]}},
        }],
    })


@pytest.fixture
def pinned(server, monkeypatch):
    """Both SDKs send through `requests`, which trusts REQUESTS_CA_BUNDLE: pin our certificate."""
    assert server.https_endpoint and server.certificate, "the session server runs with HTTPS"
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(server.certificate))
    return server.https_endpoint


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_https_round_trip_with_pinned_certificate(flavour, pinned):
    client = make_client(flavour, pinned, ACCESS_KEY_ID, ACCESS_KEY_SECRET)
    bucket = unique_bucket("tls")
    client.create_bucket(bucket)
    client.put_object(bucket, "k", b"over tls " * 1000)
    assert client.get_object(bucket, "k").body == b"over tls " * 1000
    client.delete_object(bucket, "k")
    client.delete_bucket(bucket)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_https_only_policy_refuses_http_and_serves_https(flavour, endpoint, pinned):
    plain = make_client(flavour, endpoint, ACCESS_KEY_ID, ACCESS_KEY_SECRET)
    secure = make_client(flavour, pinned, ACCESS_KEY_ID, ACCESS_KEY_SECRET)
    bucket = unique_bucket("hpol")
    plain.create_bucket(bucket)
    plain.put_object(bucket, "before", b"written over http")
    policy = https_only(bucket)
    plain.put_bucket_policy(bucket, policy)
    assert secure.get_bucket_policy(bucket) == policy, "the policy comes back verbatim"

    for attempt in (
        lambda: plain.get_object(bucket, "before"),
        lambda: plain.put_object(bucket, "after", b"x"),
        lambda: plain.list_v2(bucket),
        lambda: plain.delete_object(bucket, "before"),
    ):
        with pytest.raises(ServiceFailure) as err:
            attempt()
        assert (err.value.status, err.value.code) == (403, "AccessDenied")
        assert len(err.value.request_id) == 24

    secure.put_object(bucket, "after", b"written over https")
    assert secure.get_object(bucket, "before").body == b"written over http"
    assert [e for e in secure.list_v2(bucket).keys] == ["after", "before"]

    secure.delete_bucket_policy(bucket)
    with pytest.raises(ServiceFailure) as err:
        plain.get_bucket_policy(bucket)
    assert err.value.code == "NoSuchBucketPolicy"
    assert plain.get_object(bucket, "after").body == b"written over https"
    for key in ("before", "after"):
        plain.delete_object(bucket, key)
    plain.delete_bucket(bucket)


def test_invalid_policy_is_refused(admin):
    bucket = unique_bucket("badpol")
    admin.create_bucket(bucket)
    with pytest.raises(ServiceFailure) as err:
        admin.put_bucket_policy(bucket, '{"Version":"1","Statement":[{"Effect":"Deny"}]}')
    assert (err.value.status, err.value.code) == (400, "InvalidPolicyDocument")
    admin.delete_bucket(bucket)
