"""Runs an official OSS SDK's own integration suite against a fresh `ossvault serve`.

    python tests/sdk_suites/run_suite.py [oss2|oss2v2] [--report FILE] [-- PYTEST-ARGS...]

What it does, for the suite described by tests/sdk_suites/<suite>.toml:
1. takes the pinned sdist from the cache ($OSSVAULT_SDK_CACHE, default /var/tmp/ossvault-sdk-suites),
   downloading it with pip from PyPI only when missing, and checks its SHA-256;
2. extracts its test directories into a fresh temporary directory; a suite whose TOML names
   `tests_dir_env` (its tests are not on PyPI) copies instead the `tests/` directory that
   environment variable points at, and stops with a message when it is not set;
3. starts `ossvault serve` ($OSSVAULT_BIN, else $CARGO_TARGET_DIR/debug/ossvault) on a free port
   with its own data directory, and points the suite at it through the suite's environment
   variables;
4. runs the suite with pytest (this interpreter: the venv with the SDK) and suite_plugin.py, which
   deselects the excluded cases and records every outcome;
5. prints the figures (total, excluded by reason, passed, failed by missing feature, failures
   not in the checked-in list, listed failures that now pass) and fails when the pass rate
   (passed / (passed + failed)) is below the checked-in `min_pass_rate`.

Run it with the venv's Python (scripts/setup-python.sh), as scripts/test.sh does.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests/: ossvault_harness
from ossvault_harness import ACCESS_KEY_ID, ACCESS_KEY_SECRET, REGION, ServerProcess  # noqa: E402


def cached_sdist(config: dict) -> Path:
    cache = Path(os.environ.get("OSSVAULT_SDK_CACHE", "/var/tmp/ossvault-sdk-suites"))
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / config["sdist"]
    if not path.is_file():
        print(f"run_suite: downloading {config['requirement']} (sdist) into {cache}", flush=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
             "--no-deps", "--no-binary", ":all:", "--dest", str(cache), config["requirement"]],
            check=True,
        )
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != config["sha256"]:
        path.unlink()
        raise SystemExit(f"run_suite: {path.name} has SHA-256 {digest}, expected {config['sha256']}")
    return path


def extract(sdist: Path, dirs: list[str], into: Path) -> None:
    with tarfile.open(sdist) as tar:
        top = tar.getnames()[0].split("/")[0]
        members = []
        for m in tar.getmembers():
            rel = m.name[len(top) + 1 :]
            if any(rel == d or rel.startswith(d + "/") for d in dirs) and (m.isfile() or m.isdir()):
                m.name = rel
                members.append(m)
        tar.extractall(into, members=members, filter="data")


def fetch_tests(config: dict, into: Path) -> None:
    """Puts the suite's test directories into `into`: from the local `tests/` directory named by
    $<tests_dir_env> when the TOML gives one, else from the pinned sdist."""
    variable = config.get("tests_dir_env")
    if variable is None:
        extract(cached_sdist(config), config["test_dirs"], into)
        return
    value = os.environ.get(variable)
    if not value or not Path(value).is_dir():
        raise SystemExit(f"run_suite: this suite's tests are not on PyPI: set {variable} to the tests/ "
                         f"directory of {config['tests_origin']}")
    source = Path(value)
    shutil.copytree(source, into / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    for d in config["test_dirs"]:
        if not (into / d).is_dir():
            raise SystemExit(f"run_suite: {source} has no {d.removeprefix('tests/')}/: is it a tests/ directory?")


def split_ids(table: dict) -> dict[str, str]:
    """`{reason: [ids]}` or `{id: reason}` tables, as `{id: reason}`."""
    out = {}
    for k, v in table.items():
        if isinstance(v, list):
            out.update({i: k for i in v})
        else:
            out[k] = v
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite", nargs="?", default="oss2")
    parser.add_argument("--report", type=Path, help="also write the figures as JSON here")
    parser.add_argument("pytest_args", nargs="*", help="after --: more pytest arguments")
    args = parser.parse_args()
    config = tomllib.loads((HERE / f"{args.suite}.toml").read_text("utf-8"))
    excluded = split_ids(config.get("excluded", {}))
    failing = split_ids(config.get("failing", {}))
    started = time.monotonic()
    missing = [m for m in config.get("requires", []) if importlib.util.find_spec(m) is None]
    if missing:
        raise SystemExit(f"run_suite: the suite imports {', '.join(missing)}, which this Python lacks "
                         f"(`pip install {' '.join(missing)}` into the venv, or a directory on PYTHONPATH)")

    with tempfile.TemporaryDirectory(prefix=f"ossvault-{args.suite}-suite-") as tmp:
        work = Path(tmp) / "suite"
        work.mkdir()
        fetch_tests(config, work)
        server = ServerProcess(Path(tmp) / "data", Path(tmp) / "server.log")
        endpoint = server.start()
        results_path = Path(tmp) / "results.json"
        patches = config.get("patches", {})
        env = {
            **os.environ,
            "OSS_TEST_ENDPOINT": endpoint.removeprefix("http://") if patches.get("plain_http") else endpoint,
            "OSS_TEST_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "OSS_TEST_ACCESS_KEY_SECRET": ACCESS_KEY_SECRET,
            "OSS_TEST_REGION": REGION,
            "OSS_TEST_BUCKET": "oss2-suite-",
            "OSSVAULT_SUITE_EXCLUDED": json.dumps(sorted(excluded)),
            "OSSVAULT_SUITE_RESULTS": str(results_path),
            "OSSVAULT_SUITE_KMS_AS_RSA": "1" if patches.get("kms_crypto_bucket_as_rsa") else "0",
            "OSSVAULT_SUITE_PLAIN_HTTP": "1" if patches.get("plain_http") else "0",
            "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        try:
            subprocess.run(
                [sys.executable, "-m", "pytest", "-p", "suite_plugin", "-p", "no:cacheprovider",
                 "-p", "no:logging", "-q", "--no-header", "-o", "addopts=", "--tb=no",
                 "-W", "ignore", "--rootdir", str(work), *config["test_dirs"][:1], *args.pytest_args],
                cwd=work, env=env, check=False,
            )
        finally:
            alive = server.alive()
            code = server.stop() if alive else None
        if not alive or code != 0:
            print(f"run_suite: the server died or exited with {code}; log tail:\n{server.log_tail()}")
            return 1
        if not results_path.is_file():
            print("run_suite: the suite wrote no results (collection failed?)")
            return 1
        results = json.loads(results_path.read_text("utf-8"))

    by_outcome = collections.defaultdict(list)
    for nodeid, r in sorted(results.items()):
        by_outcome[r["outcome"]].append(nodeid)
    passed, failed = by_outcome["passed"], by_outcome["failed"]
    ran = len(passed) + len(failed)
    rate = len(passed) / ran if ran else 0.0
    elapsed = time.monotonic() - started

    print(f"\n==> {config['requirement']}: its own integration suite against ossvault serve")
    print(f"total {len(results)}, excluded {len(by_outcome['excluded'])}, "
          f"skipped by the suite {len(by_outcome['skipped'])}, ran {ran}: "
          f"passed {len(passed)}, failed {len(failed)} -> pass rate {rate:.1%} "
          f"(minimum {config['min_pass_rate']:.1%}); {elapsed:.0f} s")
    reasons = collections.Counter()
    for nodeid in by_outcome["excluded"]:
        reasons[next(r for i, r in excluded.items() if nodeid == i or nodeid.startswith((i + "::", i + "/")))] += 1
    print("\nexcluded, by reason:")
    for reason, n in reasons.most_common():
        print(f"  {n:4d}  {reason}")
    groups = collections.defaultdict(list)
    for nodeid in failed:
        groups[failing.get(nodeid, "NOT IN THE LIST (new failure?)")].append(nodeid)
    print("\nfailed, by missing feature:")
    for feature, ids in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        print(f"  {len(ids):4d}  {feature}")
        for nodeid in ids:
            message = results[nodeid].get("message", "")
            cleanup = " (in its class's cleanup)" if results[nodeid].get("phase") == "teardown" else ""
            print(f"          {nodeid}{cleanup}" + (f"  [{message[:140]}]" if feature.startswith("NOT") else ""))
    now_passing = [i for i in failing if results.get(i, {}).get("outcome") == "passed"]
    if now_passing:
        print("\nlisted as failing but passed (update the list):")
        for nodeid in now_passing:
            print(f"          {nodeid}")
    if args.report:
        args.report.write_text(json.dumps({
            "total": len(results), "excluded": len(by_outcome["excluded"]),
            "skipped": len(by_outcome["skipped"]), "passed": len(passed), "failed": len(failed),
            "pass_rate": rate, "seconds": round(elapsed, 1), "failures": {k: v for k, v in groups.items()},
            "excluded_by_reason": dict(reasons),
        }, indent=1, ensure_ascii=False))
    if rate < config["min_pass_rate"]:
        print(f"\nrun_suite: FAILED: pass rate {rate:.1%} is below the minimum {config['min_pass_rate']:.1%}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
