"""The Sync screen end to end: a folder paired through the path-taking command that the drop
event feeds (the dialog it opens, filled in), files written from the test synced to the
embedded server and read back with the `ossvault` CLI, shown as synced; pause and resume; a
conflict made on both sides and resolved in the UI; the pair seen by `ossvault sync ls` (one
store for app and CLI), and a pair added and removed with `ossvault sync` while the app runs. Screenshots of the screen in both languages and in the dark theme.

The tests run in order on one app (module-scoped state); each step builds on the previous."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import oss2
import pytest

from conftest import ACCESS_KEY_ID, ACCESS_KEY_SECRET, cli_binary

BUCKET = "e2e-sync"
KEY = "e2e-sync-key"
PREFIX = "docs/"


@pytest.fixture(scope="module")
def ctx(driver, tmp_path_factory):
    class Ctx:
        pass

    c = Ctx()
    c.driver = driver
    # A fresh app process (the previous module's may hold state in its UI).
    driver.stop_app()
    c.s = driver.start_app()
    c.folder = tmp_path_factory.mktemp("synced") / "Project Notes"
    c.folder.mkdir()
    c.out = tmp_path_factory.mktemp("readback")
    c.name = None
    yield c


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OSSVAULT_")}
    return subprocess.run([str(cli_binary()), *args], capture_output=True, text=True, timeout=60, env=env)


def remote(ctx, rel: str, prefix: str = PREFIX) -> bytes | None:
    """The object decrypted by the CLI (through the profile `local` the app saved), or None."""
    target = ctx.out / f"{rel.replace('/', '_')}.{time.monotonic_ns()}"
    r = cli("cp", "--profile", "local", f"oss://{BUCKET}/{prefix}{rel}", str(target))
    if r.returncode != 0:
        return None
    data = target.read_bytes()
    target.unlink()
    return data


def wait_remote(ctx, rel: str, data: bytes, timeout: float = 40) -> None:
    ctx.s.wait(lambda: remote(ctx, rel) == data, timeout, f"oss://{BUCKET}/{PREFIX}{rel} = {data!r}")


def go(s, view: str) -> None:
    s.click(f'[data-testid="nav-{view}"]')
    s.find(f'[data-testid="{view}-page"]')


def set_look(s, language: str, theme: str) -> None:
    """The UI's language and theme, chosen in Settings."""
    go(s, "settings")
    s.select('[data-testid="language-select"]', language)
    s.wait(lambda: s.script("return document.documentElement.lang") == language, what=language)
    s.select('[data-testid="theme-select"]', theme)
    s.wait(lambda: s.script("return document.documentElement.dataset.theme") == theme, what=f"{theme} theme")


def card_state(s, name: str) -> str | None:
    return s.attr(f'[data-testid="sync-pair-{name}"]', "data-state")


def test_empty_sync_screen_explains_and_offers_add(ctx, screenshot):
    s = ctx.s
    s.invoke("create_bucket", {"connection": "local", "name": BUCKET, "acl": None})
    s.invoke("generate_key", {"name": KEY, "kind": "AES-256"})
    s.invoke("set_default_key", {"name": KEY})
    go(s, "sync")
    s.find('[data-testid="sync-empty"]')
    assert "Add folder" in s.text('[data-testid="sync-empty"]')
    screenshot("en-20-sync-empty")


def test_a_dropped_folder_opens_the_dialog_filled_in_and_its_files_sync(ctx, screenshot):
    s = ctx.s
    (ctx.folder / "a.txt").write_bytes(b"first version of a")
    # The drop handler (WebDriver cannot drag from the OS): the add dialog, folder filled in.
    s.script("window.ossvaultSyncDrop(arguments[0])", [str(ctx.folder)])
    s.find('[data-testid="sync-add-dialog"]')
    assert s.script("return document.querySelector('[data-testid=\"sync-add-folder\"]').value") == str(ctx.folder)
    s.wait(lambda: s.script(
        "return [...document.querySelectorAll('[data-testid=\"sync-add-bucket\"] option')].map(o => o.value)"
    ) and BUCKET in s.script(
        "return [...document.querySelectorAll('[data-testid=\"sync-add-bucket\"] option')].map(o => o.value)"
    ), what="the bucket list")
    s.select('[data-testid="sync-add-bucket"]', BUCKET)
    s.type('[data-testid="sync-add-prefix"]', PREFIX)
    # The default key is preselected.
    s.wait(lambda: s.script("return document.querySelector('[data-testid=\"sync-add-key\"]').value") == KEY, what="default key")
    s.select('[data-testid="sync-add-mode"]', "two-way")
    screenshot("en-21-sync-add-dialog")
    s.click('[data-testid="sync-add-submit"]')
    s.wait(lambda: not s.exists('[data-testid="sync-add-dialog"]'), what="the dialog closes")
    pairs = s.invoke("list_sync_pairs")
    assert len(pairs) == 1, pairs
    ctx.name = pairs[0]["pair"]["name"]
    assert ctx.name == "Project-Notes"
    assert pairs[0]["pair"]["mode"] == "two-way" and pairs[0]["pair"]["key"] == KEY
    # The same folder again is refused (the command checks, not only the UI).
    with pytest.raises(Exception, match="synced already"):
        s.invoke("add_sync_pair", {"pair": {"local": str(ctx.folder), "profile": "local", "bucket": BUCKET,
                                            "prefix": "other/", "key": None, "mode": "upload"}})
    # One store for app and CLI.
    ls = cli("--json", "sync", "ls")
    assert ls.returncode == 0, ls.stderr
    assert ctx.name in ls.stdout

    (ctx.folder / "b.txt").write_bytes(b"bee")
    (ctx.folder / "sub").mkdir()
    (ctx.folder / "sub" / "c.txt").write_bytes(b"sea" * 1000)
    wait_remote(ctx, "a.txt", b"first version of a")
    wait_remote(ctx, "b.txt", b"bee")
    wait_remote(ctx, "sub/c.txt", b"sea" * 1000)
    # Stored encrypted: the raw object is not the plaintext.
    raw = oss2.Bucket(oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET), ctx.driver.endpoint, BUCKET)
    assert raw.get_object(f"{PREFIX}b.txt").read() != b"bee"
    s.wait(lambda: card_state(s, ctx.name) == "idle", 30, "idle")
    s.wait(lambda: "3 files" in s.text(f'[data-testid="sync-state-{ctx.name}"]'), 30, "3 files in sync")
    screenshot("en-22-sync-list")
    s.click(f'[data-testid="sync-open-{ctx.name}"]')
    s.find('[data-testid="sync-detail"]')

    def synced_rows():
        return s.script(
            "return [...document.querySelectorAll('[data-testid=\"sync-file\"]')]"
            ".map(r => r.dataset.path + '=' + r.dataset.state)"
        )

    s.wait(lambda: synced_rows() == ["a.txt=synced", "b.txt=synced", "sub/c.txt=synced"], 20, "files shown synced")
    screenshot("en-23-sync-detail-files")


def test_pause_holds_new_files_until_resume(ctx, screenshot):
    s = ctx.s
    s.click('[data-testid="sync-pause"]')
    s.wait(lambda: s.attr('[data-testid="sync-detail-state"]', "data-state") == "paused", 15, "paused")
    (ctx.folder / "while-paused.txt").write_bytes(b"wait for me")
    time.sleep(4)
    assert remote(ctx, "while-paused.txt") is None
    screenshot("en-24-sync-paused")
    s.click('[data-testid="sync-resume"]')
    wait_remote(ctx, "while-paused.txt", b"wait for me")
    s.wait(lambda: s.attr('[data-testid="sync-detail-state"]', "data-state") == "idle", 30, "idle again")


def test_a_conflict_is_shown_and_resolved_in_the_ui(ctx, screenshot):
    s = ctx.s
    s.click('[data-testid="sync-pause"]')
    s.wait(lambda: s.attr('[data-testid="sync-detail-state"]', "data-state") == "paused", 15, "paused")
    # Both sides change a.txt: here, and in the bucket (the CLI, encrypting with the key).
    (ctx.folder / "a.txt").write_bytes(b"local edit of a")
    other = ctx.out / "a-remote.txt"
    other.write_bytes(b"remote edit of a")
    up = cli("cp", "--profile", "local", "--encrypt", KEY, str(other), f"oss://{BUCKET}/{PREFIX}a.txt")
    assert up.returncode == 0, up.stderr
    s.click('[data-testid="sync-resume"]')
    s.wait(lambda: s.exists(f'[data-testid="sync-tab-conflicts"] .badge'), 40, "a conflict")
    s.click('[data-testid="sync-tab-conflicts"]')
    s.find('[data-testid="sync-conflict"][data-path="a.txt"]')
    screenshot("en-25-sync-conflict")
    s.click('[data-testid="sync-keep-remote"]')
    s.wait(lambda: s.exists('[data-testid="sync-conflicts-empty"]'), 20, "no conflict left")
    assert (ctx.folder / "a.txt").read_bytes() == b"remote edit of a"
    s.wait(lambda: not any(p.name.startswith("a.conflict-") for p in ctx.folder.iterdir()), 20, "the copy set aside")
    wait_remote(ctx, "a.txt", b"remote edit of a")
    # The local edit that lost is kept in the folder's trash, and the overwritten remote versions
    # are listed under "Recently deleted".
    assert any(p.read_bytes() == b"local edit of a" for p in (ctx.folder / ".ossvault-trash").glob("a.txt@*"))
    s.click('[data-testid="sync-tab-trash"]')
    s.find('[data-testid="sync-trash-row"]', timeout=20)
    screenshot("en-26-sync-trash")
    s.click('[data-testid="sync-tab-ignore"]')
    s.find('[data-testid="sync-ignore-rules"]')
    s.type('[data-testid="sync-ignore-rules"]', "*.log\n")
    s.click('[data-testid="sync-ignore-save"]')
    s.wait(lambda: (ctx.folder / ".ossvaultignore").exists(), 10, ".ossvaultignore saved")
    screenshot("en-27-sync-ignore")


def test_sync_screens_in_chinese_and_dark(ctx, screenshot):
    s = ctx.s
    go(s, "settings")
    s.find('[data-testid="settings-notifications"]')
    s.select('[data-testid="language-select"]', "zh-CN")
    s.wait(lambda: s.script("return document.documentElement.lang") == "zh-CN", what="zh-CN")
    # The core is told: its tray menu and notifications speak the UI's language (the tray itself
    # cannot be read under Xvfb without a status-notifier host).
    s.wait(lambda: s.invoke("settings_get")["settings"].get("language") == "zh-CN", what="the core told zh-CN")
    screenshot("zh-28-settings-notifications")
    go(s, "sync")
    s.find(f'[data-testid="sync-pair-{ctx.name}"]')
    screenshot("zh-20-sync-list")
    s.click(f'[data-testid="sync-open-{ctx.name}"]')
    s.find('[data-testid="sync-file"]')
    screenshot("zh-21-sync-detail-files")
    s.click('[data-testid="sync-tab-conflicts"]')
    screenshot("zh-22-sync-conflicts")
    s.click('[data-testid="sync-back"]')
    s.click('[data-testid="sync-add"]')
    s.find('[data-testid="sync-add-dialog"]')
    screenshot("zh-23-sync-add-dialog")
    s.script("document.querySelector('[data-testid=\"sync-add-dialog\"] button.close').click()")
    go(s, "settings")
    s.select('[data-testid="theme-select"]', "dark")
    s.wait(lambda: s.script("return document.documentElement.dataset.theme") == "dark", what="dark theme")
    go(s, "sync")
    screenshot("zh-24-sync-list-dark")
    s.click(f'[data-testid="sync-open-{ctx.name}"]')
    s.find('[data-testid="sync-file"]')
    screenshot("zh-25-sync-detail-dark")
    go(s, "settings")
    s.select('[data-testid="language-select"]', "en")
    s.wait(lambda: s.invoke("settings_get")["settings"].get("language") == "en", what="the core told en")
    go(s, "sync")
    screenshot("en-28-sync-list-dark")
    go(s, "settings")
    s.select('[data-testid="theme-select"]', "light")


def test_notification_switches_are_saved(ctx):
    s = ctx.s
    go(s, "settings")
    s.click('[data-testid="notify-largeTransfers"]')
    s.wait(lambda: s.invoke("notification_settings")["largeTransfers"] is False, what="switch saved")
    s.click('[data-testid="notify-largeTransfers"]')
    s.wait(lambda: s.invoke("notification_settings")["largeTransfers"] is True, what="switch saved")


def test_a_pause_in_the_middle_of_a_pass_says_how_far_it_got(ctx, screenshot):
    """More files than the pair sends at once, at 1 KiB/s: paused in the middle of the pass, the
    state reads "Paused at n of m" over a greyed bar (the rest of the files wait); resumed with the
    limit lifted, the same pass finishes."""
    s = ctx.s
    go(s, "sync")
    s.click(f'[data-testid="sync-open-{ctx.name}"]')
    detail_state = lambda: s.attr('[data-testid="sync-detail-state"]', "data-state")  # noqa: E731
    s.click('[data-testid="sync-pause"]')
    s.wait(lambda: detail_state() == "paused", 15, "paused")
    batch = ctx.folder / "batch"
    batch.mkdir()
    contents = {f"batch/f-{i:03}.txt": f"file {i} ".encode() * 200 for i in range(200)}
    for rel, data in contents.items():
        (ctx.folder / rel).write_bytes(data)
    s.type('[data-testid="sync-bandwidth"]', "1")
    s.click('[data-testid="sync-bandwidth-save"]')
    s.wait(lambda: s.invoke("list_sync_pairs")[0]["pair"]["bandwidth_limit"] == 1024, what="the limit saved")
    s.click('[data-testid="sync-resume"]')
    s.wait(lambda: detail_state() == "syncing", 30, "syncing the batch")
    s.click('[data-testid="sync-pause"]')
    s.wait(lambda: detail_state() == "paused", 15, "paused in the middle of the pass")
    line = s.text('[data-testid="sync-detail-state"]')
    # The batch may reach the pair in more than one pass (each says its own m).
    assert re.fullmatch(r"Paused at \d+ of \d+", line), line
    assert s.exists('[data-testid="sync-detail"] .bar.paused')
    moving = s.script(
        "return [...document.querySelectorAll('[data-testid=\"sync-file\"][data-state=\"transferring\"] .fstate')]"
        ".map(e => e.textContent.trim())"
    )
    assert moving and all(re.fullmatch(r"Transferring \d+%", m) for m in moving), moving[:3]
    screenshot("en-24b-sync-paused-mid-pass")
    # The same in Chinese and dark: the list's card, then the pair's page.
    set_look(s, "zh-CN", "dark")
    go(s, "sync")
    s.wait(lambda: "已暂停，已完成" in s.text(f'[data-testid="sync-state-{ctx.name}"]'), 10, "paused at, in Chinese")
    screenshot("zh-24b-sync-list-paused-mid-pass-dark")
    s.click(f'[data-testid="sync-open-{ctx.name}"]')
    s.find('[data-testid="sync-file"][data-state="transferring"]')
    assert s.text('[data-testid="sync-detail-state"]').startswith("已暂停，已完成 ")
    screenshot("zh-24c-sync-paused-mid-pass-dark")
    set_look(s, "en", "light")
    go(s, "sync")
    s.click(f'[data-testid="sync-open-{ctx.name}"]')
    s.type('[data-testid="sync-bandwidth"]', "0")
    s.click('[data-testid="sync-bandwidth-save"]')
    s.wait(lambda: s.invoke("list_sync_pairs")[0]["pair"]["bandwidth_limit"] is None, what="the limit lifted")
    s.click('[data-testid="sync-resume"]')
    s.wait(lambda: detail_state() == "idle", 60, "the pass finished")
    for rel in ("batch/f-000.txt", "batch/f-199.txt"):
        assert remote(ctx, rel) == contents[rel]
    # The sidebar's Sync, clicked on a pair's page, shows the list again.
    go(s, "sync")
    s.find(f'[data-testid="sync-open-{ctx.name}"]')
    assert not s.exists('[data-testid="sync-detail"]')


def test_remove_keeps_the_folder_and_the_objects(ctx, screenshot):
    s = ctx.s
    go(s, "sync")
    s.click(f'[data-testid="sync-open-{ctx.name}"]')
    s.click('[data-testid="sync-remove"]')
    s.find('[data-testid="sync-remove-dialog"]')
    assert "Nothing is deleted" in s.text('[data-testid="sync-remove-dialog"]')
    screenshot("en-29-sync-remove-confirm")
    s.click('[data-testid="sync-remove-submit"]')
    s.find('[data-testid="sync-empty"]')
    assert (ctx.folder / "b.txt").read_bytes() == b"bee"
    assert remote(ctx, "b.txt") == b"bee"
    assert ctx.name not in cli("--json", "sync", "ls").stdout


def test_a_pair_the_cli_adds_or_removes_while_the_app_runs_follows_at_once(ctx, tmp_path_factory, screenshot):
    s = ctx.s
    go(s, "sync")
    s.find('[data-testid="sync-empty"]')
    folder = tmp_path_factory.mktemp("cli-added")
    (folder / "from-cli.txt").write_bytes(b"added by the CLI")
    add = cli("sync", "add", str(folder), f"oss://{BUCKET}/cli/", "--key", KEY, "--mode", "two-way",
              "--name", "from-cli", "--profile", "local")
    assert add.returncode == 0, add.stderr
    # The app follows the pairs file: the pair shows up and syncs, without a restart.
    s.find('[data-testid="sync-pair-from-cli"]', timeout=15)
    s.wait(lambda: remote(ctx, "from-cli.txt", "cli/") == b"added by the CLI", 40, "the CLI's pair synced")
    s.wait(lambda: card_state(s, "from-cli") == "idle", 30, "idle")
    screenshot("en-30-sync-pair-added-by-cli")
    # `sync pause` from the CLI reaches the running pair.
    assert cli("sync", "pause", "from-cli").returncode == 0
    s.wait(lambda: card_state(s, "from-cli") == "paused", 15, "paused by the CLI")
    assert cli("sync", "resume", "from-cli").returncode == 0
    s.wait(lambda: card_state(s, "from-cli") == "idle", 30, "resumed by the CLI")
    # Removed by the CLI while the app syncs it: it stops and disappears; both sides stay.
    rm = cli("sync", "rm", "from-cli")
    assert rm.returncode == 0, rm.stderr
    s.find('[data-testid="sync-empty"]', timeout=15)
    assert "from-cli" not in json.dumps(s.invoke("list_sync_pairs"))
    (folder / "after-rm.txt").write_bytes(b"not synced")
    time.sleep(3)
    assert remote(ctx, "after-rm.txt", "cli/") is None
    assert remote(ctx, "from-cli.txt", "cli/") == b"added by the CLI"
