"""What a correct OSS server must produce, computed independently of the server under test.

Reference: shared/reference/oss-api.md (§0 items 4-5, §3.1 listing semantics, §3.3 ETags).
"""

from __future__ import annotations

import hashlib
import random
import secrets

import crcmod

# CRC-64/XZ ("crc64ecma" in OSS): reflected 0x42F0E1EBA9EA3693, init = xorout = all ones.
# crcmod's `initCrc` is the value *after* the initial xor, hence 0 here, as oss2 does it.
_crc64 = crcmod.mkCrcFun(0x142F0E1EBA9EA3693, initCrc=0, xorOut=0xFFFFFFFFFFFFFFFF, rev=True)
assert _crc64(b"123456789") == 11051210869376104954  # the check value from the reference


def crc64(data: bytes) -> int:
    return _crc64(data)


def etag_of(data: bytes) -> str:
    """ETag header value of a simple object: quoted uppercase hex MD5."""
    return '"' + hashlib.md5(data).hexdigest().upper() + '"'


def multipart_etag(part_etags: list[str]) -> str:
    """ETag of a completed multipart upload (§3.3): MD5 over the concatenated uppercase part
    ETags (as ASCII hex, without quotes), then `-N`."""
    joined = "".join(e.strip('"').upper() for e in part_etags)
    return '"' + hashlib.md5(joined.encode("ascii")).hexdigest().upper() + f'-{len(part_etags)}"'


def unique_bucket(tag: str) -> str:
    """A fresh bucket name: 3-63 chars of [a-z0-9-]."""
    return f"ovt-{tag}-{secrets.token_hex(5)}"


def random_bytes(n: int, seed: int) -> bytes:
    """Deterministic pseudo-random content: a misplaced or repeated block never matches."""
    return random.Random(seed).randbytes(n)


def expected_listing(keys, prefix: str = "", delimiter: str = ""):
    """(contents, common_prefixes) of a full listing, in the order OSS returns them: ascending
    UTF-8 byte order; with a delimiter, keys with the delimiter after the prefix roll up."""
    contents, prefixes = [], set()
    for key in keys:
        if not key.startswith(prefix):
            continue
        rest = key[len(prefix) :]
        if delimiter and delimiter in rest:
            prefixes.add(prefix + rest[: rest.index(delimiter) + len(delimiter)])
        else:
            contents.append(key)
    by_bytes = lambda s: s.encode("utf-8")  # noqa: E731
    return sorted(contents, key=by_bytes), sorted(prefixes, key=by_bytes)
