"""The desktop app end to end: first launch on the embedded server, buckets and their
encryption checked with the official SDK (oss2), uploads with and without client-side
encryption through the handler that the file dialog and the drop event feed, browsing,
properties, downloads compared byte for byte, deletion, language and theme, and a restart in the
middle of a transfer. Screenshots of each screen in both languages go to screenshots/.

The tests run in order on one app (module-scoped state); each step builds on the previous."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import time
from pathlib import Path

import oss2
import pytest

from conftest import ACCESS_KEY_ID, ACCESS_KEY_SECRET, app_binary, cli_binary

BUCKET = "e2e-vault"


@pytest.fixture(scope="module")
def ctx(driver, tmp_path_factory):
    class Ctx:
        pass

    c = Ctx()
    c.driver = driver
    c.s = driver.start_app()
    c.files = tmp_path_factory.mktemp("files")
    c.downloads = tmp_path_factory.mktemp("downloads")
    yield c


def oss(ctx, bucket: str = BUCKET) -> oss2.Bucket:
    return oss2.Bucket(oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET), ctx.driver.endpoint, bucket)


def cli_env() -> dict[str, str]:
    """The CLI with nothing but its profile: no credentials from the environment."""
    return {k: v for k, v in os.environ.items() if not k.startswith("OSSVAULT_")}


def go(s, view: str) -> None:
    s.click(f'[data-testid="nav-{view}"]')
    s.find(f'[data-testid="{view}-page"]')


def badge(s, bucket: str, expected: str) -> str:
    """The bucket list's encryption badge, once it shows `expected` (refreshing the list); the
    last value seen if it never does."""
    go(s, "buckets")
    seen = []

    def probe():
        s.click('[data-testid="buckets-refresh"]')
        s.find(f'[data-testid="bucket-row-{bucket}"]')
        seen.append(s.attr(f'[data-testid="badge-encryption-{bucket}"]', "data-value"))
        return seen[-1] == expected

    try:
        s.wait(probe, 15, f"badge {expected}")
    except TimeoutError:
        pass
    return seen[-1] if seen else ""


def close_toasts(s) -> None:
    s.script("document.querySelectorAll('[data-testid^=\"toast-\"] button.icon').forEach(b => b.click())")


def test_first_launch_runs_the_embedded_server_with_secrets_in_the_keychain(ctx, screenshot):
    s = ctx.s
    assert ctx.driver.endpoint.startswith("http://127.0.0.1:")
    s.find('[data-testid="buckets-empty"]')
    s.find('[data-testid="server-running"]')
    # The root secret went to the keychain (gnome-keyring here), so no warning about files.
    assert ctx.driver.status["server"]["secrets"] == "keychain", ctx.driver.status
    assert not s.exists('[data-testid="banner-secrets-in-files"]')
    screenshot("en-01-buckets-empty")
    go(s, "settings")
    assert s.text('[data-testid="server-endpoint"]') == ctx.driver.endpoint
    assert s.text('[data-testid="server-https-endpoint"]').startswith("https://127.0.0.1:")
    screenshot("en-02-settings")
    # The CLI reaches the app's server through the profile `local` the app saved.
    out = subprocess.run(
        [str(cli_binary()), "ls", "--profile", "local"], capture_output=True, text=True, timeout=60, env=cli_env()
    )
    assert out.returncode == 0, out.stderr


def process_tree(pid: int) -> list[int]:
    """The process and its descendants (children are listed by the thread that started them)."""
    children = [c for t in Path(f"/proc/{pid}/task").glob("*/children") for c in t.read_text().split()]
    return [pid] + [p for c in children for p in process_tree(int(c))]


def test_without_a_gpu_only_the_page_process_loads_mesa(ctx):
    """webview_env: with no render node the app's own process draws without GL (no Mesa, no
    LLVM mapped), and WebKit's processes inherit the JavaScriptCore tiers."""
    dri = Path("/dev/dri")
    if dri.is_dir() and any(p.name.startswith("renderD") for p in dri.iterdir()):
        pytest.skip("this machine has a GPU render node: WebKit keeps its defaults")
    out = subprocess.run(["pgrep", "-n", "-f", f"^{app_binary()}"], capture_output=True, text=True)
    app = int(out.stdout.split()[0])
    mapped = Path(f"/proc/{app}/maps").read_text()
    assert "libLLVM" not in mapped and "swrast_dri" not in mapped
    pages = [p for p in process_tree(app) if Path(f"/proc/{p}/comm").read_text().startswith("WebKitWebProces")]
    assert pages, "no WebKitWebProcess under the app"
    environ = Path(f"/proc/{pages[0]}/environ").read_bytes().split(b"\0")
    assert b"JSC_useDFGJIT=false" in environ and b"GDK_GL=disable" in environ


def test_create_a_bucket_with_live_name_validation(ctx, screenshot):
    s = ctx.s
    go(s, "buckets")
    s.click('[data-testid="bucket-create"]')
    s.type('[data-testid="bucket-name-input"]', "Bad_Name")
    s.wait(lambda: s.attr('[data-testid="bucket-name-input"]', "aria-invalid") == "true", what="invalid name")
    assert "lowercase" in s.text('[data-testid="bucket-name-help"]')
    screenshot("en-03-create-bucket-invalid")
    s.type('[data-testid="bucket-name-input"]', BUCKET)
    s.click('[data-testid="bucket-create-submit"]')
    s.find(f'[data-testid="bucket-row-{BUCKET}"]')
    assert oss(ctx).get_bucket_info().name == BUCKET
    assert badge(s, BUCKET, "none") == "none"


def open_settings(s) -> None:
    go(s, "buckets")
    s.click(f'[data-testid="bucket-settings-{BUCKET}"]')
    s.find('[data-testid="sse-none"]')


def set_encryption(s, testid: str, key_id: str | None = None) -> None:
    open_settings(s)
    s.click(f'[data-testid="{testid}"]')
    if key_id is not None:
        s.type('[data-testid="sse-kms-key"]', key_id)
    s.click('[data-testid="sse-save"]')
    s.find('[data-testid="toast-success"]')
    close_toasts(s)
    s.click('[data-testid="bucket-settings-close"]')


def test_default_encryption_badge_agrees_with_get_bucket_encryption(ctx, screenshot):
    s = ctx.s
    set_encryption(s, "sse-aes256")
    assert badge(s, BUCKET, "AES256") == "AES256"
    rule = oss(ctx).get_bucket_encryption()
    assert rule.sse_algorithm == "AES256"

    # A CMK of the local KMS, made with the CLI through the profile `local` the app saved; the
    # settings offer it from the KMS's list.
    made = subprocess.run(
        [str(cli_binary()), "--json", "kms", "--profile", "local", "create", "--description", "e2e"],
        capture_output=True, text=True, timeout=60, env=cli_env(),
    )
    assert made.returncode == 0, made.stderr
    cmk = json.loads(made.stdout)["KeyId"]
    assert cmk in [k["keyId"] for k in s.invoke("list_kms_keys", {"connection": "local"})]
    set_encryption(s, "sse-kms", cmk)
    assert badge(s, BUCKET, "KMS") == "KMS"
    assert cmk[:8] in s.text(f'[data-testid="badge-encryption-{BUCKET}"]')
    rule = oss(ctx).get_bucket_encryption()
    assert (rule.sse_algorithm, rule.kms_master_keyid) == ("KMS", cmk)
    open_settings(s)
    screenshot("en-04-bucket-settings-kms")
    s.click('[data-testid="bucket-settings-close"]')

    set_encryption(s, "sse-none")
    assert badge(s, BUCKET, "none") == "none"
    with pytest.raises(oss2.exceptions.NoSuchServerSideEncryptionRule):
        oss(ctx).get_bucket_encryption()


def test_sm4_in_bucket_settings_and_a_warning_for_a_missing_cmk(ctx, screenshot):
    s = ctx.s
    # SSE-OSS with SM4 (国密).
    set_encryption(s, "sse-sm4")
    assert badge(s, BUCKET, "SM4") == "SM4"
    assert oss(ctx).get_bucket_encryption().sse_algorithm == "SM4"

    # SSE-KMS with SM4 data encryption, under the CMK made above.
    cmk = s.invoke("list_kms_keys", {"connection": "local"})[0]["keyId"]
    open_settings(s)
    s.click('[data-testid="sse-kms"]')
    s.type('[data-testid="sse-kms-key"]', cmk)
    s.click('[data-testid="sse-kms-sm4"]')
    s.click('[data-testid="sse-save"]')
    s.find('[data-testid="toast-success"]')
    close_toasts(s)
    assert not s.exists('[data-testid="sse-cmk-warning"]'), "the CMK exists: no warning"
    s.click('[data-testid="bucket-settings-close"]')
    rule = oss(ctx).get_bucket_encryption()
    assert (rule.sse_algorithm, rule.kms_master_keyid, rule.kms_data_encryption) == ("KMS", cmk, "SM4")
    assert badge(s, BUCKET, "KMS") == "KMS"
    assert "SM4" in s.text(f'[data-testid="badge-encryption-{BUCKET}"]')
    # Reopened, the settings show the choice as saved.
    open_settings(s)
    s.wait(lambda: s.script('return document.querySelector(\'[data-testid="sse-kms-sm4"]\').checked'), what="SM4 data box")

    # A CMK the local KMS does not have: saved all the same (as OSS does), with a warning.
    s.type('[data-testid="sse-kms-key"]', "no-such-cmk")
    s.click('[data-testid="sse-save"]')
    s.find('[data-testid="toast-success"]')
    close_toasts(s)
    warning = s.text('[data-testid="sse-cmk-warning"]')
    assert "no-such-cmk" in warning and "KmsKeyNotFound" in warning, warning
    screenshot("en-04b-bucket-settings-cmk-warning")
    s.click('[data-testid="bucket-settings-close"]')
    assert oss(ctx).get_bucket_encryption().kms_master_keyid == "no-such-cmk"
    with pytest.raises(oss2.exceptions.OssError) as refused:
        oss(ctx).put_object("refused.txt", b"no key yet")
    assert refused.value.code == "KmsKeyNotFound"

    set_encryption(s, "sse-none")
    assert badge(s, BUCKET, "none") == "none"


def test_https_only_refuses_plain_http(ctx, screenshot):
    s = ctx.s
    open_settings(s)
    s.click('[data-testid="https-only-toggle"]')
    s.find('[data-testid="toast-success"]')
    close_toasts(s)
    s.click('[data-testid="bucket-settings-close"]')
    go(s, "buckets")
    s.click('[data-testid="buckets-refresh"]')
    s.find(f'[data-testid="badge-https-{BUCKET}"]')
    with pytest.raises(oss2.exceptions.AccessDenied):
        oss(ctx).put_object("over-http.txt", b"refused")
    screenshot("en-05-buckets-badges")
    # The app itself goes on working (it speaks HTTPS to its server): lift it for the SDK checks.
    open_settings(s)
    s.click('[data-testid="https-only-toggle"]')
    s.find('[data-testid="toast-success"]')
    close_toasts(s)
    s.click('[data-testid="bucket-settings-close"]')
    oss(ctx).put_object("over-http.txt", b"allowed again")


def wait_transfers_done(s, ids: list[int], timeout: float = 120) -> list[dict]:
    def done():
        rows = [t for t in s.invoke("list_transfers") if t["id"] in ids]
        states = {t["state"]["state"] for t in rows}
        assert "failed" not in states, rows
        return rows if len(rows) == len(ids) and states == {"completed"} else None

    return s.wait(done, timeout, f"transfers {ids}")


def drop(s, paths: list[Path]) -> None:
    """What dropping files on the window does (a WebDriver session cannot drag OS files)."""
    s.script("window.ossvaultDrop(arguments[0])", [str(p) for p in paths])
    s.find('[data-testid="upload-dialog"]')


def open_bucket(s, prefix_clicks: list[str] = ()) -> None:
    go(s, "buckets")
    s.click(f'[data-testid="bucket-open-{BUCKET}"]')
    s.find('[data-testid="browser-page"]')
    for name in prefix_clicks:
        s.click(f'[data-testid="open-{name}"]')


def test_upload_plain_and_client_side_encrypted_through_the_path_command(ctx, screenshot):
    s = ctx.s
    key = subprocess.run(
        [str(cli_binary()), "key", "gen", "--name", "e2e-key"], capture_output=True, text=True, timeout=120, env=cli_env()
    )
    assert key.returncode == 0, key.stderr
    ctx.plain = ctx.files / "plain.txt"
    ctx.plain.write_bytes(os.urandom(200_000))
    album = ctx.files / "album"
    (album / "2026").mkdir(parents=True)
    (album / "cover.jpg").write_bytes(os.urandom(50_000))
    (album / "2026" / "beach.jpg").write_bytes(os.urandom(70_000))
    ctx.secret = ctx.files / "secret.bin"
    ctx.secret.write_bytes(os.urandom(3 * 1024 * 1024 + 17))

    open_bucket(s)
    drop(s, [ctx.plain, album])
    s.click('[data-testid="cse-none"]')
    screenshot("en-06-upload-dialog")
    s.click('[data-testid="upload-start"]')
    # One transfer per file: plain.txt and the folder's two files.
    plain_ids = s.wait(lambda: [t["id"] for t in s.invoke("list_transfers")] if len(s.invoke("list_transfers")) == 3 else None, what="three transfers")
    wait_transfers_done(s, plain_ids)

    drop(s, [ctx.secret])
    # The default key is preselected: encryption is on unless switched off.
    s.wait(lambda: s.script("return document.querySelector('[data-testid=\"cse-key\"]').checked"), what="key preselected")
    s.click('[data-testid="upload-start"]')
    ids = s.wait(lambda: [t["id"] for t in s.invoke("list_transfers") if t["key"] == "secret.bin"], what="secret transfer")
    wait_transfers_done(s, ids)

    b = oss(ctx)
    assert b.get_object("plain.txt").read() == ctx.plain.read_bytes()
    assert b.get_object("album/2026/beach.jpg").read() == (album / "2026" / "beach.jpg").read_bytes()
    stored = b.get_object("secret.bin")
    assert stored.read() != ctx.secret.read_bytes(), "the object must be stored encrypted"
    meta = {k.lower(): v for k, v in stored.headers.items()}
    # The sealed format's envelope, with the fingerprint of the key that opens it.
    assert "x-oss-meta-ossvault-cse-key-fingerprint" in meta, " ".join(sorted(meta))
    go(s, "transfers")
    s.find('[data-state="completed"]')
    screenshot("en-07-transfers")


def test_an_upload_can_ask_for_server_side_encryption_over_the_bucket_default(ctx, screenshot):
    s = ctx.s
    b = oss(ctx)
    # The bucket's default encryption is off by now (the badge test switched it off).
    expected = {"aes256": "AES256", "sm4": "SM4", "kms": "KMS"}
    for name, choice in (("sse-aes.txt", "aes256"), ("sse-sm4.txt", "sm4"), ("sse-kms.txt", "kms")):
        path = ctx.files / name
        path.write_bytes(os.urandom(10_000))
        open_bucket(s)
        drop(s, [path])
        s.click('[data-testid="cse-none"]')
        s.click(f'[data-testid="upload-sse-{choice}"]')
        if choice == "kms":
            s.find('[data-testid="upload-sse-kms-key"]')
            screenshot("en-06b-upload-dialog-sse-kms")
        s.click('[data-testid="upload-start"]')
        ids = s.wait(lambda: [t["id"] for t in s.invoke("list_transfers") if t["key"] == name], what=name)
        wait_transfers_done(s, ids)
        # The row shows the server-side encryption too.
        open_bucket(s)
        shown = s.wait(lambda: s.attr(f'[data-testid="badge-sse-{name}"]', "data-value"), what=f"badge of {name}")
        assert shown == expected[choice], shown
        if choice == "kms":
            screenshot("en-06c-browser-sse-badges")
        head = b.head_object(name)
        assert head.headers.get("x-oss-server-side-encryption") == expected[choice], head.headers
        assert b.get_object(name).read() == path.read_bytes()
        b.delete_object(name)
    # Nothing asked: the bucket's default (none).
    path = ctx.files / "sse-none.txt"
    path.write_bytes(b"plain")
    open_bucket(s)
    drop(s, [path])
    s.click('[data-testid="cse-none"]')
    s.click('[data-testid="upload-start"]')
    ids = s.wait(lambda: [t["id"] for t in s.invoke("list_transfers") if t["key"] == "sse-none.txt"], what="sse-none.txt")
    wait_transfers_done(s, ids)
    assert "x-oss-server-side-encryption" not in {k.lower() for k in b.head_object("sse-none.txt").headers}
    b.delete_object("sse-none.txt")


def test_browse_folders_and_see_the_encryption_in_properties(ctx, screenshot):
    s = ctx.s
    open_bucket(s, ["album/"])
    # The CLI made a key since the start: the first-run offer of one is gone.
    s.wait(lambda: not s.exists('[data-testid="first-run-key-prompt"]'), what="no first-run offer")
    s.find('[data-testid="row-cover.jpg"]')
    s.click('[data-testid="open-2026/"]')
    s.find('[data-testid="row-beach.jpg"]')
    assert s.exists('[data-testid="crumb-2026"]')
    screenshot("en-08-browser-folder")
    s.click('[data-testid="crumb-root"]')
    # The rows carry their encryption: the key that opens secret.bin, nothing on plain.txt.
    key = s.wait(lambda: s.attr('[data-testid="badge-cse-secret.bin"]', "data-value"), what="row badge")
    assert key.startswith("e2e-key@v"), key
    s.find('[data-testid="row-plain.txt"]')
    assert not s.exists('[data-testid="badge-cse-plain.txt"]')
    assert not s.exists('[data-testid="badge-sse-plain.txt"]')
    s.click('[data-testid="row-secret.bin"]')
    s.click('[data-testid="properties"]')
    cse = s.wait(lambda: s.attr('[data-testid="props-cse"]', "data-value"), what="properties")
    assert cse == "sealed"
    assert s.text('[data-testid="props-cse-key"]').startswith("e2e-key@v")
    screenshot("en-09-properties")
    s.click('[data-testid="properties-close"]')


def put_props_objects(ctx) -> None:
    """Objects whose properties the panel shows: tagged, Infrequent Access, Archive."""
    b = oss(ctx)
    b.put_object("props/tagged.txt", b"t", headers={"x-oss-tagging": "project=%E6%98%93&tier=gold"})
    b.put_object("props/ia.txt", b"i", headers={"x-oss-storage-class": "IA"})
    b.put_object("props/cold.txt", b"c", headers={"x-oss-storage-class": "Archive"})


def show_properties(s, name: str) -> None:
    s.click(f'[data-testid="row-{name}"]')
    s.click('[data-testid="properties"]')
    s.wait(lambda: s.exists('[data-testid="props-key"]') and s.text('[data-testid="props-key"]').endswith(name), what=f"properties of {name}")


def test_properties_show_tags_and_storage_class(ctx, screenshot):
    s = ctx.s
    put_props_objects(ctx)
    open_bucket(s, ["props/"])
    show_properties(s, "tagged.txt")
    tags = dict(zip(s.script("return [...document.querySelectorAll('[data-testid=\"props-tag-key\"]')].map(e => e.textContent)"),
                    s.script("return [...document.querySelectorAll('[data-testid=\"props-tag-value\"]')].map(e => e.textContent)")))
    assert tags == {"project": "易", "tier": "gold"}, tags
    assert s.attr('[data-testid="props-storage-class"]', "data-value") == "Standard"
    assert not s.exists('[data-testid="props-restore"]')
    # The bucket was never versioned: the one (null) version.
    assert s.text('[data-testid="props-versions"]') == "1"
    screenshot("en-09b-properties-tags")
    show_properties(s, "ia.txt")
    s.wait(lambda: s.attr('[data-testid="props-storage-class"]', "data-value") == "IA", what="IA class")
    assert "Infrequent Access" in s.text('[data-testid="props-storage-class"]')
    s.find('[data-testid="props-tags-none"]')
    show_properties(s, "cold.txt")
    s.wait(lambda: s.attr('[data-testid="props-restore"]', "data-value") == "frozen", what="archived, not restored")
    oss(ctx).restore_object("props/cold.txt")
    s.click('[data-testid="properties-close"]')
    show_properties(s, "cold.txt")
    s.wait(lambda: s.attr('[data-testid="props-restore"]', "data-value") == "ongoing", what="restore ongoing")
    screenshot("en-09c-properties-archive")
    s.click('[data-testid="properties-close"]')


def test_download_decrypts_and_matches_byte_for_byte(ctx):
    s = ctx.s
    open_bucket(s)
    s.click('[data-testid="row-secret.bin"]')
    s.click('[data-testid="row-plain.txt"]')
    # Ctrl-click is what adds to a selection; the script does what the dialog's answer does.
    s.script(
        "const row = document.querySelector('[data-testid=\"row-secret.bin\"]');"
        "row.dispatchEvent(new MouseEvent('click', {bubbles: true, ctrlKey: true}));"
    )
    s.wait(lambda: "2" in s.text('[data-testid="browser-status"]'), what="two selected")
    s.script_async("const done = arguments[arguments.length - 1]; window.ossvaultDownloadTo(arguments[0]).then(() => done(true));", str(ctx.downloads))
    s.wait(lambda: (ctx.downloads / "secret.bin").exists() and (ctx.downloads / "plain.txt").exists(), 60, "downloads")
    s.wait(lambda: (ctx.downloads / "secret.bin").read_bytes() == ctx.secret.read_bytes(), 30, "decrypted secret.bin")
    assert (ctx.downloads / "plain.txt").read_bytes() == ctx.plain.read_bytes()


def test_delete_objects(ctx, screenshot):
    s = ctx.s
    open_bucket(s)
    s.click('[data-testid="row-plain.txt"]')
    s.click('[data-testid="delete"]')
    s.find('[data-testid="delete-objects-dialog"]')
    screenshot("en-10-delete-confirm")
    s.click('[data-testid="delete-objects-submit"]')
    s.wait(lambda: not s.exists('[data-testid="row-plain.txt"]'), what="row gone")
    assert not oss(ctx).object_exists("plain.txt")
    assert oss(ctx).object_exists("secret.bin")


def add_connection(s, name: str, endpoint: str, secret: str) -> None:
    go(s, "connections")
    s.click('[data-testid="connection-add"]')
    s.type('[data-testid="conn-name"]', name)
    s.type('[data-testid="conn-endpoint"]', endpoint)
    s.type('[data-testid="conn-key-id"]', ACCESS_KEY_ID)
    s.type('[data-testid="conn-secret"]', secret)
    s.click('[data-testid="conn-save"]')
    s.find(f'[data-testid="connection-{name}"]')


def test_remote_connections_add_test_switch_and_remove(ctx, screenshot):
    s = ctx.s
    # A "remote" connection that is the app's own server over plain HTTP, as a profile.
    add_connection(s, "loopback", ctx.driver.endpoint, ACCESS_KEY_SECRET)
    assert s.invoke("test_connection", {"name": "loopback"}) == 1
    # Its secret went to the keychain: the CLI's profiles file does not hold it.
    profiles = (Path.home() / ".config" / "ossvault" / "config.toml").read_text()
    assert "[profiles.loopback]" in profiles and ACCESS_KEY_SECRET not in profiles
    # One that cannot be reached: switching to it shows the banner.
    add_connection(s, "nowhere", "http://127.0.0.1:9", "whatever")
    screenshot("en-11-connections")
    s.select('[data-testid="connection-switcher"]', "nowhere")
    s.find('[data-testid="banner-unreachable"]', timeout=60)
    screenshot("en-12-unreachable-banner")
    s.select('[data-testid="connection-switcher"]', "loopback")
    s.wait(lambda: not s.exists('[data-testid="banner-unreachable"]'), 30, "banner gone")
    s.find(f'[data-testid="bucket-row-{BUCKET}"]')
    s.select('[data-testid="connection-switcher"]', "local")
    for name in ("loopback", "nowhere"):
        go(s, "connections")
        s.click(f'[data-testid="connection-remove-{name}"]')
        s.click('[data-testid="connection-remove-submit"]')
        s.wait(lambda: not s.exists(f'[data-testid="connection-{name}"]'), what=f"{name} removed")


def test_switch_language_and_theme_and_every_screen_in_chinese(ctx, screenshot):
    s = ctx.s
    go(s, "settings")
    s.select('[data-testid="language-select"]', "zh-CN")
    s.wait(lambda: s.text('[data-testid="nav-buckets"]') == "存储空间", what="Chinese navigation")
    assert s.script("return document.documentElement.lang") == "zh-CN"
    screenshot("zh-02-settings")
    go(s, "buckets")
    s.find(f'[data-testid="bucket-row-{BUCKET}"]')
    screenshot("zh-05-buckets-badges")
    s.click('[data-testid="bucket-create"]')
    s.type('[data-testid="bucket-name-input"]', "-bad")
    s.wait(lambda: "短划线" in s.text('[data-testid="bucket-name-help"]'), what="Chinese validation")
    screenshot("zh-03-create-bucket-invalid")
    s.script("document.querySelector('[data-testid=\"create-bucket-dialog\"] button.close').click()")
    open_settings(s)
    s.click('[data-testid="sse-kms"]')
    s.click('[data-testid="sse-kms-sm4"]')
    screenshot("zh-04-bucket-settings")
    s.click('[data-testid="bucket-settings-close"]')
    open_bucket(s, ["props/"])
    show_properties(s, "tagged.txt")
    s.find('[data-testid="props-tags"]')
    screenshot("zh-09b-properties-tags")
    show_properties(s, "cold.txt")
    s.wait(lambda: s.attr('[data-testid="props-restore"]', "data-value"), what="restore state")
    assert "归档" in s.text('[data-testid="props-storage-class"]')
    screenshot("zh-09c-properties-archive")
    s.click('[data-testid="properties-close"]')
    open_bucket(s, ["album/"])
    s.find('[data-testid="row-cover.jpg"]')
    screenshot("zh-08-browser-folder")
    s.click('[data-testid="crumb-root"]')
    s.click('[data-testid="row-secret.bin"]')
    s.click('[data-testid="properties"]')
    s.wait(lambda: s.attr('[data-testid="props-cse"]', "data-value"), what="properties")
    screenshot("zh-09-properties")
    drop(s, [ctx.plain])
    screenshot("zh-06-upload-dialog")
    s.script("document.querySelector('[data-testid=\"upload-dialog\"] button.close').click()")
    go(s, "transfers")
    screenshot("zh-07-transfers")
    go(s, "connections")
    screenshot("zh-11-connections")

    go(s, "settings")
    s.select('[data-testid="theme-select"]', "dark")
    s.wait(lambda: s.script("return document.documentElement.dataset.theme") == "dark", what="dark theme")
    go(s, "buckets")
    s.find(f'[data-testid="bucket-row-{BUCKET}"]')
    screenshot("zh-12-buckets-dark")
    open_bucket(s)
    screenshot("zh-13-browser-dark")
    # The CMK warning and the properties panel, dark.
    open_settings(s)
    s.click('[data-testid="sse-kms"]')
    s.type('[data-testid="sse-kms-key"]', "no-such-cmk")
    s.click('[data-testid="sse-kms-sm4"]')
    s.click('[data-testid="sse-save"]')
    s.find('[data-testid="sse-cmk-warning"]')
    close_toasts(s)
    screenshot("zh-14-bucket-settings-cmk-warning-dark")
    s.click('[data-testid="sse-none"]')
    s.click('[data-testid="sse-save"]')
    s.wait(lambda: not s.exists('[data-testid="sse-cmk-warning"]'), what="warning gone")
    close_toasts(s)
    s.click('[data-testid="bucket-settings-close"]')
    open_bucket(s, ["props/"])
    show_properties(s, "tagged.txt")
    s.find('[data-testid="props-tags"]')
    screenshot("zh-15-properties-tags-dark")
    s.click('[data-testid="properties-close"]')
    go(s, "settings")
    s.select('[data-testid="language-select"]', "en")
    s.wait(lambda: s.text('[data-testid="nav-buckets"]') == "Buckets", what="English navigation")
    open_bucket(s)
    screenshot("en-13-browser-dark")
    open_bucket(s, ["props/"])
    show_properties(s, "ia.txt")
    s.wait(lambda: "Infrequent Access" in s.text('[data-testid="props-storage-class"]'), what="IA in English")
    screenshot("en-15-properties-ia-dark")
    s.click('[data-testid="properties-close"]')
    go(s, "settings")
    s.select('[data-testid="theme-select"]', "light")


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def set_upload_limit(s, limit: int | None) -> None:
    saved = s.invoke("settings_get")["settings"]
    s.invoke("settings_set", {"settings": {**saved, "transfers": {**saved["transfers"], "uploadLimit": limit}}})


def test_restart_mid_transfer_resumes(ctx, screenshot):
    s = ctx.s
    big = ctx.files / "big.bin"
    with open(big, "wb") as f:
        for _ in range(384):
            f.write(os.urandom(1 << 20))
    # Paced at 24 MiB/s (a setting that survives the restart): 12 MiB parts, 4 in flight, so
    # 96 MiB done means whole parts are stored, and the rest takes ~12 s: time to restart.
    set_upload_limit(s, 24 << 20)
    open_bucket(s)
    drop(s, [big])
    s.click('[data-testid="cse-none"]')
    s.click('[data-testid="upload-start"]')

    def running():
        rows = [t for t in s.invoke("list_transfers") if t["key"] == "big.bin"]
        return rows[0] if rows and rows[0]["state"]["state"] == "running" and rows[0]["done"] >= 96 << 20 else None

    before = s.wait(running, 120, "big.bin running")
    go(s, "transfers")
    # Speed and time left, each set off by " · ".
    s.wait(lambda: re.search(r"/s · .+ left", s.text(f'[data-testid="transfer-{before["id"]}"]')), 15, "speed · time left")
    screenshot("en-14-transfer-running")
    assert before["done"] < before["total"], "the transfer finished before the restart: make the file bigger"
    ctx.driver.stop_app()

    s = ctx.s = ctx.driver.start_app()
    go(s, "transfers")
    s.find('[data-testid^="transfer-"]')
    try:
        rows = wait_transfers_done(s, [before["id"]], timeout=300)
    finally:
        set_upload_limit(s, None)
    assert rows[0]["parts_resumed"] > 0, rows[0]
    b = oss(ctx)
    assert b.head_object("big.bin").content_length == big.stat().st_size
    h = hashlib.sha256()
    for chunk in b.get_object("big.bin"):
        h.update(chunk)
    assert h.hexdigest() == sha256_of(big)


def test_delete_a_non_empty_bucket_only_after_its_name_is_typed(ctx, screenshot):
    s = ctx.s
    oss2.Bucket(oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET), ctx.driver.endpoint, "e2e-scratch").create_bucket()
    oss(ctx, "e2e-scratch").put_object("left/behind.txt", b"still here")
    go(s, "buckets")
    s.click('[data-testid="buckets-refresh"]')
    s.click('[data-testid="bucket-delete-e2e-scratch"]')
    s.click('[data-testid="bucket-delete-submit"]')
    # Refused: the bucket is not empty, and says so; it is still there.
    s.find('[data-testid="bucket-not-empty"]')
    assert oss(ctx, "e2e-scratch").object_exists("left/behind.txt")
    s.type('[data-testid="bucket-delete-confirm-input"]', "e2e-scratc")
    assert s.attr('[data-testid="bucket-delete-submit"]', "disabled") is not None
    screenshot("en-15-delete-non-empty-bucket")
    s.type('[data-testid="bucket-delete-confirm-input"]', "e2e-scratch")
    s.click('[data-testid="bucket-delete-submit"]')
    s.wait(lambda: not s.exists('[data-testid="bucket-row-e2e-scratch"]'), 30, "bucket gone")
    with pytest.raises(oss2.exceptions.NoSuchBucket):
        oss(ctx, "e2e-scratch").get_bucket_info()


def close_dialog(s, testid: str) -> None:
    s.script(f"document.querySelector('[data-testid=\"{testid}\"] button.close').click()")
    s.wait(lambda: not s.exists(f'[data-testid="{testid}"]'), what=f"{testid} closed")


def key_list_of_the_cli() -> dict[str, str]:
    """name -> fingerprint, as the CLI lists the same keychain."""
    out = subprocess.run([str(cli_binary()), "key", "ls", "--json"], capture_output=True, text=True, timeout=120, env=cli_env())
    assert out.returncode == 0, out.stderr
    return {k["name"]: k["fingerprint"] for k in map(json.loads, out.stdout.splitlines()) if k}


def test_keys_generate_back_up_restore_and_delete_with_the_typed_name(ctx, screenshot):
    s = ctx.s
    go(s, "keys")
    # The key the CLI made earlier is listed, with the CLI's fingerprint.
    s.find('[data-testid="key-row-e2e-key"]')
    assert s.attr('[data-testid="key-fingerprint-e2e-key"]', "data-value") == key_list_of_the_cli()["e2e-key"]

    s.click('[data-testid="key-generate"]')
    s.type('[data-testid="key-name-input"]', "app-rsa")
    s.select('[data-testid="key-kind-select"]', "RSA-2048")
    screenshot("en-16-key-generate")
    s.click('[data-testid="key-generate-submit"]')
    s.find('[data-testid="key-row-app-rsa"]', timeout=60)
    fingerprint = s.attr('[data-testid="key-fingerprint-app-rsa"]', "data-value")
    assert len(fingerprint) >= 32 and fingerprint == key_list_of_the_cli()["app-rsa"]
    assert s.text('[data-testid="key-fingerprint-app-rsa"]').replace(" ", "").rstrip("…") == fingerprint[:16]

    s.click('[data-testid="key-public-app-rsa"]')
    s.wait(lambda: s.exists('[data-testid="key-public-pem"]'), what="public key")
    assert s.text('[data-testid="key-public-pem"]').startswith("-----BEGIN PUBLIC KEY-----")
    screenshot("en-17-key-public")
    close_dialog(s, "key-public-dialog")

    # A backup in a file: the passphrase typed twice; a differing second one keeps it disabled.
    backup = ctx.files / "app-rsa.ossvault-key.age"
    s.click('[data-testid="key-export-app-rsa"]')
    s.type('[data-testid="key-passphrase-input"]', "short")
    assert s.attr('[data-testid="key-passphrase-strength"]', "data-value") == "weak"
    s.type('[data-testid="key-passphrase-input"]', "correct horse battery staple")
    assert s.attr('[data-testid="key-passphrase-strength"]', "data-value") == "strong"
    s.type('[data-testid="key-passphrase-confirm"]', "correct horse battery stable")
    s.type('[data-testid="key-path-input"]', str(backup))
    assert s.attr('[data-testid="key-export-submit"]', "disabled") is not None
    s.type('[data-testid="key-passphrase-confirm"]', "correct horse battery staple")
    screenshot("en-18-key-export")
    s.click('[data-testid="key-export-submit"]')
    s.wait(lambda: not s.exists('[data-testid="key-export-dialog"]'), 60, "backup written")
    sealed = backup.read_bytes()
    assert sealed.startswith(b"age-encryption.org/v1") and b"PRIVATE KEY" not in sealed
    assert backup.stat().st_mode & 0o777 == 0o600

    # Deleted only once the name is typed exactly.
    close_toasts(s)
    s.click('[data-testid="key-delete-app-rsa"]')
    s.type('[data-testid="key-delete-confirm-input"]', "app-rs")
    assert s.attr('[data-testid="key-delete-submit"]', "disabled") is not None
    screenshot("en-19-key-delete")
    s.type('[data-testid="key-delete-confirm-input"]', "app-rsa")
    s.click('[data-testid="key-delete-submit"]')
    s.wait(lambda: not s.exists('[data-testid="key-row-app-rsa"]'), 30, "key gone")
    # Restored from the file under another name: the same fingerprint (the keystore refuses a
    # second copy of the same key, so this comes after the deletion); a wrong passphrase is refused in words.
    s.click('[data-testid="key-restore"]')
    s.type('[data-testid="key-path-input"]', str(backup))
    s.type('[data-testid="key-passphrase-input"]', "wrong")
    s.type('[data-testid="key-name-input"]', "app-rsa-restored")
    s.click('[data-testid="key-restore-submit"]')
    assert s.attr('[data-testid="key-dialog-error"]', "data-code") == "WrongPassphrase"
    s.type('[data-testid="key-passphrase-input"]', "correct horse battery staple")
    s.click('[data-testid="key-restore-submit"]')

    def restored():
        if s.exists('[data-testid="key-restore-dialog"]'):
            return None
        return True

    try:
        s.wait(restored, 60, "backup restored")
    except TimeoutError:
        raise AssertionError(s.script("return document.querySelector('[data-testid=\"key-restore-dialog\"]').innerText"))
    s.find('[data-testid="key-row-app-rsa-restored"]')
    assert s.attr('[data-testid="key-fingerprint-app-rsa-restored"]', "data-value") == fingerprint

    listed = key_list_of_the_cli()
    assert listed.get("app-rsa-restored") == fingerprint and "app-rsa" not in listed

    # Renamed: the new name is checked as it is typed (taken, not a valid name); the key keeps
    # its fingerprint, and the CLI lists it under the new name.
    close_toasts(s)
    s.click('[data-testid="key-rename-app-rsa-restored"]')
    assert s.script("return document.querySelector('[data-testid=\"key-rename-input\"]').value") == "app-rsa-restored"
    assert s.attr('[data-testid="key-rename-submit"]', "disabled") is not None
    s.type('[data-testid="key-rename-input"]', "e2e-key")
    assert s.attr('[data-testid="key-rename-problem"]', "data-problem") == "taken"
    assert s.attr('[data-testid="key-rename-submit"]', "disabled") is not None
    s.type('[data-testid="key-rename-input"]', "app rsa")
    assert s.attr('[data-testid="key-rename-problem"]', "data-problem") == "chars"
    screenshot("en-20a-key-rename-invalid")
    s.type('[data-testid="key-rename-input"]', "app-rsa-renamed")
    assert not s.exists('[data-testid="key-rename-problem"]')
    screenshot("en-20b-key-rename")
    s.click('[data-testid="key-rename-submit"]')
    s.wait(lambda: not s.exists('[data-testid="key-rename-dialog"]'), 30, "key renamed")
    s.find('[data-testid="key-row-app-rsa-renamed"]')
    assert not s.exists('[data-testid="key-row-app-rsa-restored"]')
    assert s.attr('[data-testid="key-fingerprint-app-rsa-renamed"]', "data-value") == fingerprint
    listed = key_list_of_the_cli()
    assert listed.get("app-rsa-renamed") == fingerprint and "app-rsa-restored" not in listed
    close_toasts(s)
    screenshot("en-20-keys")


def kms_state(s, key_id: str) -> str:
    return s.attr(f'[data-testid="kms-state-{key_id}"]', "data-value")


def test_kms_create_disable_enable_and_an_sse_kms_object_follows(ctx, screenshot):
    s = ctx.s
    go(s, "kms")
    s.click('[data-testid="kms-create"]')
    s.type('[data-testid="kms-description-input"]', "e2e photos")
    s.click('[data-testid="kms-create-submit"]')
    key_id = s.wait(
        lambda: next((k["keyId"] for k in s.invoke("kms_list_keys", {"connection": "local"}) if k["description"] == "e2e photos"), None),
        what="CMK created",
    )
    s.find(f'[data-testid="kms-row-{key_id}"]')
    assert kms_state(s, key_id) == "Enabled"

    b = oss(ctx)
    b.put_object(
        "kms/report.txt",
        b"under a CMK",
        headers={"x-oss-server-side-encryption": "KMS", "x-oss-server-side-encryption-key-id": key_id},
    )
    assert b.get_object("kms/report.txt").read() == b"under a CMK"

    s.click(f'[data-testid="kms-disable-{key_id}"]')
    s.wait(lambda: kms_state(s, key_id) == "Disabled", what="disabled")
    with pytest.raises(oss2.exceptions.OssError):
        b.get_object("kms/report.txt").read()
    close_toasts(s)
    screenshot("en-21-kms")
    s.click(f'[data-testid="kms-enable-{key_id}"]')
    s.wait(lambda: kms_state(s, key_id) == "Enabled", what="enabled")
    assert b.get_object("kms/report.txt").read() == b"under a CMK"

    # Deletion: 6 days is refused by the form; 7 schedules it; cancelling enables it again.
    s.click(f'[data-testid="kms-schedule-deletion-{key_id}"]')
    s.type('[data-testid="kms-days-input"]', "6")
    assert s.attr('[data-testid="kms-schedule-submit"]', "disabled") is not None
    s.type('[data-testid="kms-days-input"]', "7")
    s.click('[data-testid="kms-schedule-submit"]')
    s.wait(lambda: kms_state(s, key_id) == "PendingDeletion", what="pending deletion")
    close_toasts(s)
    screenshot("en-22-kms-pending-deletion")
    s.click(f'[data-testid="kms-cancel-deletion-{key_id}"]')
    s.wait(lambda: kms_state(s, key_id) == "Enabled", what="deletion cancelled")

    s.click('[data-testid="kms-rotate-master"]')
    s.click('[data-testid="kms-rotate-submit"]')
    s.find('[data-testid="kms-rotate-result"]', timeout=60)
    screenshot("en-23-kms-rotated")
    close_dialog(s, "kms-rotate-dialog")
    close_toasts(s)


def test_rotate_a_key_and_rewrap_a_bucket_without_reupload(ctx, screenshot):
    s = ctx.s
    b = oss(ctx)
    before = {k.lower(): v for k, v in b.head_object("secret.bin").headers.items()}
    old_fp = before["x-oss-meta-ossvault-cse-key-fingerprint"]
    go(s, "keys")
    assert s.attr('[data-testid="key-fingerprint-e2e-key"]', "data-value") == old_fp
    s.click('[data-testid="key-rotate-e2e-key"]')
    s.click('[data-testid="key-rewrap"]')
    s.wait(lambda: s.script("return document.querySelector('[data-testid=\"key-rewrap-bucket\"]')?.value") == BUCKET, what="bucket chosen")
    s.click('[data-testid="key-rotate-submit"]')
    s.find('[data-testid="key-rewrap-result"]', timeout=120)
    screenshot("en-25-key-rotated-rewrap")
    assert s.attr('[data-testid="key-rewrap-result"]', "data-failed") == "0"
    assert int(s.attr('[data-testid="key-rewrap-result"]', "data-rewrapped")) >= 1
    s.script("document.querySelector('[data-testid=\"key-rotate-dialog\"] footer button').click()")
    new_fp = s.wait(lambda: (lambda v: v if v and v != old_fp else None)(s.attr('[data-testid="key-fingerprint-e2e-key"]', "data-value")), what="new version listed")
    assert s.text('[data-testid="key-versions-e2e-key"]').startswith("v2")
    after = {k.lower(): v for k, v in b.head_object("secret.bin").headers.items()}
    assert after["x-oss-meta-ossvault-cse-key-fingerprint"] == new_fp
    # Still opens: the CLI reads it back with the rotated key, byte for byte.
    out = ctx.downloads / "secret-after-rewrap.bin"
    cp = subprocess.run(
        [str(cli_binary()), "cp", "--profile", "local", f"oss://{BUCKET}/secret.bin", str(out)],
        capture_output=True, text=True, timeout=120, env=cli_env(),
    )
    assert cp.returncode == 0, cp.stderr
    assert out.read_bytes() == ctx.secret.read_bytes()
    close_toasts(s)


def test_keys_and_kms_in_chinese_and_dark(ctx, screenshot):
    s = ctx.s
    go(s, "settings")
    s.select('[data-testid="language-select"]', "zh-CN")
    s.wait(lambda: s.text('[data-testid="nav-keys"]') == "密钥", what="Chinese navigation")
    go(s, "keys")
    s.find('[data-testid="key-row-app-rsa-renamed"]')
    screenshot("zh-20-keys")
    s.click('[data-testid="key-export-app-rsa-renamed"]')
    s.type('[data-testid="key-passphrase-input"]', "abcdefghijklm")
    screenshot("zh-18-key-export")
    close_dialog(s, "key-export-dialog")
    s.click('[data-testid="key-rename-app-rsa-renamed"]')
    s.type('[data-testid="key-rename-input"]', "e2e-key")
    assert s.attr('[data-testid="key-rename-problem"]', "data-problem") == "taken"
    screenshot("zh-20a-key-rename-taken")
    s.type('[data-testid="key-rename-input"]', "app-rsa-2")
    screenshot("zh-20b-key-rename")
    close_dialog(s, "key-rename-dialog")
    go(s, "kms")
    s.find('[data-testid^="kms-row-"]')
    screenshot("zh-21-kms")
    go(s, "settings")
    s.select('[data-testid="theme-select"]', "dark")
    s.wait(lambda: s.script("return document.documentElement.dataset.theme") == "dark", what="dark theme")
    go(s, "keys")
    s.find('[data-testid="key-row-app-rsa-renamed"]')
    screenshot("zh-22-keys-dark")
    s.click('[data-testid="key-rename-app-rsa-renamed"]')
    s.type('[data-testid="key-rename-input"]', "-x")
    screenshot("zh-22a-key-rename-dark")
    close_dialog(s, "key-rename-dialog")
    go(s, "kms")
    s.find('[data-testid^="kms-row-"]')
    screenshot("zh-23-kms-dark")
    go(s, "settings")
    s.select('[data-testid="language-select"]', "en")
    s.wait(lambda: s.text('[data-testid="nav-keys"]') == "Keys", what="English navigation")
    go(s, "keys")
    screenshot("en-24-keys-dark")
    go(s, "settings")
    s.select('[data-testid="theme-select"]', "light")
