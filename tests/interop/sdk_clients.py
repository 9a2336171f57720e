"""One thin adapter per official SDK, so that shared tests run unchanged over four client flavours:

    oss2-v1   oss2.Auth          (signature V1, oss2's default)
    oss2-v4   oss2.AuthV4        (signature V4, region cn-hangzhou)
    v2-v4     alibabacloud-oss-v2 (signature V4, its default)
    v2-v1     alibabacloud-oss-v2 with cfg.signature_version = 'v1'

Adapters only translate calls and results; they never retry, patch or relax anything, and the
SDKs' own CRC-64 checks stay on (their defaults). Results are returned as `Reply` (status, raw
response headers, body, the SDK's own result object in `.sdk`), errors as `ServiceFailure`
(the SDK's exception kept in `.original`) so that tests can assert exact codes for every flavour.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

import alibabacloud_oss_v2 as oss
import oss2
from alibabacloud_oss_v2 import exceptions as v2_exceptions


class ServiceFailure(Exception):
    """An error answer from the server, as the SDK surfaced it."""

    def __init__(self, status, code, request_id, message, headers, original):
        super().__init__(f"{status} {code} (request id {request_id!r}): {message}")
        self.status = status
        self.code = code
        self.request_id = request_id
        self.message = message
        self.headers = {k.lower(): v for k, v in (headers or {}).items()}
        self.original = original


@dataclass
class Reply:
    status: int
    headers: dict  # lower-case names
    sdk: object = None  # the SDK's own result object
    body: bytes | None = None

    @property
    def etag(self) -> str | None:
        return self.headers.get("etag")

    @property
    def crc(self) -> int | None:
        v = self.headers.get("x-oss-hash-crc64ecma")
        return int(v) if v is not None else None

    @property
    def request_id(self) -> str | None:
        return self.headers.get("x-oss-request-id")

    def meta(self) -> dict:
        return {k[len("x-oss-meta-") :]: v for k, v in self.headers.items() if k.startswith("x-oss-meta-")}


@dataclass
class Page:
    keys: list
    prefixes: list
    truncated: bool
    next_marker: str | None = None  # v1 NextMarker / v2 NextContinuationToken
    key_count: int | None = None
    entries: list = field(default_factory=list)  # per-key dicts: key, size, etag, type, storage_class


def _lower(headers) -> dict:
    return {k.lower(): v for k, v in dict(headers or {}).items()}


def _translate_oss2(fn):
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except oss2.exceptions.OssError as e:
            if e.status < 0:  # client-side problem (CRC mismatch, bad args): not a server answer
                raise
            raise ServiceFailure(e.status, e.code, e.request_id, e.message, e.headers, e) from e

    wrapper.__name__ = fn.__name__
    return wrapper


def _translate_v2(fn):
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except v2_exceptions.OperationError as e:
            inner = e.unwrap()
            if isinstance(inner, v2_exceptions.ServiceError):
                raise ServiceFailure(
                    inner.status_code, inner.code, inner.request_id, inner.message, inner.headers, inner
                ) from e
            raise

    wrapper.__name__ = fn.__name__
    return wrapper


def _translate_all(cls, translator):
    for name, member in list(vars(cls).items()):
        if callable(member) and not name.startswith("_"):
            setattr(cls, name, translator(member))
    return cls


class Oss2Client:
    sdk = "oss2"

    def __init__(self, endpoint: str, ak: str, sk: str, version: str, region: str = "cn-hangzhou"):
        self.name = f"oss2-{version}"
        self.endpoint = endpoint
        self.version = version
        self.region = region
        self.auth = oss2.Auth(ak, sk) if version == "v1" else oss2.AuthV4(ak, sk)

    # -- plumbing -------------------------------------------------------------------------------
    def bucket(self, name: str) -> oss2.Bucket:
        kw = {"region": self.region} if self.version == "v4" else {}
        return oss2.Bucket(self.auth, self.endpoint, name, **kw)

    def service(self) -> oss2.Service:
        kw = {"region": self.region} if self.version == "v4" else {}
        return oss2.Service(self.auth, self.endpoint, **kw)

    @staticmethod
    def _reply(result, body=None) -> Reply:
        return Reply(result.status, _lower(result.headers), result, body)

    # -- service and buckets --------------------------------------------------------------------
    def create_bucket(self, bucket, acl=None):
        return self._reply(self.bucket(bucket).create_bucket(acl))

    def delete_bucket(self, bucket):
        return self._reply(self.bucket(bucket).delete_bucket())

    def list_buckets(self, prefix="", page_size=None):
        if page_size is not None:  # through oss2.BucketIterator (marker / NextMarker paging)
            return [{"name": b.name} for b in oss2.BucketIterator(self.service(), prefix=prefix, max_keys=page_size)]
        result = self.service().list_buckets(prefix=prefix, max_keys=1000)
        return [
            {
                "name": b.name,
                "location": b.location,
                "creation_date": b.creation_date,  # unix seconds (oss2 parses .000Z)
                "storage_class": b.storage_class,
                "extranet_endpoint": b.extranet_endpoint,
                "intranet_endpoint": b.intranet_endpoint,
                "region": b.region,
            }
            for b in result.buckets
        ]

    def bucket_info(self, bucket):
        info = self.bucket(bucket).get_bucket_info()
        return {
            "name": info.name,
            "location": info.location,
            "storage_class": info.storage_class,
            "acl": info.acl.grant,
            "creation_date": info.creation_date,  # oss2 keeps the XML string
            "extranet_endpoint": info.extranet_endpoint,
            "owner_id": info.owner.id,
            "sse_algorithm": info.bucket_encryption_rule.sse_algorithm if info.bucket_encryption_rule else None,
            "kms_data_encryption": (info.bucket_encryption_rule.kms_data_encryption
                                    if info.bucket_encryption_rule else None),
        }

    def bucket_location(self, bucket):
        return self.bucket(bucket).get_bucket_location().location

    def put_bucket_acl(self, bucket, acl):
        return self._reply(self.bucket(bucket).put_bucket_acl(acl))

    def get_bucket_acl(self, bucket):
        return self.bucket(bucket).get_bucket_acl().acl

    def put_bucket_policy(self, bucket, policy):
        return self._reply(self.bucket(bucket).put_bucket_policy(policy))

    def get_bucket_policy(self, bucket):
        return self.bucket(bucket).get_bucket_policy().policy

    def delete_bucket_policy(self, bucket):
        return self._reply(self.bucket(bucket).delete_bucket_policy())

    def put_bucket_encryption(self, bucket, algorithm, kms_key_id=None, kms_data_encryption=None):
        rule = oss2.models.ServerSideEncryptionRule(sse_algorithm=algorithm, kms_master_keyid=kms_key_id,
                                                    kms_data_encryption=kms_data_encryption)
        return self._reply(self.bucket(bucket).put_bucket_encryption(rule))

    def get_bucket_encryption(self, bucket):
        r = self.bucket(bucket).get_bucket_encryption()
        return {"sse_algorithm": r.sse_algorithm, "kms_master_key_id": r.kms_master_keyid,
                "kms_data_encryption": r.kms_data_encryption}

    def delete_bucket_encryption(self, bucket):
        return self._reply(self.bucket(bucket).delete_bucket_encryption())

    # -- objects --------------------------------------------------------------------------------
    def put_object(self, bucket, key, data, *, content_type=None, metadata=None, cache_control=None,
                   content_disposition=None, expires=None, forbid_overwrite=False, content_md5=None, headers=None):
        headers = dict(headers or {})
        if content_md5 is not None:
            headers["Content-MD5"] = content_md5
        if content_type is not None:
            headers["Content-Type"] = content_type
        for k, v in (metadata or {}).items():
            headers["x-oss-meta-" + k] = v
        if cache_control is not None:
            headers["Cache-Control"] = cache_control
        if content_disposition is not None:
            headers["Content-Disposition"] = content_disposition
        if expires is not None:
            headers["Expires"] = expires
        if forbid_overwrite:
            headers["x-oss-forbid-overwrite"] = "true"
        return self._reply(self.bucket(bucket).put_object(key, data, headers=headers))

    def get_object(self, bucket, key, *, range=None, range_behavior=None, if_match=None, if_none_match=None,
                   response_content_type=None):
        params = {}
        if response_content_type is not None:
            params["response-content-type"] = response_content_type
        headers = {}
        if range is not None:
            headers["Range"] = range
        if range_behavior is not None:
            headers["x-oss-range-behavior"] = range_behavior
        if if_match is not None:
            headers["If-Match"] = if_match
        if if_none_match is not None:
            headers["If-None-Match"] = if_none_match
        result = self.bucket(bucket).get_object(key, headers=headers, params=params)
        body = result.read()
        if result.server_crc is not None and not result.content_range:
            # what oss2's get_object_to_file does after a full download
            oss2.utils.check_crc("get", result.client_crc, result.server_crc, result.request_id)
        return self._reply(result, body)

    def head_object(self, bucket, key):
        return self._reply(self.bucket(bucket).head_object(key))

    def object_meta(self, bucket, key):
        """GetObjectMeta: HEAD ?objectMeta."""
        return self._reply(self.bucket(bucket).get_object_meta(key))

    def exists(self, bucket, key):
        return self.bucket(bucket).object_exists(key)

    def delete_object(self, bucket, key):
        return self._reply(self.bucket(bucket).delete_object(key))

    def copy_object(self, bucket, key, src_bucket, src_key, *, directive=None, content_type=None, metadata=None,
                    headers=None):
        headers = dict(headers or {})
        if directive is not None:
            headers["x-oss-metadata-directive"] = directive
        if content_type is not None:
            headers["Content-Type"] = content_type
        for k, v in (metadata or {}).items():
            headers["x-oss-meta-" + k] = v
        return self._reply(self.bucket(bucket).copy_object(src_bucket, src_key, key, headers=headers))

    def append_object(self, bucket, key, position, data, init_crc=None, headers=None):
        result = self.bucket(bucket).append_object(key, position, data, headers=headers, init_crc=init_crc)
        reply = self._reply(result)
        reply.next_position = result.next_position
        return reply

    def delete_objects(self, bucket, keys, quiet=False):
        if quiet:
            raise NotImplementedError("oss2 batch_delete_objects has no quiet mode")
        return list(self.bucket(bucket).batch_delete_objects(keys).deleted_keys)

    def put_object_acl(self, bucket, key, acl):
        return self._reply(self.bucket(bucket).put_object_acl(key, acl))

    def get_object_acl(self, bucket, key):
        return self.bucket(bucket).get_object_acl(key).acl

    # -- listing --------------------------------------------------------------------------------
    @staticmethod
    def _entries(object_list):
        return [
            {"key": o.key, "size": o.size, "etag": o.etag, "type": o.type, "storage_class": o.storage_class}
            for o in object_list
        ]

    def list_v1(self, bucket, prefix="", delimiter="", marker="", max_keys=100):
        r = self.bucket(bucket).list_objects(prefix=prefix, delimiter=delimiter, marker=marker, max_keys=max_keys)
        return Page([o.key for o in r.object_list], list(r.prefix_list), r.is_truncated, r.next_marker,
                    None, self._entries(r.object_list))

    def list_v2(self, bucket, prefix="", delimiter="", token="", max_keys=100, start_after=""):
        r = self.bucket(bucket).list_objects_v2(prefix=prefix, delimiter=delimiter, continuation_token=token,
                                                start_after=start_after, max_keys=max_keys)
        return Page([o.key for o in r.object_list], list(r.prefix_list), r.is_truncated,
                    r.next_continuation_token, None, self._entries(r.object_list))  # oss2 ignores KeyCount

    def iterate_v1(self, bucket, prefix="", delimiter="", page_size=100):
        """All (keys, prefixes) through oss2.ObjectIterator, in the order it yields them."""
        keys, prefixes = [], []
        for info in oss2.ObjectIterator(self.bucket(bucket), prefix=prefix, delimiter=delimiter, max_keys=page_size):
            (prefixes if info.is_prefix() else keys).append(info.key)
        return keys, prefixes

    def iterate_v2(self, bucket, prefix="", delimiter="", page_size=100):
        keys, prefixes = [], []
        for info in oss2.ObjectIteratorV2(self.bucket(bucket), prefix=prefix, delimiter=delimiter, max_keys=page_size):
            (prefixes if info.is_prefix() else keys).append(info.key)
        return keys, prefixes

    # -- multipart ------------------------------------------------------------------------------
    def init_multipart(self, bucket, key, *, content_type=None, metadata=None):
        return self.initiate_multipart(bucket, key, content_type=content_type, metadata=metadata).upload_id

    def initiate_multipart(self, bucket, key, *, content_type=None, metadata=None, headers=None):
        """InitiateMultipartUpload as a Reply (with `.upload_id`)."""
        headers = {**(headers or {}), **{"x-oss-meta-" + k: v for k, v in (metadata or {}).items()}}
        if content_type is not None:
            headers["Content-Type"] = content_type
        result = self.bucket(bucket).init_multipart_upload(key, headers=headers)
        reply = self._reply(result)
        reply.upload_id = result.upload_id
        return reply

    def upload_part(self, bucket, key, upload_id, part_number, data, headers=None):
        return self._reply(self.bucket(bucket).upload_part(key, upload_id, part_number, data, headers=headers))

    def list_parts(self, bucket, key, upload_id):
        r = self.bucket(bucket).list_parts(key, upload_id)
        return [(p.part_number, '"' + p.etag + '"', p.size) for p in r.parts]

    def complete_multipart(self, bucket, key, upload_id, parts, headers=None):
        infos = [oss2.models.PartInfo(n, etag.strip('"')) for n, etag in parts]
        return self._reply(self.bucket(bucket).complete_multipart_upload(key, upload_id, infos, headers=headers))

    def abort_multipart(self, bucket, key, upload_id):
        return self._reply(self.bucket(bucket).abort_multipart_upload(key, upload_id))

    def list_uploads(self, bucket, prefix=""):
        r = self.bucket(bucket).list_multipart_uploads(prefix=prefix)
        return [(u.key, u.upload_id) for u in r.upload_list]

    def iterate_parts(self, bucket, key, upload_id, page_size):
        it = oss2.PartIterator(self.bucket(bucket), key, upload_id, max_parts=page_size)
        return [(p.part_number, '"' + p.etag + '"', p.size) for p in it]

    def iterate_uploads(self, bucket, prefix, page_size):
        it = oss2.MultipartUploadIterator(self.bucket(bucket), prefix=prefix, max_uploads=page_size)
        return [(u.key, u.upload_id) for u in it]

    # -- presigning -----------------------------------------------------------------------------
    def presign(self, method, bucket, key, expires_s=300, headers=None, response_disposition=None):
        """(url, headers the caller must send)."""
        params = {"response-content-disposition": response_disposition} if response_disposition else None
        url = self.bucket(bucket).sign_url(method, key, expires_s, headers=headers, params=params)
        return url, dict(headers or {})


class V2Client:
    sdk = "v2"

    def __init__(self, endpoint: str, ak: str, sk: str, version: str, region: str = "cn-hangzhou"):
        self.name = f"v2-{version}"
        self.endpoint = endpoint
        self.version = version
        cfg = oss.config.load_default()
        cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(ak, sk)
        cfg.region = region
        cfg.endpoint = endpoint
        if version == "v1":
            cfg.signature_version = "v1"
        self.client = oss.Client(cfg)

    @staticmethod
    def _reply(result, body=None) -> Reply:
        return Reply(result.status_code, _lower(result.headers), result, body)

    # -- service and buckets --------------------------------------------------------------------
    def create_bucket(self, bucket, acl=None):
        return self._reply(self.client.put_bucket(oss.PutBucketRequest(bucket=bucket, acl=acl)))

    def delete_bucket(self, bucket):
        return self._reply(self.client.delete_bucket(oss.DeleteBucketRequest(bucket=bucket)))

    def list_buckets(self, prefix="", page_size=None):
        out = []
        pages = self.client.list_buckets_paginator(limit=page_size).iter_page(oss.ListBucketsRequest(prefix=prefix))
        for page in pages:
            if page_size is not None:
                assert len(page.buckets or []) <= page_size
            for b in page.buckets or []:
                out.append(
                    {
                        "name": b.name,
                        "location": b.location,
                        "creation_date": b.creation_date.timestamp() if b.creation_date else None,
                        "storage_class": b.storage_class,
                        "extranet_endpoint": b.extranet_endpoint,
                        "intranet_endpoint": b.intranet_endpoint,
                        "region": b.region,
                    }
                )
        return out

    def bucket_info(self, bucket):
        info = self.client.get_bucket_info(oss.GetBucketInfoRequest(bucket=bucket)).bucket_info
        return {
            "name": info.name,
            "location": info.location,
            "storage_class": info.storage_class,
            "acl": info.acl,
            "creation_date": info.creation_date,  # datetime
            "extranet_endpoint": info.extranet_endpoint,
            "owner_id": info.owner.id if info.owner else None,
            "sse_algorithm": info.sse_rule.sse_algorithm if info.sse_rule else None,
            "kms_data_encryption": info.sse_rule.kms_data_encryption if info.sse_rule else None,
        }

    def bucket_location(self, bucket):
        return self.client.get_bucket_location(oss.GetBucketLocationRequest(bucket=bucket)).location

    def put_bucket_acl(self, bucket, acl):
        return self._reply(self.client.put_bucket_acl(oss.PutBucketAclRequest(bucket=bucket, acl=acl)))

    def get_bucket_acl(self, bucket):
        return self.client.get_bucket_acl(oss.GetBucketAclRequest(bucket=bucket)).acl

    def put_bucket_policy(self, bucket, policy):
        return self._reply(self.client.put_bucket_policy(oss.PutBucketPolicyRequest(bucket=bucket, body=policy)))

    def get_bucket_policy(self, bucket):
        return self.client.get_bucket_policy(oss.GetBucketPolicyRequest(bucket=bucket)).body

    def delete_bucket_policy(self, bucket):
        return self._reply(self.client.delete_bucket_policy(oss.DeleteBucketPolicyRequest(bucket=bucket)))

    def put_bucket_encryption(self, bucket, algorithm, kms_key_id=None, kms_data_encryption=None):
        rule = oss.ServerSideEncryptionRule(apply_server_side_encryption_by_default=oss.ApplyServerSideEncryptionByDefault(
            sse_algorithm=algorithm, kms_master_key_id=kms_key_id, kms_data_encryption=kms_data_encryption))
        return self._reply(self.client.put_bucket_encryption(oss.PutBucketEncryptionRequest(
            bucket=bucket, server_side_encryption_rule=rule)))

    def get_bucket_encryption(self, bucket):
        r = self.client.get_bucket_encryption(oss.GetBucketEncryptionRequest(bucket=bucket))
        d = r.server_side_encryption_rule.apply_server_side_encryption_by_default
        return {"sse_algorithm": d.sse_algorithm, "kms_master_key_id": d.kms_master_key_id,
                "kms_data_encryption": d.kms_data_encryption}

    def delete_bucket_encryption(self, bucket):
        return self._reply(self.client.delete_bucket_encryption(oss.DeleteBucketEncryptionRequest(bucket=bucket)))

    # -- objects --------------------------------------------------------------------------------
    def put_object(self, bucket, key, data, *, content_type=None, metadata=None, cache_control=None,
                   content_disposition=None, expires=None, forbid_overwrite=False, content_md5=None, headers=None):
        req = oss.PutObjectRequest(
            bucket=bucket, key=key, body=data, content_type=content_type, metadata=metadata, content_md5=content_md5,
            cache_control=cache_control, content_disposition=content_disposition, expires=expires,
            forbid_overwrite=True if forbid_overwrite else None, headers=dict(headers or {}),
        )
        return self._reply(self.client.put_object(req))

    def get_object(self, bucket, key, *, range=None, range_behavior=None, if_match=None, if_none_match=None,
                   response_content_type=None):
        req = oss.GetObjectRequest(bucket=bucket, key=key, range_header=range, range_behavior=range_behavior,
                                   if_match=if_match, if_none_match=if_none_match,
                                   response_content_type=response_content_type)
        result = self.client.get_object(req)
        body = result.body.read()
        return self._reply(result, body)

    def head_object(self, bucket, key):
        return self._reply(self.client.head_object(oss.HeadObjectRequest(bucket=bucket, key=key)))

    def object_meta(self, bucket, key):
        """GetObjectMeta: HEAD ?objectMeta."""
        return self._reply(self.client.get_object_meta(oss.GetObjectMetaRequest(bucket=bucket, key=key)))

    def exists(self, bucket, key):
        return self.client.is_object_exist(bucket, key)

    def delete_object(self, bucket, key):
        return self._reply(self.client.delete_object(oss.DeleteObjectRequest(bucket=bucket, key=key)))

    def copy_object(self, bucket, key, src_bucket, src_key, *, directive=None, content_type=None, metadata=None,
                    headers=None):
        req = oss.CopyObjectRequest(bucket=bucket, key=key, source_bucket=src_bucket, source_key=src_key,
                                    metadata_directive=directive, content_type=content_type, metadata=metadata,
                                    headers=dict(headers or {}))
        return self._reply(self.client.copy_object(req))

    def append_object(self, bucket, key, position, data, init_crc=None, headers=None):
        req = oss.AppendObjectRequest(bucket=bucket, key=key, position=position, body=data,
                                      headers=dict(headers or {}))
        result = self.client.append_object(req)
        reply = self._reply(result)
        reply.next_position = result.next_position
        return reply

    def delete_objects(self, bucket, keys, quiet=False):
        req = oss.DeleteMultipleObjectsRequest(
            bucket=bucket,
            delete=oss.Delete(objects=[oss.ObjectIdentifier(key=k) for k in keys], quiet=quiet),
        )
        result = self.client.delete_multiple_objects(req)
        return [d.key for d in (result.deleted_objects or [])]

    def put_object_acl(self, bucket, key, acl):
        return self._reply(self.client.put_object_acl(oss.PutObjectAclRequest(bucket=bucket, key=key, acl=acl)))

    def get_object_acl(self, bucket, key):
        return self.client.get_object_acl(oss.GetObjectAclRequest(bucket=bucket, key=key)).acl

    # -- listing --------------------------------------------------------------------------------
    @staticmethod
    def _entries(contents):
        return [
            {"key": o.key, "size": o.size, "etag": o.etag.strip('"') if o.etag else o.etag, "type": o.object_type,
             "storage_class": o.storage_class}
            for o in contents or []
        ]

    def list_v1(self, bucket, prefix="", delimiter="", marker="", max_keys=100):
        r = self.client.list_objects(oss.ListObjectsRequest(bucket=bucket, prefix=prefix or None,
                                                            delimiter=delimiter or None, marker=marker or None,
                                                            max_keys=max_keys))
        return Page([o.key for o in r.contents or []], [p.prefix for p in r.common_prefixes or []],
                    bool(r.is_truncated), r.next_marker, None, self._entries(r.contents))

    def list_v2(self, bucket, prefix="", delimiter="", token="", max_keys=100, start_after=""):
        r = self.client.list_objects_v2(oss.ListObjectsV2Request(
            bucket=bucket, prefix=prefix or None, delimiter=delimiter or None, continuation_token=token or None,
            start_after=start_after or None, max_keys=max_keys))
        return Page([o.key for o in r.contents or []], [p.prefix for p in r.common_prefixes or []],
                    bool(r.is_truncated), r.next_continuation_token, r.key_count, self._entries(r.contents))

    def iterate_v1(self, bucket, prefix="", delimiter="", page_size=100):
        """All (keys, prefixes) through the SDK's ListObjects paginator."""
        keys, prefixes = [], []
        req = oss.ListObjectsRequest(bucket=bucket, prefix=prefix or None, delimiter=delimiter or None)
        for page in self.client.list_objects_paginator(limit=page_size).iter_page(req):
            assert len(page.contents or []) + len(page.common_prefixes or []) <= page_size
            keys += [o.key for o in page.contents or []]
            prefixes += [p.prefix for p in page.common_prefixes or []]
        return keys, prefixes

    def iterate_v2(self, bucket, prefix="", delimiter="", page_size=100):
        keys, prefixes = [], []
        req = oss.ListObjectsV2Request(bucket=bucket, prefix=prefix or None, delimiter=delimiter or None)
        for page in self.client.list_objects_v2_paginator(limit=page_size).iter_page(req):
            assert len(page.contents or []) + len(page.common_prefixes or []) <= page_size
            keys += [o.key for o in page.contents or []]
            prefixes += [p.prefix for p in page.common_prefixes or []]
        return keys, prefixes

    # -- multipart ------------------------------------------------------------------------------
    def init_multipart(self, bucket, key, *, content_type=None, metadata=None):
        return self.initiate_multipart(bucket, key, content_type=content_type, metadata=metadata).upload_id

    def initiate_multipart(self, bucket, key, *, content_type=None, metadata=None, headers=None):
        """InitiateMultipartUpload as a Reply (with `.upload_id`)."""
        r = self.client.initiate_multipart_upload(oss.InitiateMultipartUploadRequest(
            bucket=bucket, key=key, content_type=content_type, metadata=metadata, headers=dict(headers or {})))
        reply = self._reply(r)
        reply.upload_id = r.upload_id
        return reply

    def upload_part(self, bucket, key, upload_id, part_number, data, headers=None):
        return self._reply(self.client.upload_part(oss.UploadPartRequest(
            bucket=bucket, key=key, upload_id=upload_id, part_number=part_number, body=data,
            headers=dict(headers or {}))))

    def list_parts(self, bucket, key, upload_id):
        r = self.client.list_parts(oss.ListPartsRequest(bucket=bucket, key=key, upload_id=upload_id))
        return [(p.part_number, p.etag, p.size) for p in r.parts or []]

    def complete_multipart(self, bucket, key, upload_id, parts, headers=None):
        body = oss.CompleteMultipartUpload(parts=[oss.UploadPart(part_number=n, etag=e) for n, e in parts])
        return self._reply(self.client.complete_multipart_upload(oss.CompleteMultipartUploadRequest(
            bucket=bucket, key=key, upload_id=upload_id, complete_multipart_upload=body,
            headers=dict(headers or {}))))

    def abort_multipart(self, bucket, key, upload_id):
        return self._reply(self.client.abort_multipart_upload(oss.AbortMultipartUploadRequest(
            bucket=bucket, key=key, upload_id=upload_id)))

    def list_uploads(self, bucket, prefix=""):
        r = self.client.list_multipart_uploads(oss.ListMultipartUploadsRequest(bucket=bucket, prefix=prefix or None))
        return [(u.key, u.upload_id) for u in r.uploads or []]

    def iterate_parts(self, bucket, key, upload_id, page_size):
        out = []
        req = oss.ListPartsRequest(bucket=bucket, key=key, upload_id=upload_id)
        for page in self.client.list_parts_paginator(limit=page_size).iter_page(req):
            assert len(page.parts or []) <= page_size
            out += [(p.part_number, p.etag, p.size) for p in page.parts or []]
        return out

    def iterate_uploads(self, bucket, prefix, page_size):
        out = []
        req = oss.ListMultipartUploadsRequest(bucket=bucket, prefix=prefix or None)
        for page in self.client.list_multipart_uploads_paginator(limit=page_size).iter_page(req):
            assert len(page.uploads or []) <= page_size
            out += [(u.key, u.upload_id) for u in page.uploads or []]
        return out

    # -- presigning -----------------------------------------------------------------------------
    def presign(self, method, bucket, key, expires_s=300, headers=None, response_disposition=None):
        headers = dict(headers or {})
        if method == "GET":
            req = oss.GetObjectRequest(bucket=bucket, key=key, response_content_disposition=response_disposition)
        elif method == "PUT":
            req = oss.PutObjectRequest(bucket=bucket, key=key, content_type=headers.get("Content-Type"))
        else:
            raise ValueError(method)
        r = self.client.presign(req, expires=datetime.timedelta(seconds=expires_s))
        assert r.method == method
        return r.url, dict(r.signed_headers or {})


_translate_all(Oss2Client, _translate_oss2)
_translate_all(V2Client, _translate_v2)

FLAVOURS = ("oss2-v1", "oss2-v4", "v2-v4", "v2-v1")


def make_client(flavour: str, endpoint: str, ak: str, sk: str):
    sdk, version = flavour.split("-")
    return (Oss2Client if sdk == "oss2" else V2Client)(endpoint, ak, sk, version)

