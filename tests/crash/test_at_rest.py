"""SSE at rest (SSE-OSS with AES256 or SM4, SSE-KMS with SM4 data encryption), checked from
outside the server: what is in the data directory, and what a
GET does when the stored ciphertext was changed behind the server's back.

* Plaintext never reaches the disk: objects written under SSE (simple, bucket default,
  multipart, a multipart upload still in progress, appended, copied, part-copied) all carry a
  known marker; no file anywhere under the data directory (blobs, tmp, the redb file) contains
  it. A control object written without SSE must be found by the same scan, so the scan is known
  to see plaintext when it is there.
* The root secret stays out of the data directory: its file lives beside it, and neither its
  hex text nor its raw bytes appear in any file inside (nor in the server log).
* Tampering: one byte flipped in a chunk, a GCM tag flipped, the last chunk truncated or
  dropped, two whole sealed chunks (64 KiB + 16 bytes) swapped. A GET then fails (an error
  status, or a body cut short that makes the SDK raise) and never yields bytes that differ from
  the original; a ranged GET of an untouched chunk may still be served, and then with exactly
  the original bytes (a ranged GET starting in a broken chunk is an error status). The object is
  then quarantined: HEAD answers 500 too.

The data keys themselves cannot be seen from here; crates/server/tests/sse.rs unwraps them in
process and scans the data directory for them.
"""

from __future__ import annotations

import random
import secrets
import stat
import string
from pathlib import Path

import alibabacloud_oss_v2 as oss
import oss2
import pytest

from ossvault_harness import ACCESS_KEY_ID, ACCESS_KEY_SECRET, REGION, ServerProcess

CHUNK = 64 * 1024  # plaintext bytes per sealed chunk (crates/server/src/sse/seal.rs)
TAG = 16  # GCM tag after each chunk
SEALED = CHUNK + TAG
SSE = "x-oss-server-side-encryption"
DATA_ENC = "x-oss-server-side-data-encryption"
AES256 = {SSE: "AES256"}
# name: (object headers, bucket default rule, the response's x-oss-server-side-encryption)
KINDS = {
    "AES256": (AES256, {"sse_algorithm": "AES256"}, "AES256"),
    "SM4": ({SSE: "SM4"}, {"sse_algorithm": "SM4"}, "SM4"),
    "KMS+SM4": ({SSE: "KMS", DATA_ENC: "SM4"}, {"sse_algorithm": "KMS", "kms_data_encryption": "SM4"}, "KMS"),
}


def _marker() -> bytes:
    """16 random printable bytes: they cannot turn up in ciphertext or metadata by chance."""
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(16)).encode()


def _content(marker: bytes, size: int, salt: int) -> bytes:
    """`size` bytes made of the marker repeated, with a little noise between copies so that the
    content is not one period (every copy of the marker is still whole)."""
    rng = random.Random(salt)
    out = bytearray()
    while len(out) < size:
        out += marker + bytes([rng.randrange(256)])
    return bytes(out[:size])


def _bucket(endpoint: str, name: str) -> oss2.Bucket:
    return oss2.Bucket(oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET), endpoint, name)


def _files(data_dir: Path) -> list[Path]:
    return sorted(p for p in data_dir.rglob("*") if p.is_file())


def _blob_files(data_dir: Path) -> set[Path]:
    blobs = data_dir / "blobs"
    return {p for p in blobs.rglob("*") if p.is_file()} if blobs.exists() else set()


@pytest.fixture
def server(tmp_path):
    proc = ServerProcess(tmp_path / "data", tmp_path / "server.log", env={"RUST_LOG": "info"})
    proc.start()
    yield proc
    if proc.alive():
        code = proc.stop()
        assert code == 0, f"exit status {code} after SIGTERM; log tail:\n{proc.log_tail()}"


@pytest.mark.parametrize("kind", list(KINDS))
def test_plaintext_and_root_secret_never_reach_the_data_dir(server, kind):
    sse_headers, rule, algorithm = KINDS[kind]
    marker, control = _marker(), _marker()
    ep = server.endpoint
    enc = _bucket(ep, "at-rest-enc")
    enc.create_bucket()
    dflt = _bucket(ep, "at-rest-default")
    dflt.create_bucket()
    dflt.put_bucket_encryption(oss2.models.ServerSideEncryptionRule(**rule))

    expected: dict[tuple[str, str], bytes] = {}

    def put(bucket, key, data, headers=None):
        r = bucket.put_object(key, data, headers=headers)
        assert r.headers.get(SSE) == algorithm, f"{key} was not encrypted"
        if kind == "KMS+SM4":
            assert r.headers.get(DATA_ENC) == "SM4", f"{key} was not encrypted with SM4"
        expected[(bucket.bucket_name, key)] = data

    # Simple objects: tiny, around the chunk size, several chunks.
    put(enc, "simple/tiny", _content(marker, 40, 1), sse_headers)
    put(enc, "simple/one-chunk", _content(marker, CHUNK, 2), sse_headers)
    put(enc, "simple/many", _content(marker, 5 * CHUNK + 123, 3), sse_headers)
    # Under the bucket default, without a header.
    put(dflt, "default/obj", _content(marker, 3 * CHUNK - 7, 4))

    # Multipart, completed.
    parts = [_content(marker, 100 * 1024 + 11, 5), _content(marker, 30 * 1024, 6)]
    uid = enc.init_multipart_upload("mp/done", headers=sse_headers).upload_id
    infos = [oss2.models.PartInfo(n, enc.upload_part("mp/done", uid, n, p).etag) for n, p in enumerate(parts, 1)]
    done = enc.complete_multipart_upload("mp/done", uid, infos)
    assert done.headers.get(SSE) == algorithm
    expected[("at-rest-enc", "mp/done")] = b"".join(parts)
    # Multipart, still in progress: its parts are on disk too.
    pending = enc.init_multipart_upload("mp/pending", headers=sse_headers).upload_id
    enc.upload_part("mp/pending", pending, 1, _content(marker, 2 * CHUNK + 5, 7))
    # A part copied from an encrypted object into the pending upload.
    enc.upload_part_copy("at-rest-enc", "simple/many", (10, CHUNK * 2), "mp/pending", pending, 2)

    # Appended: the first append decides, the others continue under the object's key.
    appended, pos = b"", 0
    for i, size in enumerate([100, CHUNK + 1, 3000]):
        piece = _content(marker, size, 10 + i)
        r = enc.append_object("appended", pos, piece, headers=sse_headers if i == 0 else None)
        assert r.headers.get(SSE) == algorithm
        appended += piece
        pos = r.next_position
    expected[("at-rest-enc", "appended")] = appended

    # Copied, encrypted -> encrypted (same bucket with the header; other bucket by its default).
    r = enc.copy_object("at-rest-enc", "simple/many", "copied/with-header", headers=sse_headers)
    assert r.headers.get(SSE) == algorithm
    expected[("at-rest-enc", "copied/with-header")] = expected[("at-rest-enc", "simple/many")]
    r = dflt.copy_object("at-rest-enc", "mp/done", "copied/by-default")
    assert r.headers.get(SSE) == algorithm
    expected[("at-rest-default", "copied/by-default")] = expected[("at-rest-enc", "mp/done")]

    # The control: written without SSE, so its marker is on disk in the clear.
    plain = _bucket(ep, "at-rest-plain")
    plain.create_bucket()
    plain.put_object("control", _content(control, 50_000, 99))

    for (b, k), data in expected.items():
        got = _bucket(ep, b).get_object(k).read()
        assert got == data, f"{b}/{k} does not read back"

    # Stop the server so that everything it holds is on disk, then scan every file.
    assert server.stop() == 0
    data_dir = server.data_dir
    root_file = data_dir.parent / (data_dir.name + ".root-key")
    assert root_file.is_file(), f"the root secret file {root_file} was not made beside the data directory"
    assert data_dir.resolve() not in root_file.resolve().parents, "the root secret file is inside the data dir"
    assert stat.S_IMODE(root_file.stat().st_mode) == 0o600, "the root secret file is not mode 0600"
    root_hex = root_file.read_text().strip()
    root_raw = bytes.fromhex(root_hex)
    assert len(root_raw) == 32
    secrets_forms = {
        "root secret (hex)": root_hex.lower().encode(),
        "root secret (HEX)": root_hex.upper().encode(),
        "root secret (raw)": root_raw,
    }

    files = _files(data_dir)
    names = {p.relative_to(data_dir).parts[0] for p in files}
    assert "blobs" in names and any(p.suffix == ".redb" for p in files), f"unexpected layout: {names}"
    leaks, control_seen = [], False
    for path in files:
        content = path.read_bytes()
        if marker in content:
            leaks.append(f"{path.relative_to(data_dir)} ({len(content)} bytes) holds SSE plaintext")
        for what, needle in secrets_forms.items():
            if needle in content:
                leaks.append(f"{path.relative_to(data_dir)} holds the {what}")
        control_seen |= control in content
    assert not leaks, "\n".join(leaks)
    assert control_seen, "the scan did not find the unencrypted control object: it cannot see plaintext"
    log = server.log_path.read_bytes()
    assert root_hex.lower().encode() not in log and root_hex.upper().encode() not in log, "root secret in the log"

    # And it all still reads back after the restart.
    server.start()
    for (b, k), data in expected.items():
        assert _bucket(server.endpoint, b).get_object(k).read() == data, f"{b}/{k} after restart"


# -- tampering ------------------------------------------------------------------------------------

SIZE = 3 * CHUNK + 5000  # chunks 0-2 full, chunk 3 short
STORED = 3 * SEALED + 5000 + TAG


def _flip(at: int):
    def mutate(b: bytearray) -> bytearray:
        b[at] ^= 0x01
        return b

    return mutate


def _swap(i: int, j: int):
    def mutate(b: bytearray) -> bytearray:
        ci, cj = bytes(b[i * SEALED : (i + 1) * SEALED]), bytes(b[j * SEALED : (j + 1) * SEALED])
        b[i * SEALED : (i + 1) * SEALED], b[j * SEALED : (j + 1) * SEALED] = cj, ci
        return b

    return mutate


# name: (mutation of the stored bytes, chunks it breaks)
TAMPERING = {
    "flip-a-byte-mid-object": (_flip(SEALED + SEALED // 2), {1}),
    "flip-a-byte-of-chunk-0": (_flip(1234), {0}),
    "flip-a-byte-of-the-last-tag": (_flip(STORED - 1), {3}),
    "truncate-the-last-chunk": (lambda b: b[: STORED - 7], {3}),
    "drop-the-last-chunk": (lambda b: b[: 3 * SEALED], {3}),
    "swap-chunks-1-and-2": (_swap(1, 2), {1, 2}),
}


def _v2_client(endpoint: str) -> oss.Client:
    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(ACCESS_KEY_ID, ACCESS_KEY_SECRET)
    cfg.region = REGION
    cfg.endpoint = endpoint
    return oss.Client(cfg)


def _read_pieces(bucket: oss2.Bucket, key: str, headers=None):
    """GETs through oss2, reading the body piece by piece: (bytes received, exception or None)."""
    got = bytearray()
    try:
        result = bucket.get_object(key, headers=headers)
        while True:
            piece = result.read(8192)
            if not piece:
                break
            got += piece
        if result.server_crc is not None and not result.content_range:
            oss2.utils.check_crc("get", result.client_crc, result.server_crc, result.request_id)
        return bytes(got), None
    except Exception as e:  # noqa: BLE001 - any failure is a failure to read; the test judges it
        return bytes(got), e


@pytest.mark.parametrize("case", list(TAMPERING))
@pytest.mark.parametrize("kind", ["AES256", "SM4"])
def test_tampered_ciphertext_is_never_served(server, case, kind):
    mutate, broken = TAMPERING[case]
    bucket = _bucket(server.endpoint, "tamper")
    bucket.create_bucket()
    original = random.Random(case).randbytes(SIZE)
    before = _blob_files(server.data_dir)
    assert bucket.put_object("victim", original, headers=KINDS[kind][0]).headers.get(SSE) == kind
    new = _blob_files(server.data_dir) - before
    assert len(new) == 1, f"expected one new content file under blobs/ for the PUT, found {sorted(new)}"
    blob = new.pop()
    stored = bytearray(blob.read_bytes())
    assert len(stored) == STORED, (
        f"{blob.name} is {len(stored)} bytes, not the {STORED} of 4 sealed chunks (64 KiB + 16 each): "
        "the at-rest layout assumed here changed"
    )
    assert original[:4096] not in stored, "the content file holds plaintext"
    tampered = bytes(mutate(bytearray(stored)))
    assert tampered != bytes(stored)
    blob.write_bytes(tampered)

    # The whole object, through oss2 piece by piece: it must fail, and whatever arrived before
    # the failure must be the original's beginning.
    got, error = _read_pieces(bucket, "victim")
    assert error is not None, f"{case}: GET returned {len(got)} bytes without an error"
    assert got == original[: len(got)], f"{case}: GET yielded bytes that differ from the original"
    if 0 in broken:
        # The first chunk is authenticated before the answer starts: an error status.
        assert isinstance(error, oss2.exceptions.ServerError) and error.status == 500, repr(error)
    assert len(got) < SIZE

    # The same through alibabacloud-oss-v2.
    client = _v2_client(server.endpoint)
    with pytest.raises(Exception) as raised:
        result = client.get_object(oss.GetObjectRequest(bucket="tamper", key="victim"))
        body = result.body.read()
        assert body == original, "v2 read altered bytes"
        pytest.fail(f"{case}: v2 read the whole tampered object without an error")
    assert not isinstance(raised.value, AssertionError), str(raised.value)

    # Ranged reads: an untouched chunk, if served, reads back exactly; a broken one is an error status
    # (the range's first chunk is checked before the answer starts).
    served_untouched = 0
    for chunk in range(4):
        start, end = chunk * CHUNK + 3, min((chunk + 1) * CHUNK, SIZE) - 2  # inside the chunk
        headers = {"Range": f"bytes={start}-{end - 1}"}
        got, error = _read_pieces(bucket, "victim", headers)
        if chunk in broken:
            assert isinstance(error, oss2.exceptions.ServerError) and error.status == 500, (
                f"{case}: a ranged GET of broken chunk {chunk} gave {error!r} after {len(got)} bytes"
            )
            assert got == b""
        elif error is None:
            # Untouched: may be served (it is, today), and then exactly.
            assert got == original[start:end], f"{case}: chunk {chunk} does not read back exactly"
            served_untouched += 1
        else:
            assert got == original[start : start + len(got)], f"{case}: chunk {chunk} yielded altered bytes"
    print(f"{case}: {served_untouched} of {4 - len(broken)} untouched chunks served by ranged GETs")
    # The GETs found the damage and quarantined the object (issue 14): HEAD answers the same
    # error, naming the corruption, instead of describing an object that cannot be read.
    with pytest.raises(oss2.exceptions.ServerError) as head:
        bucket.head_object("victim")
    assert head.value.status == 500, repr(head.value)
