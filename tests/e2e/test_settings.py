"""The Settings screen end to end, on an app of its own with fresh config and data directories
(so its keychain of master keys starts empty): the first-run offer of a key, dismissed for good
or taken (generate, then export at once); the not-backed-up mark and callout until a backup is
exported (from the app or with `ossvault key export`); files at once and bandwidth limits
applied to the running transfer queue (a throttled upload takes the time its limit says); the
server's ports taking effect after a restart; start at login writing and removing the XDG
autostart entry; a rewrap stopped mid-way with every object still readable. Screenshots of every
section, the offer and the callout, in English and Chinese, one in dark.

The tests run in order on one app (module-scoped state); each step builds on the previous."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import oss2
import pytest

from conftest import ACCESS_KEY_ID, ACCESS_KEY_SECRET, Driver, cli_binary, free_port

BUCKET = "e2e-settings"
AUTOSTART = Path.home() / ".config" / "autostart"


@pytest.fixture(scope="module")
def ctx(driver, tmp_path_factory):
    # One app at a time holds the transfer queue: the suite's other app stops first.
    driver.stop_app()
    root = tmp_path_factory.mktemp("settings-app")
    env = {"XDG_CONFIG_HOME": str(root / "config"), "XDG_DATA_HOME": str(root / "data")}
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        d = Driver(root / "tauri-driver.log")
    finally:
        os.environ.clear()
        os.environ.update(saved)

    class Ctx:
        pass

    c = Ctx()
    c.driver = d
    c.env = env
    c.root = root
    c.config = root / "config" / "ossvault"
    c.s = d.start_app()
    yield c
    d.close()
    print(f"--- the settings app's output ({d.log_path}) ---")
    print(Path(d.log_path).read_text(errors="replace")[-4000:])


def cli_env(ctx) -> dict[str, str]:
    """The CLI on the same config (keystore, profile `local`) as this module's app."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OSSVAULT_")}
    env.update(ctx.env)
    return env


def cli(ctx, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([str(cli_binary()), *args], capture_output=True, text=True, timeout=timeout, env=cli_env(ctx))


def go(s, view: str) -> None:
    s.click(f'[data-testid="nav-{view}"]')
    s.find(f'[data-testid="{view}-page"]')


def restart(ctx):
    ctx.driver.stop_app()
    ctx.s = ctx.driver.start_app()
    return ctx.s


def settings_file(ctx) -> dict:
    return json.loads((ctx.config / "settings.json").read_text())


def bucket(ctx) -> oss2.Bucket:
    return oss2.Bucket(oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET), ctx.driver.endpoint, BUCKET)


def close_toasts(s) -> None:
    s.script("document.querySelectorAll('[data-testid^=\"toast-\"] button.icon').forEach(b => b.click())")


def close_dialog(s, testid: str) -> None:
    s.script(f"document.querySelector('[data-testid=\"{testid}\"] button.close').click()")
    s.wait(lambda: not s.exists(f'[data-testid="{testid}"]'), what=f"{testid} closed")


def section(s, name: str) -> None:
    s.script(f"document.querySelector('[data-testid=\"settings-{name}\"]').scrollIntoView({{block: 'start'}})")


def test_first_run_offer_dismissed_is_not_shown_again(ctx, screenshot):
    s = ctx.s
    assert s.invoke("list_keys") == []
    s.find('[data-testid="first-run-key-prompt"]')
    screenshot("en-30-first-run-prompt")
    s.click('[data-testid="first-run-dismiss"]')
    s.wait(lambda: not s.exists('[data-testid="first-run-key-prompt"]'), what="offer gone")
    assert settings_file(ctx)["keyPromptDone"] is True
    s = restart(ctx)
    assert s.invoke("list_keys") == []
    go(s, "keys")
    s.find('[data-testid="keys-empty"]')
    assert not s.exists('[data-testid="first-run-key-prompt"]')


def test_first_run_offer_taken_makes_a_key_then_its_backup(ctx, screenshot):
    # Asked again (as on a new machine): the offer leads to the generate dialog, then the export.
    view = ctx.s.invoke("settings_get")
    ctx.s.invoke("settings_set", {"settings": {**view["settings"], "keyPromptDone": False}})
    s = restart(ctx)
    s.find('[data-testid="first-run-key-prompt"]')
    go(s, "settings")
    s.select('[data-testid="language-select"]', "zh-CN")
    s.wait(lambda: s.text('[data-testid="nav-settings"]') == "设置", what="Chinese navigation")
    screenshot("zh-30-first-run-prompt")
    s.select('[data-testid="language-select"]', "en")
    s.wait(lambda: s.text('[data-testid="nav-settings"]') == "Settings", what="English navigation")
    s.click('[data-testid="first-run-create"]')
    s.find('[data-testid="key-generate-dialog"]')
    assert s.script("return document.querySelector('[data-testid=\"key-name-input\"]').value") == "my-key"
    s.click('[data-testid="key-generate-submit"]')
    s.find('[data-testid="key-export-dialog"]', timeout=60)
    assert not s.exists('[data-testid="first-run-key-prompt"]')
    # Not exported yet: the key is marked and the callout says what is at stake.
    close_dialog(s, "key-export-dialog")
    s.find('[data-testid="key-not-backed-up-my-key"]')
    s.find('[data-testid="keys-backup-callout"]')
    close_toasts(s)
    screenshot("en-31-keys-backup-callout")
    s.click('[data-testid="keys-backup-callout-export"]')
    s.find('[data-testid="key-export-dialog"]')
    s.type('[data-testid="key-passphrase-input"]', "first-run backup passphrase")
    s.type('[data-testid="key-passphrase-confirm"]', "first-run backup passphrase")
    backup = ctx.root / "my-key.ossvault-key"
    s.type('[data-testid="key-path-input"]', str(backup))
    s.click('[data-testid="key-export-submit"]')
    s.wait(lambda: not s.exists('[data-testid="keys-backup-callout"]'), 60, "callout gone after the export")
    assert not s.exists('[data-testid="key-not-backed-up-my-key"]')
    assert backup.stat().st_size > 0
    [key] = s.invoke("list_keys")
    assert key["backedUp"] and key["lastExport"]


def test_the_cli_export_records_the_backup_too(ctx, screenshot):
    s = ctx.s
    made = cli(ctx, "key", "gen", "--name", "cli-key")
    assert made.returncode == 0, made.stderr
    go(s, "connections")
    go(s, "keys")
    s.find('[data-testid="key-not-backed-up-cli-key"]')
    assert s.attr('[data-testid="keys-backup-callout"]', "data-count") == "1"
    out = ctx.root / "cli-key.backup"
    env = cli_env(ctx) | {"E2E_PASS": "cli backup passphrase"}
    exported = subprocess.run(
        [str(cli_binary()), "key", "export", "cli-key", "--out", str(out), "--passphrase-env", "E2E_PASS"],
        capture_output=True, text=True, timeout=180, env=env,
    )
    assert exported.returncode == 0, exported.stderr
    go(s, "connections")
    go(s, "keys")
    s.find('[data-testid="key-row-cli-key"]')
    assert not s.exists('[data-testid="key-not-backed-up-cli-key"]')
    assert not s.exists('[data-testid="keys-backup-callout"]')
    # A rotation adds a version no backup holds: marked again.
    rotated = cli(ctx, "key", "rotate", "cli-key")
    assert rotated.returncode == 0, rotated.stderr
    go(s, "connections")
    go(s, "keys")
    s.find('[data-testid="key-not-backed-up-cli-key"]')


def test_files_at_once_and_bandwidth_limits_apply_to_running_transfers(ctx, screenshot):
    s = ctx.s
    oss2.Bucket(oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET), ctx.driver.endpoint, BUCKET).create_bucket()
    go(s, "settings")
    section(s, "transfers")
    s.type('[data-testid="settings-files-at-once"]', "5")
    s.type('[data-testid="settings-upload-limit"]', "256")
    s.click('[data-testid="settings-transfers-save"]')
    s.wait(lambda: s.invoke("settings_get")["settings"]["transfers"]["uploadLimit"] == 256 * 1024, what="limit saved")
    assert settings_file(ctx)["transfers"] == {"filesAtOnce": 5, "uploadLimit": 262144, "downloadLimit": None}
    # Refused in the core, with the reason shown: a limit below 1 KiB/s.
    s.type('[data-testid="settings-download-limit"]', "0.5")
    s.click('[data-testid="settings-transfers-save"]')
    s.find('[data-testid="settings-transfers-error"]')
    assert settings_file(ctx)["transfers"]["downloadLimit"] is None
    s.script(
        "const i = document.querySelector('[data-testid=\"settings-download-limit\"]');"
        "i.value = ''; i.dispatchEvent(new Event('input', {bubbles: true}));"
    )
    close_toasts(s)
    screenshot("en-32-settings-transfers")
    go(s, "transfers")
    assert s.script("return document.querySelector('[data-testid=\"transfers-concurrency\"]').value") == "5"

    def upload(name: str) -> float:
        path = ctx.root / name
        path.write_bytes(os.urandom(3 << 19))  # 1.5 MiB
        started = time.monotonic()
        ids = s.invoke("upload_paths", {"connection": "local", "bucket": BUCKET, "prefix": "", "paths": [str(path)], "encryption": None})

        def done():
            rows = [t for t in s.invoke("list_transfers") if t["id"] in ids]
            assert all(t["state"]["state"] != "failed" for t in rows), rows
            return all(t["state"]["state"] == "completed" for t in rows) and rows

        s.wait(done, 120, f"upload of {name}")
        took = time.monotonic() - started
        assert bucket(ctx).get_object(name).read() == path.read_bytes()
        return took

    # 1.5 MiB at 256 KiB/s, less the first second's allowance: 5 s at the least.
    throttled = upload("throttled.bin")
    assert throttled >= 4.5, throttled
    saved = s.invoke("settings_get")["settings"]
    s.invoke("settings_set", {"settings": {**saved, "transfers": {**saved["transfers"], "uploadLimit": None}}})
    free = upload("free.bin")
    assert free < throttled - 2, (free, throttled)


def test_server_ports_apply_after_a_restart(ctx, screenshot):
    s = ctx.s
    http, https = free_port(), free_port()
    go(s, "settings")
    s.type('[data-testid="settings-http-port"]', str(http))
    s.type('[data-testid="settings-https-port"]', str(https))
    s.click('[data-testid="settings-server-save"]')
    s.find('[data-testid="settings-restart-needed"]')
    close_toasts(s)
    section(s, "server")
    screenshot("en-33-settings-server-restart")
    # Still the old port until a restart.
    assert f":{http}" not in s.invoke("app_status")["server"]["endpoint"]
    s = restart(ctx)
    status = s.invoke("app_status")["server"]
    assert status["endpoint"].endswith(f":{http}"), status
    assert status["httpsEndpoint"].endswith(f":{https}"), status
    assert bucket(ctx).get_object("free.bin").read(), "the server on its new port serves the same data"
    go(s, "settings")
    s.find('[data-testid="settings-server-save"]')
    assert not s.exists('[data-testid="settings-restart-needed"]')
    screenshot("en-34-settings-general-server")


def test_start_at_login_writes_and_removes_the_autostart_entry(ctx, screenshot):
    s = ctx.s
    go(s, "settings")
    section(s, "startup")
    entries = lambda: sorted(AUTOSTART.glob("*.desktop")) if AUTOSTART.exists() else []  # noqa: E731
    assert entries() == []
    s.click('[data-testid="settings-start-at-login"]')
    s.wait(lambda: entries(), what="autostart entry written")
    [entry] = entries()
    text = entry.read_text()
    assert "Exec=" in text and "ossvault-app" in text, text
    assert settings_file(ctx)["startAtLogin"] is True
    close_toasts(s)
    section(s, "logs")
    screenshot("en-35-settings-startup-logs")
    s.click('[data-testid="settings-start-at-login"]')
    s.wait(lambda: not entries(), what="autostart entry removed")
    assert settings_file(ctx)["startAtLogin"] is False


def test_log_level_and_about(ctx, screenshot):
    s = ctx.s
    go(s, "settings")
    s.select('[data-testid="settings-log-level"]', "debug")
    assert s.script("return document.querySelector('[data-testid=\"settings-log-level\"]').selectedOptions[0].textContent") == "Debug (verbose)"
    s.wait(lambda: settings_file(ctx)["logLevel"] == "debug", what="log level saved")
    assert s.invoke("settings_get")["logLevelLive"] is True
    section(s, "about")
    s.script("document.querySelector('[data-testid=\"about-licenses-rust\"]').open = true")
    assert "Apache-2.0" in s.text('[data-testid="about-licenses-rust"]')
    assert s.text('[data-testid="about-version"]').startswith("ossvault ")
    close_toasts(s)
    screenshot("en-36-settings-about")
    s.select('[data-testid="settings-log-level"]', "info")


def test_a_rewrap_stopped_mid_way_leaves_every_object_readable(ctx, screenshot):
    s = ctx.s
    tree = ctx.root / "rw"
    tree.mkdir()
    count = 400
    for i in range(count):
        (tree / f"{i:04}.txt").write_bytes(f"object {i} ".encode() * 50)
    up = cli(ctx, "cp", "-r", "--profile", "local", "--encrypt", "my-key", "--jobs", "16", str(tree), f"oss://{BUCKET}/rw/", timeout=600)
    assert up.returncode == 0, up.stderr
    fingerprint = lambda: next(k["fingerprint"] for k in s.invoke("list_keys") if k["name"] == "my-key")  # noqa: E731
    old_fp = fingerprint()
    go(s, "connections")
    go(s, "keys")
    s.click('[data-testid="key-rotate-my-key"]')
    s.click('[data-testid="key-rewrap"]')
    s.wait(lambda: s.script("return document.querySelector('[data-testid=\"key-rewrap-bucket\"]')?.value") == BUCKET, what="bucket chosen")
    s.type('[data-testid="key-rewrap-prefix"]', "rw/")
    # Stop as soon as the first objects are reported (from the page: a WebDriver round trip
    # would come too late).
    s.script(
        """new MutationObserver((_, obs) => {
             const stop = document.querySelector('[data-testid="key-rewrap-cancel"]');
             if (stop && document.querySelector('[data-testid="key-rewrap-progress"]')) { stop.click(); obs.disconnect(); }
           }).observe(document.body, {subtree: true, childList: true, characterData: true});"""
    )
    s.click('[data-testid="key-rotate-submit"]')
    s.find('[data-testid="key-rewrap-result"]', timeout=120)
    close_toasts(s)
    screenshot("en-37-rewrap-stopped")
    result = s.attr('[data-testid="key-rewrap-result"]', "data-cancelled")
    rewrapped = int(s.attr('[data-testid="key-rewrap-result"]', "data-rewrapped"))
    assert result == "true", s.text('[data-testid="key-rewrap-result"]')
    assert 1 <= rewrapped < count, rewrapped
    # Every object reads back, those rewrapped (new version) and the others (old version).
    new_fp = fingerprint()
    assert new_fp != old_fp
    fps = {}
    b = bucket(ctx)
    for obj in oss2.ObjectIterator(b, prefix="rw/"):
        fps[obj.key] = b.head_object(obj.key).headers["x-oss-meta-ossvault-cse-key-fingerprint"]
    assert len(fps) == count
    assert sum(fp == new_fp for fp in fps.values()) == rewrapped
    assert set(fps.values()) == {old_fp, new_fp}
    down = ctx.root / "rw-back"
    got = cli(ctx, "cp", "-r", "--profile", "local", f"oss://{BUCKET}/rw/", str(down), timeout=600)
    assert got.returncode == 0, got.stderr
    for i in range(count):
        assert (down / f"{i:04}.txt").read_bytes() == (tree / f"{i:04}.txt").read_bytes(), i
    s.script("document.querySelector('[data-testid=\"key-rotate-dialog\"] footer button').click()")

    # The same rotation again finishes the rewrap, without another version.
    s.click('[data-testid="key-rotate-my-key"]')
    s.click('[data-testid="key-rewrap"]')
    s.wait(lambda: s.script("return document.querySelector('[data-testid=\"key-rewrap-bucket\"]')?.value") == BUCKET, what="bucket chosen")
    s.type('[data-testid="key-rewrap-prefix"]', "rw/")
    s.click('[data-testid="key-rotate-submit"]')
    s.find('[data-testid="key-rewrap-result"]', timeout=120)
    assert s.attr('[data-testid="key-rewrap-result"]', "data-cancelled") == "false"
    assert int(s.attr('[data-testid="key-rewrap-result"]', "data-rewrapped")) == count - rewrapped
    assert fingerprint() == new_fp
    s.script("document.querySelector('[data-testid=\"key-rotate-dialog\"] footer button').click()")


def test_settings_in_chinese_and_dark(ctx, screenshot):
    s = ctx.s
    go(s, "settings")
    s.select('[data-testid="language-select"]', "zh-CN")
    s.wait(lambda: s.text('[data-testid="nav-settings"]') == "设置", what="Chinese navigation")
    close_toasts(s)
    screenshot("zh-35-settings-general-server")
    for name in ("transfers", "startup", "about"):
        section(s, name)
        screenshot(f"zh-31-settings-{name}")
    go(s, "keys")
    s.find('[data-testid="keys-backup-callout"]')
    screenshot("zh-32-keys-backup-callout")
    go(s, "settings")
    s.select('[data-testid="theme-select"]', "dark")
    s.wait(lambda: s.script("return document.documentElement.dataset.theme") == "dark", what="dark theme")
    screenshot("zh-33-settings-dark")
    go(s, "keys")
    screenshot("zh-34-keys-callout-dark")
    go(s, "settings")
    s.select('[data-testid="language-select"]', "en")
    s.wait(lambda: s.text('[data-testid="nav-settings"]') == "Settings", what="English navigation")
    section(s, "server")
    screenshot("en-38-settings-dark")
    section(s, "about")
    s.script("document.querySelector('[data-testid=\"about-licenses-rust\"]').open = true")
    assert "mimalloc" in s.text('[data-testid="about-licenses-rust"]')
    screenshot("en-39-settings-about-dark")
    s.select('[data-testid="theme-select"]', "light")
