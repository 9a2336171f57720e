"""pytest plugin loaded into the official SDK's own test suite (`-p suite_plugin`).

It changes no test. It only:
- provides the two imports the suite's modules need at import time but that are neither oss2
  dependencies nor reachable offline: `mock` (the suite predates `unittest.mock` being enough;
  it is that module under its old name) and `aliyunsdksts` (Alibaba Cloud STS, a cloud-only
  service; the tests that call it are excluded, the stub only lets their modules import);
- points `kms_crypto_bucket` at the RSA one (see `[patches]` in the suite's TOML: the suite picks
  `random.choice([rsa_crypto_bucket, kms_crypto_bucket])` for client-side encryption, and the
  KMS one calls Alibaba Cloud KMS at kms.<region>.aliyuncs.com; the server sees the same
  requests either way, client-side encryption being the client's business);
- gives alibabacloud-oss-v2's suite plain HTTP (see `[patches]` in oss2v2.toml: its
  tests/integration/__init__.py takes the endpoint without a scheme, as the ExtranetEndpoint of
  the bucket listings is written, and the SDK puts https:// in front unless `disable_ssl`);
- deselects the excluded test ids (exact ids, or a directory / file / class prefix);
- writes every outcome to $OSSVAULT_SUITE_RESULTS (JSON) for the runner.
"""

from __future__ import annotations

import json
import os
import sys
import types
import unittest.mock

sys.modules.setdefault("mock", unittest.mock)
try:
    import aliyunsdksts  # noqa: F401
except ImportError:
    for _name in ("aliyunsdksts", "aliyunsdksts.request", "aliyunsdksts.request.v20150401"):
        sys.modules[_name] = types.ModuleType(_name)

    class _CloudOnly:
        def __init__(self, *args, **kwargs):
            raise RuntimeError("Alibaba Cloud STS is a cloud-only service")

    sys.modules["aliyunsdksts.request.v20150401"].AssumeRoleRequest = types.SimpleNamespace(
        AssumeRoleRequest=_CloudOnly
    )

_excluded: list[str] = json.loads(os.environ.get("OSSVAULT_SUITE_EXCLUDED", "[]"))
_results: dict[str, dict] = {}


def _is_excluded(nodeid: str) -> bool:
    return any(nodeid == e or nodeid.startswith((e + "::", e + "/")) for e in _excluded)


def pytest_configure(config):
    # The suite's `tests` package sits in the working directory.
    sys.path.insert(0, os.getcwd())
    if os.environ.get("OSSVAULT_SUITE_KMS_AS_RSA") == "1":
        from tests import common  # the suite's own helper module

        original = common.OssTestCase.setUp

        def set_up(self):
            original(self)
            self.kms_crypto_bucket = self.rsa_crypto_bucket

        common.OssTestCase.setUp = set_up
    if os.environ.get("OSSVAULT_SUITE_PLAIN_HTTP") == "1":
        import alibabacloud_oss_v2.config as v2_config

        load_default = v2_config.load_default

        def plain_http_default():
            config = load_default()
            config.disable_ssl = True
            return config

        v2_config.load_default = plain_http_default


def pytest_collection_modifyitems(config, items):
    kept, dropped = [], []
    for item in items:
        (dropped if _is_excluded(item.nodeid) else kept).append(item)
    for item in dropped:
        _results[item.nodeid] = {"outcome": "excluded"}
    items[:] = kept
    config.hook.pytest_deselected(items=dropped)


def pytest_runtest_logreport(report):
    entry = _results.setdefault(report.nodeid, {"outcome": "passed"})
    if report.failed:
        entry["outcome"] = "failed"
        text = str(report.longrepr.reprcrash.message) if hasattr(report.longrepr, "reprcrash") else str(report.longrepr)
        entry.setdefault("message", text.splitlines()[0][:300] if text else "")
        entry.setdefault("phase", report.when)  # setup, call or teardown (a class's cleanup)
    elif report.skipped and entry["outcome"] == "passed":
        entry["outcome"] = "skipped"


def pytest_sessionfinish(session):
    path = os.environ.get("OSSVAULT_SUITE_RESULTS")
    if path:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(_results, f, indent=1, ensure_ascii=False)
