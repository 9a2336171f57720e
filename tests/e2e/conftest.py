"""Fixtures of the end-to-end suite: the release-like app (built with the UI inside) driven over
WebDriver by tauri-driver + WebKitWebDriver, under Xvfb, with a real Secret Service.

Run it through scripts/e2e.sh, which provides the display, the private session bus with an
unlocked gnome-keyring and a throw-away HOME (so the app's data, its keychain entries and the
CLI profile `local` it saves are thrown away afterwards)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from webdriver import Session  # noqa: E402

ACCESS_KEY_ID = "LTAIe2eAppTest000001"
ACCESS_KEY_SECRET = "e2e-app-secret-0123456789abcdef01234567"
SCREENSHOTS = Path(__file__).parent / "screenshots"


def target_dir() -> Path:
    return Path(os.environ.get("CARGO_TARGET_DIR") or "/var/tmp/ossvault-target")


def app_binary() -> Path:
    explicit = os.environ.get("OSSVAULT_APP_BIN")
    return Path(explicit) if explicit else target_dir() / "debug" / "ossvault-app"


def cli_binary() -> Path:
    explicit = os.environ.get("OSSVAULT_BIN")
    return Path(explicit) if explicit else target_dir() / "debug" / "ossvault"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Driver:
    """tauri-driver, and the app sessions it starts (one app process per session)."""

    def __init__(self, log: Path):
        for var in ("DISPLAY", "DBUS_SESSION_BUS_ADDRESS"):
            if not os.environ.get(var):
                raise RuntimeError(f"{var} is not set: run the suite through scripts/e2e.sh")
        self.port = free_port()
        self.log_path = log
        env = dict(os.environ)
        env.update(
            NO_AT_BRIDGE="1",
            WEBKIT_DISABLE_COMPOSITING_MODE="1",
            WEBKIT_DISABLE_DMABUF_RENDERER="1",
            OSSVAULT_ACCESS_KEY_ID=ACCESS_KEY_ID,
            OSSVAULT_ACCESS_KEY_SECRET=ACCESS_KEY_SECRET,
            RUST_LOG="info",
        )
        self.log = open(log, "ab")
        driver = os.environ.get("TAURI_DRIVER") or "tauri-driver"
        self.proc = subprocess.Popen(
            [driver, "--port", str(self.port), "--native-port", str(free_port())],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        self.session: Session | None = None

    def start_app(self) -> Session:
        if not app_binary().exists():
            raise RuntimeError(f"{app_binary()} is missing: build it first (cargo build -p ossvault-app)")
        self.session = Session(f"http://127.0.0.1:{self.port}", str(app_binary()))
        # The page can be empty for a moment after the session starts: wait for the UI.
        self.session.find('[data-testid="nav-buckets"]', timeout=60)
        # Where the embedded server listens (free ports), as the app tells its UI.
        status = self.session.invoke("app_status")
        assert status["server"]["running"], status
        self.endpoint = status["server"]["endpoint"]
        self.status = status
        return self.session

    def stop_app(self) -> None:
        if self.session:
            self.session.quit()
            self.session = None

    def close(self) -> None:
        self.stop_app()
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


@pytest.fixture(scope="session")
def driver(tmp_path_factory):
    log = tmp_path_factory.mktemp("driver") / "tauri-driver.log"
    d = Driver(log)
    yield d
    d.close()
    # The app's own output (it ends up in tauri-driver's): shown when a test failed.
    print(f"--- tauri-driver and app output ({log}) ---")
    print(log.read_text(errors="replace")[-6000:])


@pytest.fixture(scope="session")
def screenshot():
    SCREENSHOTS.mkdir(exist_ok=True)

    def take(name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        # The WebDriver screenshot command hangs with WebKitWebDriver: grab the X display.
        time.sleep(0.4)
        # The app's window sits at the top left of the screen (no window manager): keep it only.
        subprocess.run(["import", "-window", "root", "-crop", "1280x800+0+0", "+repage", str(path)], check=True, timeout=30)
        return path

    return take
