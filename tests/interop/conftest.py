"""Fixtures for the SDK interop suite: one real `ossvault serve` per session, four SDK flavours."""

from __future__ import annotations

import sys
from pathlib import Path

import oss2
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: ossvault_harness

from ossvault_harness import ACCESS_KEY_ID, ACCESS_KEY_SECRET, ServerProcess  # noqa: E402
from oss_rules import unique_bucket  # noqa: E402
from sdk_clients import FLAVOURS, make_client  # noqa: E402

_server_logs: list[Path] = []


def pytest_terminal_summary(terminalreporter):
    if terminalreporter.stats.get("failed") or terminalreporter.stats.get("error"):
        for log in _server_logs:
            terminalreporter.write_line(f"ossvault server log: {log}")


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("ossvault-interop")
    proc = ServerProcess(root / "data", root / "server.log", https=True)
    _server_logs.append(proc.log_path)
    proc.start()
    yield proc
    assert proc.alive(), f"server died during the session; log tail:\n{proc.log_tail()}"
    code = proc.stop()
    assert code == 0, f"ossvault serve exited with {code} after SIGTERM; log tail:\n{proc.log_tail()}"


@pytest.fixture(scope="session")
def endpoint(server) -> str:
    return server.endpoint


@pytest.fixture(params=FLAVOURS)
def client(request, endpoint):
    """The SDK under test, once per flavour (oss2 V1/V4, alibabacloud-oss-v2 V4/V1)."""
    return make_client(request.param, endpoint, ACCESS_KEY_ID, ACCESS_KEY_SECRET)


@pytest.fixture(params=["oss2-v1", "oss2-v4"])
def oss2_client(request, endpoint):
    return make_client(request.param, endpoint, ACCESS_KEY_ID, ACCESS_KEY_SECRET)


@pytest.fixture(params=["v2-v4", "v2-v1"])
def v2_client(request, endpoint):
    return make_client(request.param, endpoint, ACCESS_KEY_ID, ACCESS_KEY_SECRET)


@pytest.fixture
def admin(endpoint):
    """An oss2 V1 client used for setup and cleanup only (never the thing under test)."""
    return make_client("oss2-v1", endpoint, ACCESS_KEY_ID, ACCESS_KEY_SECRET)


def _empty_and_delete(admin, bucket):
    b = admin.bucket(bucket)
    for upload in oss2.MultipartUploadIterator(b):
        b.abort_multipart_upload(upload.key, upload.upload_id)
    # Every version and delete marker (a bucket never versioned lists its objects as null
    # versions), so that versioned buckets are emptied too.
    while True:
        page = b.list_object_versions(max_keys=1000)
        found = [(v.key, v.versionid) for v in page.versions] + [(m.key, m.versionid) for m in page.delete_marker]
        if not found:
            break
        batch = oss2.models.BatchDeleteObjectVersionList()
        for key, version in found:
            batch.append(oss2.models.BatchDeleteObjectVersion(key, version))
        b.delete_object_versions(batch)
    b.delete_bucket()


def _bucket_for(creator, admin, tag):
    name = unique_bucket(tag)
    creator.create_bucket(name)
    yield name
    try:
        _empty_and_delete(admin, name)
    except Exception as e:  # cleanup must not hide the test's own verdict
        print(f"cleanup of bucket {name} failed: {e}", file=sys.stderr)


@pytest.fixture
def bucket(client, admin):
    """A fresh bucket created by the flavour under test, emptied and deleted afterwards."""
    yield from _bucket_for(client, admin, client.name.replace("-", ""))


@pytest.fixture
def admin_bucket(admin):
    yield from _bucket_for(admin, admin, "admin")


@pytest.fixture
def oss2_bucket(oss2_client, admin):
    yield from _bucket_for(oss2_client, admin, oss2_client.name.replace("-", ""))


@pytest.fixture
def v2_bucket(v2_client, admin):
    yield from _bucket_for(v2_client, admin, v2_client.name.replace("-", ""))

