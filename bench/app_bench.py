"""Desktop app figures (not a test), each next to a reference measured in the same run where one
exists. Run it through bench/app_bench.sh (display, keyring, throw-away HOME), see its header.

Parts (BENCH_PARTS, comma-separated, default all):
  start   cold start to an interactive bucket list, with its timeline (process start, server
          up, page load, first commands answered), and the idle memory (PSS of the app and
          every WebKit process); reference: MiniBrowser (WebKitGTK's own minimal browser)
          started through WebKitWebDriver the same way.
  list    first page of a BENCH_OBJECTS-object prefix, then a scroll to its end with the frame
          times (requestAnimationFrame deltas collected in the page while it scrolls).
  upload  a BENCH_UPLOAD_MIB file uploaded through the app (`upload_paths`, to completion)
          next to `ossvault cp` of the same file, alternated.
  sync    BENCH_PAIRS sync pairs holding BENCH_SYNC_FILES files in all, synced, then the app
          idle for 60 s (CPU % of one core over all its processes, PSS); then one pair syncs
          BENCH_NEW_FILES new files while clicks are timed and the status on screen is compared
          with the engine's.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "e2e"))
from conftest import Driver, app_binary, cli_binary, free_port  # noqa: E402

OBJECTS = int(os.environ.get("BENCH_OBJECTS", "100000"))
UPLOAD_MIB = int(os.environ.get("BENCH_UPLOAD_MIB", "1024"))
PAIRS = int(os.environ.get("BENCH_PAIRS", "10"))
SYNC_FILES = int(os.environ.get("BENCH_SYNC_FILES", "50000"))
NEW_FILES = int(os.environ.get("BENCH_NEW_FILES", "10000"))
IDLE_S = int(os.environ.get("BENCH_IDLE_S", "60"))
IDLE_SETTLE_S = int(os.environ.get("BENCH_IDLE_SETTLE_S", "180"))
PARTS = set(os.environ.get("BENCH_PARTS", "start,list,upload,sync").split(","))
MINIBROWSER = os.environ.get("BENCH_MINIBROWSER", "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser")
TICK = os.sysconf("SC_CLK_TCK")
WEBKIT_ENV = {"NO_AT_BRIDGE": "1", "WEBKIT_DISABLE_COMPOSITING_MODE": "1", "WEBKIT_DISABLE_DMABUF_RENDERER": "1"}


def report(what: str, value: str) -> None:
    print(f"{what}: {value}", flush=True)


def load() -> str:
    return " ".join(open("/proc/loadavg").read().split()[:3])


def tree(pid: int) -> list[int]:
    """A process and all its descendants (the app's WebKit web and network processes)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for t in os.listdir(f"/proc/{p}/task"):
                todo.extend(int(c) for c in open(f"/proc/{p}/task/{t}/children").read().split())
        except OSError:
            pass
    return out


def pss_kib(pid: int) -> dict[str, int]:
    """PSS per process name of a process tree, and "USS" (private pages of them all): PSS
    shares the library pages with every other process mapping them (other WebKit apps on the
    machine lower it), USS does not."""
    by_name: dict[str, int] = {}
    for p in tree(pid):
        try:
            name = open(f"/proc/{p}/comm").read().strip()
            for line in open(f"/proc/{p}/smaps_rollup"):
                if line.startswith("Pss:"):
                    by_name[name] = by_name.get(name, 0) + int(line.split()[1])
                elif line.startswith(("Private_Clean:", "Private_Dirty:")):
                    by_name["USS"] = by_name.get("USS", 0) + int(line.split()[1])
        except OSError:
            pass
    return by_name


def pss_by_mapping(pid: int, top: int = 8) -> str:
    """Where each process's PSS is: its largest mappings by file name (anonymous memory, heap
    and stacks under their own names), for BENCH_SMAPS=1."""
    out = []
    for p in tree(pid):
        sizes: dict[str, int] = {}
        name, current = "?", "[anon]"
        try:
            name = open(f"/proc/{p}/comm").read().strip()
            for line in open(f"/proc/{p}/smaps"):
                head = line.split()
                if "-" in head[0] and ":" not in head[0]:
                    current = os.path.basename(head[5]) if len(head) > 5 else "[anon]"
                elif head[0] == "Pss:":
                    sizes[current] = sizes.get(current, 0) + int(head[1])
        except OSError:
            continue
        largest = sorted(sizes.items(), key=lambda kv: -kv[1])[:top]
        out.append(f"{name}: " + ", ".join(f"{k} {v / 1024:.1f}" for k, v in largest))
    return "; ".join(out)


def pss_total(by_name: dict[str, int]) -> int:
    return sum(v for n, v in by_name.items() if n != "USS")


def mib(by_name: dict[str, int]) -> str:
    parts = ", ".join(f"{n} {k / 1024:.0f}" for n, k in sorted(by_name.items(), key=lambda x: -x[1]) if n != "USS")
    return f"PSS {pss_total(by_name) / 1024:.0f} MiB ({parts}; USS of all {by_name.get('USS', 0) / 1024:.0f} MiB)"


def cpu_ticks(pid: int) -> int:
    total = 0
    for p in tree(pid):
        try:
            fields = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except OSError:
            pass
    return total


def thread_ticks(pid: int) -> dict[str, int]:
    """CPU ticks per "process/thread" name of a process tree (threads of one name summed)."""
    out: dict[str, int] = {}
    for p in tree(pid):
        try:
            proc = open(f"/proc/{p}/comm").read().strip()
            for t in os.listdir(f"/proc/{p}/task"):
                stat = open(f"/proc/{p}/task/{t}/stat").read()
                name = stat[stat.index("(") + 1:stat.rindex(")")]
                fields = stat.rsplit(")", 1)[1].split()
                key = f"{proc}/{name}"
                out[key] = out.get(key, 0) + int(fields[11]) + int(fields[12])
        except (OSError, ValueError):
            pass
    return out


def started_at(pid: int) -> float:
    """Unix time a process started (10 ms resolution)."""
    btime = next(int(line.split()[1]) for line in open("/proc/stat") if line.startswith("btime"))
    start = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[19])
    return btime + start / TICK


def app_pid() -> int:
    # BENCH_APP_PATTERN: when OSSVAULT_APP_BIN is a wrapper (a profiler) starting the app.
    pattern = os.environ.get("BENCH_APP_PATTERN", str(app_binary()))
    out = subprocess.run(["pgrep", "-n", "-f", pattern], capture_output=True, text=True)
    return int(out.stdout.split()[0])


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def cli(*args: str, **kw) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OSSVAULT_")}
    return subprocess.run([str(cli_binary()), *args, "--profile", "local"], check=True, env=env, **kw)


# --- the reference: MiniBrowser through WebKitWebDriver -------------------------------------


def reference_start() -> None:
    port = free_port()
    env = dict(os.environ, **WEBKIT_ENV)
    log = open(Path(tempfile.mkdtemp()) / "webkitwebdriver.log", "wb")
    wd = subprocess.Popen(["WebKitWebDriver", f"--port={port}"], stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        caps = {"capabilities": {"alwaysMatch": {"webkitgtk:browserOptions": {"binary": MINIBROWSER, "args": ["--automation"]}}}}
        deadline = time.monotonic() + 10
        while True:
            try:
                requests.get(f"{url}/status", timeout=2)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        t0 = time.monotonic()
        sid = requests.post(f"{url}/session", json=caps, timeout=60).json()["value"]["sessionId"]
        page = "data:text/html,<button id=b>ok</button>"
        requests.post(f"{url}/session/{sid}/url", json={"url": page}, timeout=60)
        requests.post(f"{url}/session/{sid}/element", json={"using": "css selector", "value": "#b"}, timeout=60)
        start = time.monotonic() - t0
        report("reference: MiniBrowser session + a one-button page (WebKitWebDriver)", f"{start:.2f} s")
        time.sleep(10)
        pid = int(subprocess.run(["pgrep", "-n", "-f", MINIBROWSER], capture_output=True, text=True).stdout.split()[0])
        idle = pss_kib(pid)
        report("reference: MiniBrowser idle PSS", mib(idle))
        requests.delete(f"{url}/session/{sid}", timeout=30)
        REF["start"] = start
        REF["pss"] = pss_total(idle)
        REF["uss"] = idle.get("USS", 0)
    finally:
        wd.terminate()
        wd.wait(10)
        log.close()


REF: dict[str, float] = {}


# --- the app --------------------------------------------------------------------------------


def app_start(d: Driver):
    """Starts the app; reports the start time, its timeline and the idle memory."""
    t0 = time.time()
    s = d.start_app()
    s._cmd("POST", "/timeouts", {"script": 900_000})
    s.find('[data-testid="buckets-empty"], [data-testid^="bucket-row-"]', timeout=60)
    start = time.time() - t0
    pid = app_pid()
    report("cold start to an interactive bucket list (WebDriver session included)", f"{start:.2f} s"
           + (f" = {start / REF['start']:.2f}x the reference" if "start" in REF else ""))
    # The timeline, in the page's clock (Unix ms) and the process's start.
    page = s.script(
        "const n = performance.getEntriesByType('navigation')[0] || {};"
        "return {origin: performance.timeOrigin, dcl: n.domContentLoadedEventEnd, load: n.loadEventEnd,"
        " paint: performance.getEntriesByType('paint').map(p => [p.name, p.startTime]),"
        " ipc: performance.getEntriesByType('resource').filter(r => r.name.startsWith('ipc:'))"
        "   .slice(0, 8).map(r => [r.name.split('/').pop(), r.startTime, r.responseEnd])};"
    )
    proc = started_at(pid)
    logs = sorted((Path(os.environ["HOME"]) / ".local/share/dev.ossvault.app/logs").glob("*.log"))
    server_up = None
    for line in (logs[-1].read_text().splitlines() if logs else []):
        if "endpoint:" in line:
            from datetime import datetime

            server_up = datetime.fromisoformat(line.split()[0].replace("Z", "+00:00")).timestamp()
            break
    origin = page["origin"] / 1000
    steps = [("WebDriver asked for the session", t0 - proc)]
    if server_up:
        steps.append(("embedded server up (log)", server_up - proc))
    steps.append(("page navigation starts (webview up)", origin - proc))
    if page.get("dcl"):
        steps.append(("DOMContentLoaded", origin + page["dcl"] / 1000 - proc))
    for name, st in page["paint"]:
        steps.append((name, origin + st / 1000 - proc))
    for name, st, end in page["ipc"]:
        steps.append((f"command {name} answered (asked at {origin + st / 1000 - proc:.2f})", origin + end / 1000 - proc))
    steps.append(("bucket list seen by WebDriver", t0 + start - proc))
    for what, t in steps:
        report(f"  timeline: {what}", f"{t:+.2f} s after the process started")
    time.sleep(10)
    idle = pss_kib(pid)
    report("idle memory of the app and its WebKit processes", mib(idle)
           + (f" = {pss_total(idle) / REF['pss']:.2f}x the reference's PSS, {idle.get('USS', 0) / REF['uss']:.2f}x its USS"
              if REF.get("pss") else ""))
    if os.environ.get("BENCH_SMAPS"):
        report("  by mapping (MiB)", pss_by_mapping(pid))
    return s, pid


def list_and_scroll(s, pid: int) -> None:
    src = Path(tempfile.mkdtemp()) / "many"
    src.mkdir()
    for i in range(OBJECTS):
        (src / f"{i:06d}.txt").touch()
    cli("mb", "oss://bench")
    t = time.monotonic()
    cli("cp", "-r", str(src), "oss://bench/many/", stdout=subprocess.DEVNULL)
    report(f"({OBJECTS} objects uploaded by the CLI in {time.monotonic() - t:.0f} s)", f"load {load()}")
    ms = s.script_async(
        "const done = arguments[arguments.length - 1]; const t = performance.now();"
        "window.__TAURI_INTERNALS__.invoke('list_objects', {connection: 'local', bucket: 'bench',"
        " prefix: 'many/', token: null}).then(() => done(performance.now() - t));"
    )
    report(f"first page (1000 entries) of the {OBJECTS}-object prefix, command round trip", f"{ms:.0f} ms")
    s.click('[data-testid="buckets-refresh"]')
    s.click('[data-testid="bucket-open-bench"]')
    s.find('[data-testid="open-many/"]')
    shown = s.script_async(
        "const done = arguments[arguments.length - 1]; const t = performance.now();"
        "document.querySelector('[data-testid=\"open-many/\"]').click();"
        "(function wait() { if (document.querySelector('[data-testid=\"row-000000.txt\"]'))"
        "  requestAnimationFrame(() => done(performance.now() - t)); else requestAnimationFrame(wait); })();"
    )
    report("first page on screen after the click (in the page: click to the frame after the rows)", f"{shown:.0f} ms")
    # The reference: frame times of the same page at rest, measured just before.
    rest = s.script_async(
        "const done = arguments[arguments.length - 1]; const d = []; let prev = performance.now();"
        "(function f(now) { d.push(now - prev); prev = now; if (d.length > 120) done(d.slice(1));"
        " else requestAnimationFrame(f); })(prev);"
    )
    report("reference: frame time of the page at rest (120 frames)",
           f"p50 {pct(rest, 0.5):.1f} ms, p95 {pct(rest, 0.95):.1f} ms, max {max(rest):.0f} ms")
    # The scroll: STEP px a frame (a fast drag) until the last object is in the DOM.
    last = f"{OBJECTS - 1:06d}.txt"
    r = s.script_async(
        """
        const done = arguments[arguments.length - 1];
        const step = arguments[0], last = arguments[1];
        const el = document.querySelector('[data-testid="object-list"]');
        const deltas = []; let prev = performance.now(); const t0 = prev;
        function frame(now) {
          deltas.push(now - prev); prev = now;
          if (document.querySelector(`[data-testid="row-${last}"]`)) {
            return done({deltas, total: now - t0});
          }
          if (now - t0 > 600000) return done({deltas, total: now - t0, timeout: true});
          el.scrollTop = el.scrollTop + step;
          requestAnimationFrame(frame);
        }
        requestAnimationFrame(frame);
        """,
        int(os.environ.get("BENCH_SCROLL_STEP", "3600")),
        last,
        timeout=660,
    )
    deltas = r["deltas"][1:]
    report(
        f"scroll to the end of the prefix, {os.environ.get('BENCH_SCROLL_STEP', '3600')} px (100 rows) a frame",
        f"{r['total'] / 1000:.1f} s, {len(deltas)} frames, frame time p50 {pct(deltas, 0.5):.1f} ms,"
        f" p95 {pct(deltas, 0.95):.1f} ms, max {max(deltas):.0f} ms,"
        f" {sum(1 for x in deltas if x > 17)} frames over 17 ms" + (" (TIMED OUT)" if r.get("timeout") else ""),
    )
    report("memory after the scroll", mib(pss_kib(pid)))


def upload(s) -> None:
    big = Path(tempfile.mkdtemp()) / "big.bin"
    with open(big, "wb") as f:
        chunk = os.urandom(1 << 20)
        for i in range(UPLOAD_MIB):
            f.write(chunk[i % 7:] + chunk[: i % 7])
    try:
        s.invoke("create_bucket", {"connection": "local", "name": "bench-up", "acl": None})
    except Exception:
        pass
    app_times, cli_times = [], []
    for run in range(int(os.environ.get("BENCH_UPLOAD_RUNS", "2"))):
        t = time.monotonic()
        cli("cp", str(big), f"oss://bench-up/cli{run}.bin", stdout=subprocess.DEVNULL)
        cli_times.append(time.monotonic() - t)
        t = time.monotonic()
        ids = s.invoke("upload_paths", {"connection": "local", "bucket": "bench-up", "prefix": f"app{run}/",
                                        "paths": [str(big)], "encryption": None, "serverSide": None})
        while True:
            ts = [x for x in s.invoke("list_transfers") if x["id"] in ids]
            states = {x["state"]["state"] for x in ts}
            if states <= {"completed", "failed", "cancelled"} and ts:
                break
            time.sleep(0.1)
        app_times.append(time.monotonic() - t)
        assert states == {"completed"}, ts
    mb = UPLOAD_MIB * 1.048576
    a, c = min(app_times), min(cli_times)
    report(f"{UPLOAD_MIB} MiB upload, `ossvault cp` (best of {len(cli_times)})", f"{c:.1f} s, {mb / c:.0f} MB/s")
    report(f"{UPLOAD_MIB} MiB upload through the app, upload_paths to completed (best of {len(app_times)})",
           f"{a:.1f} s, {mb / a:.0f} MB/s = {c / a:.2f}x the CLI (runs app {[round(x, 1) for x in app_times]},"
           f" cli {[round(x, 1) for x in cli_times]}, load {load()})")
    big.unlink()


def sync(s, pid: int) -> None:
    root = Path(tempfile.mkdtemp())
    s.invoke("create_bucket", {"connection": "local", "name": "bench-sync", "acl": None})
    per = SYNC_FILES // PAIRS
    names = []
    t = time.monotonic()
    for p in range(PAIRS):
        folder = root / f"pair{p:02d}"
        for d in range(per // 500 + 1):
            (folder / f"d{d:03d}").mkdir(parents=True, exist_ok=True)
        for i in range(per):
            (folder / f"d{i // 500:03d}" / f"f{i:05d}.txt").write_text(f"file {i} of pair {p}\n")
        pair = s.invoke("add_sync_pair", {"pair": {"local": str(folder), "profile": "local", "bucket": "bench-sync",
                                                   "prefix": f"p{p:02d}/", "key": None, "mode": "two-way"}})
        names.append(pair["name"])

    def overview():
        return {o["pair"]["name"]: o["status"] for o in s.invoke("list_sync_pairs")}

    retries: dict[str, set] = {}
    while True:
        o = overview()
        # Two-way pairs list the remote side every 10 s: a synced pair is idle or scanning.
        if all(o[n]["state"] in ("idle", "scanning") and o[n]["indexed"] >= per for n in names):
            break
        if any(o[n]["state"] == "error" for n in names):
            raise RuntimeError(json.dumps({n: o[n] for n in names if o[n]["state"] == "error"}))
        for n in names:
            # Transient failures are retried by the engine: noted, not fatal.
            if o[n]["state"] in ("retrying", "offline") and o[n].get("reason") not in retries.get(n, ()):
                retries.setdefault(n, set()).add(o[n].get("reason"))
                report(f"  ({n} {o[n]['state']}: {o[n].get('reason')})", f"load {load()}")
        time.sleep(2)
    report(f"({PAIRS} pairs, {per * PAIRS} files synced by the app in {time.monotonic() - t:.0f} s)", f"load {load()}")
    s.click('[data-testid="nav-sync"]')
    s.find('[data-testid="sync-page"]')
    time.sleep(5)
    # The first minute after the sync (remote polls still frequent: 10 s, doubling while
    # nothing changes), then a minute once the polls have slowed to their idle pace.
    for when, settle in (("right after the sync", 0), (f"after {IDLE_SETTLE_S} s more", IDLE_SETTLE_S)):
        time.sleep(settle)
        c0, t0, th0 = cpu_ticks(pid), time.monotonic(), thread_ticks(pid)
        time.sleep(IDLE_S)
        elapsed = time.monotonic() - t0
        cpu = (cpu_ticks(pid) - c0) / TICK / elapsed * 100
        report(f"idle {IDLE_S} s {when}, {PAIRS} pairs and {per * PAIRS} files (Sync screen shown): CPU of all processes",
               f"{cpu:.2f} % of a core (load {load()})")
        busy = sorted(((k, v - th0.get(k, 0)) for k, v in thread_ticks(pid).items()), key=lambda kv: -kv[1])
        report("  by thread (process/thread)", ", ".join(f"{k} {v / TICK / elapsed * 100:.2f} %" for k, v in busy[:8] if v > 0))
        report("  its memory", mib(pss_kib(pid)))
        if os.environ.get("BENCH_SMAPS"):
            report("  by mapping (MiB)", pss_by_mapping(pid))

    # One pair gets NEW_FILES new files; the page records its status line (MutationObserver) and
    # the engine's status (list_sync_pairs every 100 ms), both in the page's clock.
    busy, other = names[0], names[1]
    s.script(
        """
        const name = arguments[0];
        window.__bench = {dom: [], engine: []};
        const sel = `[data-testid="sync-state-${name}"]`;
        const rec = () => { const e = document.querySelector(sel);
          window.__bench.dom.push([performance.now(), e ? e.textContent : null]); };
        new MutationObserver(rec).observe(document.querySelector('[data-testid="sync-page"]'),
          {subtree: true, childList: true, characterData: true});
        window.__bench.poll = setInterval(() => { const t = performance.now();
          window.__TAURI_INTERNALS__.invoke('list_sync_pairs').then(ps => { const p = ps.find(x => x.pair.name === name);
            window.__bench.engine.push([t, performance.now(), p.status.state, p.status.files_done, p.status.files_total, p.status.indexed]); }); }, 100);
        """,
        busy,
    )
    folder = root / "pair00" / "new"
    folder.mkdir()
    for i in range(NEW_FILES):
        (folder / f"n{i:05d}.txt").write_text(f"new {i}\n")
    # Clicks while it syncs: the other pair's pause/resume (a command, then the card changes).
    clicks = []
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        for _ in range(2):
            ms = s.script_async(
                """
                const done = arguments[arguments.length - 1];
                const b = document.querySelector(`[data-testid="sync-toggle-${arguments[0]}"]`);
                const before = b.getAttribute('aria-label'); const t = performance.now(); b.click();
                (function wait() { const now = document.querySelector(`[data-testid="sync-toggle-${arguments[0]}"]`);
                  if (now && now.getAttribute('aria-label') !== before) requestAnimationFrame(() => done(performance.now() - t));
                  else if (performance.now() - t > 10000) done(-1); else requestAnimationFrame(wait); })();
                """.replace("arguments[0]", "name").replace("const done", "const name = arguments[0]; const done"),
                other,
            )
            clicks.append(ms)
        o = overview()[busy]
        if o["state"] in ("idle", "scanning") and o["indexed"] >= per + NEW_FILES:
            break
        time.sleep(1)
    time.sleep(2)
    b = s.script("clearInterval(window.__bench.poll); return {dom: window.__bench.dom, engine: window.__bench.engine};")
    answered = [c for c in clicks if c >= 0]
    report(f"click (pause/resume another pair) to its answer on screen while {NEW_FILES} new files sync",
           f"{len(clicks)} clicks, p50 {pct(answered, 0.5):.0f} ms, max {max(answered):.0f} ms"
           + (f", {len(clicks) - len(answered)} not answered in 10 s" if len(answered) < len(clicks) else ""))
    # Lag: for each engine sample, the first time the screen shows at least its files done (or
    # the pair idle when the engine is idle after the pass).
    import re

    dom = [(t, [int(x) for x in re.findall(r"\d+", (txt or "").replace(",", ""))], txt) for t, txt in b["dom"]]
    lags = []
    for asked, got, state, fdone, ftotal, indexed in b["engine"]:
        if state == "syncing" and ftotal > 0:
            shown = next((t for t, nums, _ in dom if t >= asked - 1000 and nums and nums[0] >= fdone), None)
            if shown is not None:
                lags.append(max(0.0, shown - asked))
    engine_idle = next((a for a, g, st, fd, ft, ix in b["engine"] if st in ("idle", "scanning") and ix >= per + NEW_FILES), None)
    synced_text = [txt for t, _, txt in dom][-1] if dom else None
    dom_idle = next((t for t, _, txt in dom if engine_idle and t >= engine_idle - 1000 and txt == synced_text), None)
    if lags:
        report("status lag, screen behind the engine's files done (100 ms samples)",
               f"p50 {pct(lags, 0.5):.0f} ms, p95 {pct(lags, 0.95):.0f} ms, max {max(lags):.0f} ms ({len(lags)} samples)")
    if engine_idle and dom_idle:
        report("status lag at the end of the pass (engine idle -> screen shows it)", f"{dom_idle - engine_idle:.0f} ms ({synced_text!r})")
    report("  DOM status records / engine samples", f"{len(b['dom'])} / {len(b['engine'])}")


def main() -> None:
    report("load average at start", load())
    if "start" in PARTS:
        try:
            reference_start()
        except Exception as e:  # noqa: BLE001 - the reference is optional
            report("reference not measured", repr(e))
    log = Path(tempfile.mkdtemp()) / "driver.log"
    d = Driver(log)
    try:
        s, pid = app_start(d)
        if "list" in PARTS:
            list_and_scroll(s, pid)
        if "upload" in PARTS:
            upload(s)
        if "sync" in PARTS:
            sync(s, pid)
    finally:
        d.close()
    binary = app_binary()
    with open(binary, "rb") as f:
        elf = f.read(4) == b"\x7fELF"
    if elf:  # not a profiler's wrapper script
        stripped = Path(tempfile.mkdtemp()) / "stripped"
        subprocess.run(["strip", "-o", str(stripped), str(binary)], check=True)
        report(f"binary {binary}", f"{binary.stat().st_size / 1e6:.1f} MB, stripped {stripped.stat().st_size / 1e6:.1f} MB")
    report("load average at the end", load())


if __name__ == "__main__":
    main()
