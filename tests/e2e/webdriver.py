"""A small W3C WebDriver client over plain HTTP (requests), enough to drive the app through
tauri-driver + WebKitWebDriver: sessions, CSS lookups, clicks, typing, scripts."""

from __future__ import annotations

import json
import time
from typing import Any, Callable

import requests

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"


class WebDriverError(RuntimeError):
    pass


class Session:
    def __init__(self, url: str, application: str, timeout: float = 60):
        self.url = url.rstrip("/")
        # No browserName: tauri-driver refuses sessions that ask for one.
        caps = {"capabilities": {"alwaysMatch": {"tauri:options": {"application": application}}}}
        deadline = time.monotonic() + timeout
        while True:
            try:
                r = requests.post(f"{self.url}/session", json=caps, timeout=timeout)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        value = self._value(r)
        self.id = value["sessionId"]

    @staticmethod
    def _value(r: requests.Response) -> Any:
        try:
            body = r.json()
        except ValueError as e:
            raise WebDriverError(f"{r.status_code}: {r.text[:500]}") from e
        value = body.get("value")
        if r.status_code >= 400 or (isinstance(value, dict) and "error" in value):
            raise WebDriverError(json.dumps(value)[:1000])
        return value

    def _cmd(self, method: str, path: str, body: dict | None = None, timeout: float = 60) -> Any:
        r = requests.request(method, f"{self.url}/session/{self.id}{path}", json=body, timeout=timeout)
        return self._value(r)

    def quit(self) -> None:
        try:
            requests.delete(f"{self.url}/session/{self.id}", timeout=30)
        except requests.RequestException:
            pass

    # --- elements ---
    def find_all(self, css: str) -> list[str]:
        found = self._cmd("POST", "/elements", {"using": "css selector", "value": css})
        return [e[ELEMENT] for e in found]

    def find(self, css: str, timeout: float = 20) -> str:
        return self.wait(lambda: (self.find_all(css) or [None])[0], timeout, f"element {css}")

    def exists(self, css: str) -> bool:
        return bool(self.find_all(css))

    def click(self, css: str, timeout: float = 20) -> None:
        el = self.find(css, timeout)
        # The element's own click (the DOM event the app's handlers receive). WebKitWebDriver's
        # element-click command and pointer actions both dropped some clicks on buttons of the
        # dialogs under Xvfb (no request was sent), so the suite does not rely on them.
        self.script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].click();", {ELEMENT: el})

    def type(self, css: str, text: str, clear: bool = True) -> None:
        el = self.find(css)
        if clear:
            self._cmd("POST", f"/element/{el}/clear", {})
        self._cmd("POST", f"/element/{el}/value", {"text": text})

    def text(self, css: str) -> str:
        return self._cmd("GET", f"/element/{self.find(css)}/text")

    def attr(self, css: str, name: str) -> str | None:
        return self._cmd("GET", f"/element/{self.find(css)}/attribute/{name}")

    def select(self, css: str, value: str) -> None:
        """Sets a <select> and fires its change event (as a person choosing an option)."""
        self.script(
            "const el = document.querySelector(arguments[0]); el.value = arguments[1];"
            "el.dispatchEvent(new Event('change', {bubbles: true}));",
            css,
            value,
        )

    # --- scripts ---
    def script(self, source: str, *args: Any) -> Any:
        return self._cmd("POST", "/execute/sync", {"script": source, "args": list(args)})

    def script_async(self, source: str, *args: Any, timeout: float = 60) -> Any:
        """`source` gets its arguments and then a callback `done(value)` as the last one."""
        return self._cmd("POST", "/execute/async", {"script": source, "args": list(args)}, timeout=timeout)

    def invoke(self, command: str, args: dict | None = None) -> Any:
        """Calls one of the app's commands as its UI does; raises with the command's error."""
        result = self.script_async(
            "const done = arguments[arguments.length - 1];"
            "window.__TAURI_INTERNALS__.invoke(arguments[0], arguments[1])"
            ".then(v => done({ok: v}), e => done({err: e}));",
            command,
            args or {},
        )
        if "err" in result:
            raise WebDriverError(f"{command}: {result['err']}")
        return result.get("ok")

    def wait(self, probe: Callable[[], Any], timeout: float = 20, what: str = "condition") -> Any:
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            try:
                value = probe()
                if value:
                    return value
            except (WebDriverError, requests.RequestException) as e:
                last_error = e
            time.sleep(0.2)
        raise TimeoutError(f"timed out waiting for {what}" + (f" (last error: {last_error})" if last_error else ""))
