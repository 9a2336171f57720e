"""Starts and stops the real `ossvault serve` binary for the end-to-end suites.

Shared by tests/interop and tests/crash (their conftest.py put this directory on sys.path).
The contract used here is the one of `ossvault serve`: it prints exactly one line
`endpoint: http://127.0.0.1:PORT` on stdout when ready (logs go to stderr), `--address
127.0.0.1:0` picks a free port, SIGINT/SIGTERM shut it down with exit status 0.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import os
import signal
import subprocess
import threading
import time
import urllib.parse
from pathlib import Path

ACCESS_KEY_ID = "ossvault-test-ak"
ACCESS_KEY_SECRET = "ossvault-test-secret-0123456789abcdef"
REGION = "cn-hangzhou"

_READY_TIMEOUT_S = 30
_STOP_TIMEOUT_S = 20


def kms_request(params: dict[str, str], body: bytes = b"", ak: str = ACCESS_KEY_ID,
                sk: str = ACCESS_KEY_SECRET, region: str = REGION,
                signed_body: bytes | None = None) -> tuple[str, dict[str, str]]:
    """(query string, headers) of `POST /_kms/?<params>` with `body`, signed as the KMS API
    requires: V4 in the Authorization header, `x-oss-content-sha256` the hex SHA-256 of the body
    (of `signed_body` instead when given, to test that the server checks it). The SDKs' V4
    signers only write UNSIGNED-PAYLOAD, which the KMS API refuses, so this signs by hand
    (shared/reference/oss-api.md §2.4; canonical URI `/_kms/`, no additional headers)."""
    timestamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    payload = hashlib.sha256(body if signed_body is None else signed_body).hexdigest()
    headers = {"x-oss-date": timestamp, "x-oss-content-sha256": payload}
    if body:
        headers["content-type"] = "application/json"

    def enc(text: str) -> str:
        return urllib.parse.quote(text, safe="-_.~")

    pairs = sorted((enc(k), enc(v)) for k, v in params.items())
    query = "&".join(f"{k}={v}" if v else k for k, v in pairs)
    signed = sorted((k.lower(), v.strip()) for k, v in headers.items())
    canonical_headers = "".join(f"{k}:{v}\n" for k, v in signed)
    canonical = f"POST\n/_kms/\n{query}\n{canonical_headers}\n\n{payload}"
    scope = f"{timestamp[:8]}/{region}/oss/aliyun_v4_request"
    string_to_sign = "\n".join(
        ["OSS4-HMAC-SHA256", timestamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("aliyun_v4" + sk).encode()
    for part in (timestamp[:8], region, "oss", "aliyun_v4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = f"OSS4-HMAC-SHA256 Credential={ak}/{scope},Signature={signature}"
    return query, headers


def server_binary() -> Path:
    """The `ossvault` binary: $OSSVAULT_BIN, else $CARGO_TARGET_DIR/debug/ossvault."""
    explicit = os.environ.get("OSSVAULT_BIN")
    if explicit:
        return Path(explicit)
    target = os.environ.get("CARGO_TARGET_DIR") or "/var/tmp/ossvault-target"
    return Path(target) / "debug" / "ossvault"


class ServerProcess:
    """One `ossvault serve` process on a data directory; can be started again after a stop/kill."""

    def __init__(self, data_dir: Path, log_path: Path, binary: Path | None = None, https: bool = False,
                 extra_args: list[str] | None = None, env: dict[str, str] | None = None):
        self.binary = binary or server_binary()
        self.https = https
        # More `serve` arguments and environment for every start (may be changed between starts).
        self.extra_args = list(extra_args or [])
        self.env = dict(env or {})
        self.https_endpoint: str | None = None
        self.certificate: Path | None = None
        self.data_dir = Path(data_dir)
        self.log_path = Path(log_path)
        self.proc: subprocess.Popen | None = None
        self.endpoint: str | None = None
        self._stdout_lines: list[str] = []
        self._log = None

    def start(self) -> str:
        """Starts the server and returns its endpoint (`http://127.0.0.1:PORT`)."""
        assert self.proc is None, "server already running"
        if not self.binary.is_file():
            raise RuntimeError(
                f"ossvault binary not found at {self.binary}; build it with "
                "`cargo build -p ossvault-cli` or set OSSVAULT_BIN"
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")
        self._log.write(f"\n===== start {time.strftime('%H:%M:%S')} =====\n".encode())
        self._log.flush()
        self.proc = subprocess.Popen(
            [
                str(self.binary),
                "serve",
                "--no-profile",
                "--data-dir",
                str(self.data_dir),
                "--address",
                "127.0.0.1:0",
                "--access-key-id",
                ACCESS_KEY_ID,
                "--access-key-secret",
                ACCESS_KEY_SECRET,
                "--region",
                REGION,
                *(["--https-address", "127.0.0.1:0"] if self.https else []),
                *self.extra_args,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env={**os.environ, "RUST_BACKTRACE": "1", **self.env},
        )
        ready = threading.Event()
        found: list[str] = []

        def pump(stream):
            # Keeps draining stdout for the life of the process so that it never blocks on a
            # full pipe; the first `endpoint:` line is the readiness signal.
            for raw in iter(stream.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip("\n")
                self._stdout_lines.append(line)
                # `https endpoint:` and `certificate:` come before `endpoint:`.
                if line.startswith("https endpoint: "):
                    self.https_endpoint = line[len("https endpoint: ") :].strip()
                elif line.startswith("certificate: "):
                    self.certificate = Path(line[len("certificate: ") :].strip())
                elif not found and line.startswith("endpoint: "):
                    found.append(line[len("endpoint: ") :].strip())
                    ready.set()
            ready.set()

        threading.Thread(target=pump, args=(self.proc.stdout,), daemon=True).start()
        if not ready.wait(_READY_TIMEOUT_S) or not found:
            code = self.proc.poll()
            self._force_kill()
            raise RuntimeError(
                f"ossvault serve did not print its endpoint within {_READY_TIMEOUT_S}s "
                f"(exit status {code}); stdout={self._stdout_lines!r}; log tail:\n{self.log_tail()}"
            )
        self.endpoint = found[0]
        assert self.endpoint.startswith("http://127.0.0.1:"), self.endpoint
        return self.endpoint

    def stop(self) -> int:
        """SIGTERM, waits for the exit, returns the exit status."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self._force_kill()
            raise AssertionError(f"ossvault serve did not exit {_STOP_TIMEOUT_S}s after SIGTERM")
        self._reset()
        return code

    def kill(self) -> None:
        """SIGKILL: the crash the crash tests are about."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(_STOP_TIMEOUT_S)
        self._reset()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text("utf-8", "replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def _force_kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(_STOP_TIMEOUT_S)
        self._reset()

    def _reset(self) -> None:
        self.proc = None
        self.endpoint = None
        if self._log is not None:
            self._log.close()
            self._log = None


def write_random(path: Path, size: int) -> None:
    """Writes `size` incompressible bytes (1 MiB of randomness, rotated per block) to `path`."""
    with open(path, "wb") as f:
        left, block = size, os.urandom(1 << 20)
        while left > 0:
            n = min(left, len(block))
            f.write(block[:n])
            left -= n
            block = block[7:] + block[:7]
