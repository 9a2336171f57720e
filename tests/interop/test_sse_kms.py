"""SSE-KMS as the official SDKs see it, with the server's local KMS: objects under the default
CMK and under a named CMK (Put/Get/Head, ranges, copy, append, multipart), the response headers
of reference §4.2 (`x-oss-server-side-encryption: KMS` and the key id, always present for KMS),
bucket default rules naming a CMK, and what a disabled or deleted CMK does to reads.

CMKs are managed through the KMS API (`POST /_kms/?Action=...`), signed as if `_kms` were a
bucket with V4 in the Authorization header and the body's SHA-256 signed (the harness signs by
hand: the SDKs' signers write UNSIGNED-PAYLOAD only). oss2's own V1 and V4 signatures, header and
presigned, are refused there: they leave the action, its parameters or the body unsigned.
"""

from __future__ import annotations

import base64

import oss2
import pytest
import requests

from ossvault_harness import ACCESS_KEY_ID, ACCESS_KEY_SECRET, REGION, kms_request
from oss_rules import crc64, etag_of, random_bytes, unique_bucket
from sdk_clients import ServiceFailure

SSE = "x-oss-server-side-encryption"
KEY_ID = "x-oss-server-side-encryption-key-id"
KMS = {SSE: "KMS"}
CHUNK = 64 * 1024  # plaintext bytes per sealed chunk
DEFAULT_DESCRIPTION = f"Default master key for OSS in {REGION}"


class KmsFailure(Exception):
    def __init__(self, status, body):
        super().__init__(f"{status} {body}")
        self.status = status
        self.code = body.get("Code")
        self.message = body.get("Message")
        self.body = body


class KmsApi:
    """The server's KMS API, signed as it requires (`v4-body`), or by oss2's V1 `Auth` or V4
    `AuthV4` for bucket `_kms` (header or presigned URL), which it refuses."""

    def __init__(self, endpoint, ak=ACCESS_KEY_ID, sk=ACCESS_KEY_SECRET, version="v4-body"):
        self.url = endpoint.rstrip("/") + "/_kms/"
        self.version = version
        self.ak, self.sk = ak, sk
        self.auth = oss2.AuthV4(ak, sk) if version.startswith("v4") else oss2.Auth(ak, sk)

    def call(self, action, signed=True, presigned=False, body=b"", signed_body=None, **params):
        params = {"Action": action, **{k: str(v) for k, v in params.items() if v is not None}}
        if self.version == "v4-body" and signed:
            query, headers = kms_request(params, body, self.ak, self.sk, signed_body=signed_body)
            r = requests.post(f"{self.url}?{query}", data=body, headers=headers, timeout=30)
        else:
            req = oss2.http.Request("POST", self.url, params=params, headers={}, region=REGION, product="oss")
            url = self.url
            if presigned:
                url = self.auth._sign_url(req, "_kms", "", 600)
                params = None
            elif signed:
                self.auth._sign_request(req, "_kms", "")
            # A presigned URL carries everything; V1's signer leaves its expiry in a Date header.
            headers = {} if presigned else {k: v for k, v in req.headers.items() if v is not None}
            r = requests.post(url, params=params, data=body, headers=headers, timeout=30)
        assert r.headers["content-type"].startswith("application/json"), r.headers
        answer = r.json()
        assert answer.get("RequestId") == r.headers["x-oss-request-id"]
        if r.status_code != 200:
            raise KmsFailure(r.status_code, answer)
        return answer

    def create_key(self, description=None):
        return self.call("CreateKey", Description=description)["KeyMetadata"]["KeyId"]

    def describe(self, key_id):
        return self.call("DescribeKey", KeyId=key_id)["KeyMetadata"]


@pytest.fixture(scope="session")
def kms(endpoint):
    return KmsApi(endpoint)


@pytest.fixture
def cmk(kms):
    """A fresh named CMK, enabled."""
    return kms.create_key("interop test key")


def _failure(fn, *args, **kwargs) -> ServiceFailure:
    with pytest.raises(ServiceFailure) as e:
        fn(*args, **kwargs)
    return e.value


def _assert_kms(reply, key_id):
    """Reference §4.2: KMS objects always carry the algorithm and the key id."""
    assert reply.headers.get(SSE) == "KMS", reply.headers
    assert reply.headers.get(KEY_ID) == key_id, reply.headers


# -- the KMS API itself --------------------------------------------------------------------------


def test_kms_api_signed_with_v4_and_a_body_hash(endpoint):
    api = KmsApi(endpoint)
    key_id = api.create_key("signed with V4 and a body hash")
    meta = api.describe(key_id)
    assert meta["KeyState"] == "Enabled"
    assert meta["Origin"] == "Aliyun_KMS"
    assert meta["Arn"].endswith(":key/" + key_id)
    listed = api.call("ListKeys", PageSize=100)
    assert listed["PageSize"] == 100 and listed["PageNumber"] == 1
    assert listed["TotalCount"] >= 1
    # A plaintext with '+', '/' and '=' in its base64 survives the query string both ways.
    plain = bytes(range(256))
    blob = api.call("Encrypt", KeyId=key_id, Plaintext=base64.b64encode(plain).decode())["CiphertextBlob"]
    assert base64.b64decode(api.call("Decrypt", CiphertextBlob=blob)["Plaintext"]) == plain
    # Parameters in a JSON body are covered by the signed hash too.
    described = api.call("DescribeKey", body=f'{{"KeyId": "{key_id}"}}'.encode())
    assert described["KeyMetadata"]["KeyId"] == key_id


@pytest.mark.parametrize("version", ["v1", "v4"])
@pytest.mark.parametrize("presigned", [False, True], ids=["header", "presigned"])
def test_kms_api_refuses_what_the_sdks_sign(endpoint, kms, version, presigned):
    """oss2's V1 leaves Action and its parameters unsigned, its V4 the body (UNSIGNED-PAYLOAD),
    and presigned URLs sign no body: a captured request could become another action."""
    key_id = kms.create_key()
    with pytest.raises(KmsFailure) as e:
        KmsApi(endpoint, version=version).call("DisableKey", presigned=presigned, KeyId=key_id)
    assert (e.value.status, e.value.code) == (403, "AccessDenied")
    assert "V4 Authorization header" in e.value.message
    assert kms.describe(key_id)["KeyState"] == "Enabled"


def test_kms_api_checks_the_body_against_its_signed_hash(kms):
    key_id = kms.create_key()
    with pytest.raises(KmsFailure) as e:
        kms.call("DisableKey", body=f'{{"KeyId": "{key_id}"}}'.encode(), signed_body=b'{"KeyId": "x"}')
    assert (e.value.status, e.value.code) == (400, "InvalidDigest")
    assert kms.describe(key_id)["KeyState"] == "Enabled"


def test_kms_api_refuses_unsigned_and_wrongly_signed_requests(endpoint):
    with pytest.raises(KmsFailure) as e:
        KmsApi(endpoint).call("ListKeys", signed=False)
    assert (e.value.status, e.value.code) == (403, "AccessDenied")
    with pytest.raises(KmsFailure) as e:
        KmsApi(endpoint, sk="wrong-secret").call("ListKeys")
    assert (e.value.status, e.value.code) == (403, "SignatureDoesNotMatch")


def test_kms_api_errors_are_json_with_kms_codes(kms):
    with pytest.raises(KmsFailure) as e:
        kms.describe("no-such-key")
    assert (e.value.status, e.value.code) == (404, "Forbidden.KeyNotFound")
    with pytest.raises(KmsFailure) as e:
        kms.call("NoSuchAction")
    assert (e.value.status, e.value.code) == (400, "InvalidAction.NotFound")
    with pytest.raises(KmsFailure) as e:
        kms.call("ScheduleKeyDeletion", KeyId=kms.create_key(), PendingWindowInDays=1)
    assert (e.value.status, e.value.code) == (400, "InvalidParameter")


# -- objects under the default CMK and a named CMK -----------------------------------------------


def test_put_get_head_with_the_default_cmk(client, bucket, kms):
    data = random_bytes(3 * CHUNK + 99, seed=501)
    put = client.put_object(bucket, "kms/default", data, headers=KMS)
    key_id = put.headers.get(KEY_ID)
    assert key_id, f"no key id on a KMS put: {put.headers}"
    _assert_kms(put, key_id)
    assert put.etag == etag_of(data)
    assert put.crc == crc64(data)
    meta = kms.describe(key_id)
    assert meta["Description"] == DEFAULT_DESCRIPTION
    assert meta["KeyState"] == "Enabled"

    got = client.get_object(bucket, "kms/default")
    assert got.body == data
    _assert_kms(got, key_id)
    _assert_kms(client.head_object(bucket, "kms/default"), key_id)
    # Always the same default key.
    again = client.put_object(bucket, "kms/default2", b"x", headers=KMS)
    _assert_kms(again, key_id)


def test_put_get_head_and_ranges_with_a_named_cmk(client, bucket, cmk):
    size = 3 * CHUNK + 12_345
    data = random_bytes(size, seed=502)
    put = client.put_object(bucket, "kms/named", data, headers={**KMS, KEY_ID: cmk})
    _assert_kms(put, cmk)
    got = client.get_object(bucket, "kms/named")
    assert got.body == data
    assert got.crc == crc64(data)
    _assert_kms(got, cmk)
    _assert_kms(client.head_object(bucket, "kms/named"), cmk)
    for spec, start, end in [
        ("bytes=0-0", 0, 1),
        ("bytes=65535-65536", CHUNK - 1, CHUNK + 1),
        ("bytes=65530-131080", CHUNK - 6, 2 * CHUNK + 9),
        (f"bytes={3 * CHUNK}-", 3 * CHUNK, size),
        ("bytes=-100", size - 100, size),
    ]:
        r = client.get_object(bucket, "kms/named", range=spec)
        assert r.status == 206, spec
        assert r.body == data[start:end], spec
        _assert_kms(r, cmk)


def test_copy_and_append_under_sse_kms(client, bucket, cmk):
    client.put_object(bucket, "plain", b"plain source")
    copied = client.copy_object(bucket, "kms/copy", bucket, "plain", headers={**KMS, KEY_ID: cmk})
    _assert_kms(copied, cmk)
    got = client.get_object(bucket, "kms/copy")
    assert got.body == b"plain source"
    _assert_kms(got, cmk)

    first = client.append_object(bucket, "kms/app", 0, b"first,", headers={**KMS, KEY_ID: cmk})
    _assert_kms(first, cmk)
    # Later appends keep the first one's encryption.
    second = client.append_object(bucket, "kms/app", first.next_position, b"second")
    _assert_kms(second, cmk)
    got = client.get_object(bucket, "kms/app")
    assert got.body == b"first,second"
    _assert_kms(got, cmk)


def test_multipart_under_sse_kms(client, bucket, cmk):
    parts = [random_bytes(150 * 1024 + 3, seed=503), random_bytes(70 * 1024, seed=504)]
    data = b"".join(parts)
    init = client.initiate_multipart(bucket, "kms/mp", headers={**KMS, KEY_ID: cmk})
    _assert_kms(init, cmk)
    etags = []
    for n, part in enumerate(parts, start=1):
        r = client.upload_part(bucket, "kms/mp", init.upload_id, n, part)
        _assert_kms(r, cmk)
        assert r.etag == etag_of(part)
        etags.append((n, r.etag))
    done = client.complete_multipart(bucket, "kms/mp", init.upload_id, etags)
    _assert_kms(done, cmk)
    got = client.get_object(bucket, "kms/mp")
    assert got.body == data
    _assert_kms(got, cmk)
    b = len(parts[0])
    r = client.get_object(bucket, "kms/mp", range=f"bytes={b - 10}-{b + 9}")
    assert r.body == data[b - 10 : b + 10]
    _assert_kms(r, cmk)


def test_multipart_under_the_default_cmk(client, bucket, kms):
    init = client.initiate_multipart(bucket, "kms/mp-default", headers=KMS)
    key_id = init.headers.get(KEY_ID)
    assert key_id and kms.describe(key_id)["Description"] == DEFAULT_DESCRIPTION
    r = client.upload_part(bucket, "kms/mp-default", init.upload_id, 1, b"only part")
    _assert_kms(r, key_id)
    done = client.complete_multipart(bucket, "kms/mp-default", init.upload_id, [(1, r.etag)])
    _assert_kms(done, key_id)
    assert client.get_object(bucket, "kms/mp-default").body == b"only part"


# -- bucket default rules ------------------------------------------------------------------------


def test_bucket_default_rule_with_a_named_cmk(client, bucket, cmk):
    client.put_bucket_encryption(bucket, "KMS", cmk)
    assert client.get_bucket_encryption(bucket)["kms_master_key_id"] == cmk
    put = client.put_object(bucket, "ruled", b"by the rule")
    _assert_kms(put, cmk)
    got = client.get_object(bucket, "ruled")
    assert got.body == b"by the rule"
    _assert_kms(got, cmk)


def test_bucket_default_rule_may_name_a_cmk_that_does_not_exist_yet(client, bucket):
    """As on OSS (oss2's own test_bucket_encryption puts KMSMasterKeyID "123"): the rule is
    kept as given, and the writes it governs fail with KmsKeyNotFound, storing nothing."""
    client.put_bucket_encryption(bucket, "KMS", "no-such-key")
    assert client.get_bucket_encryption(bucket)["kms_master_key_id"] == "no-such-key"
    e = _failure(client.put_object, bucket, "ruled", b"needs the key")
    assert (e.status, e.code) == (404, "KmsKeyNotFound")
    assert "no-such-key" in e.message
    assert _failure(client.head_object, bucket, "ruled").code == "NoSuchKey"


def test_bucket_created_with_kms_headers(admin, cmk):
    """PutBucket with SSE headers sets the default rule (its KMS key id taken as given)."""
    name = unique_bucket("kmshdr")
    b = admin.bucket(name)
    b.create_bucket(headers={**KMS, KEY_ID: cmk})
    try:
        assert admin.get_bucket_encryption(name)["kms_master_key_id"] == cmk
        _assert_kms(admin.put_object(name, "o", b"default from PutBucket"), cmk)
    finally:
        b.delete_object("o")
        b.delete_bucket()


# -- a disabled or deleted CMK -------------------------------------------------------------------


def test_disabled_cmk_makes_its_objects_unreadable_until_enabled(client, bucket, kms, cmk):
    data = random_bytes(100_000, seed=505)
    client.put_object(bucket, "kms/locked", data, headers={**KMS, KEY_ID: cmk})

    kms.call("DisableKey", KeyId=cmk)
    assert kms.describe(cmk)["KeyState"] == "Disabled"
    e = _failure(client.get_object, bucket, "kms/locked")
    assert (e.status, e.code) == (403, "KmsServiceNotEnabled")
    assert cmk in e.message and "disabled" in e.message, e.message
    e = _failure(client.get_object, bucket, "kms/locked", range="bytes=0-9")
    assert (e.status, e.code) == (403, "KmsServiceNotEnabled")
    # The metadata stays readable; writing under the key is refused too.
    _assert_kms(client.head_object(bucket, "kms/locked"), cmk)
    e = _failure(client.put_object, bucket, "kms/new", b"x", headers={**KMS, KEY_ID: cmk})
    assert (e.status, e.code) == (403, "KmsServiceNotEnabled")

    kms.call("EnableKey", KeyId=cmk)
    got = client.get_object(bucket, "kms/locked")
    assert got.body == data
    _assert_kms(got, cmk)


def test_cmk_pending_deletion_makes_its_objects_unreadable_until_cancelled(client, bucket, kms, cmk):
    client.put_object(bucket, "kms/doomed", b"doomed?", headers={**KMS, KEY_ID: cmk})
    kms.call("ScheduleKeyDeletion", KeyId=cmk, PendingWindowInDays=7)
    meta = kms.describe(cmk)
    assert meta["KeyState"] == "PendingDeletion" and meta["DeleteDate"]
    e = _failure(client.get_object, bucket, "kms/doomed")
    assert (e.status, e.code) == (403, "KmsServiceNotEnabled")
    assert "pending deletion" in e.message, e.message
    kms.call("CancelKeyDeletion", KeyId=cmk)
    assert kms.describe(cmk)["KeyState"] == "Enabled"
    assert client.get_object(bucket, "kms/doomed").body == b"doomed?"
