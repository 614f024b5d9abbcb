"""Render a local HTML file in headless Chromium over the DevTools protocol, with the standard library only.

Chromium is started with ``--remote-debugging-pipe``: it reads DevTools commands
from fd 3 and writes replies and events to fd 4, each a JSON message ending in
NUL. No port, no websocket package, no chromedriver (Debian's ``chromium`` is
enough; ``.ci/run`` installs it). What comes back (:class:`PageCheck`):

* ``errors``     uncaught exceptions, console.error/assert, and Log entries of
                 level error (e.g. "Failed to load resource" for a missing file);
* ``requests``   every URL the page asked for that is not file:, data: or about:
                 (a self-contained report must have none);
* ``dom``        what a script measured after load: counts of <svg>, <img> and
                 figures, and each image's naturalWidth/complete state;
* ``screenshot`` PNG bytes of the full page.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MEASURE = r"""
(() => {
  const imgs = [...document.images].map(i => ({
    src: i.currentSrc.slice(0, 60), alt: i.alt, complete: i.complete,
    naturalWidth: i.naturalWidth, naturalHeight: i.naturalHeight}));
  const figures = [...document.querySelectorAll('figure.plot')].map(f => ({
    id: f.id, svg: f.querySelectorAll('svg').length, img: f.querySelectorAll('img').length,
    width: f.getBoundingClientRect().width, height: f.getBoundingClientRect().height,
    top: f.getBoundingClientRect().top + window.scrollY}));
  return {title: document.title, svg: document.querySelectorAll('svg').length,
          img: imgs.length, images: imgs, figures: figures,
          scripts: document.scripts.length,
          width: document.documentElement.scrollWidth, height: document.documentElement.scrollHeight};
})()
"""


def find_chromium() -> str | None:
    """The browser binary. Debian's ``/usr/bin/chromium`` is a shell wrapper that misparses its own
    checks; the real binary is ``/usr/lib/chromium/chromium``."""
    for name in ("/usr/lib/chromium/chromium", "chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name) if "/" not in name else (name if os.access(name, os.X_OK) else None)
        if path:
            return path
    return None


@dataclass
class PageCheck:
    """What loading one page showed."""

    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    dom: dict[str, Any] = field(default_factory=dict)
    screenshot: bytes = b""
    seconds: float = 0.0

    @property
    def broken_images(self) -> list[dict[str, Any]]:
        return [i for i in self.dom.get("images", []) if not i["complete"] or i["naturalWidth"] == 0]

    @property
    def empty_figures(self) -> list[dict[str, Any]]:
        return [f for f in self.dom.get("figures", []) if f["svg"] + f["img"] == 0 or f["height"] < 10]


class _Pipe:
    """Both ends of Chromium's DevTools pipe: commands out, replies and events in."""

    def __init__(self, proc: subprocess.Popen, write_fd: int, read_fd: int):
        self.proc, self.wfd, self.rfd = proc, write_fd, read_fd
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> int:
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.wfd, json.dumps(message).encode() + b"\0")
        return self.next_id

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self.buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("chromium did not answer in time")
            chunk = os.read(self.rfd, 1 << 20)
            if not chunk:
                raise RuntimeError(f"chromium closed the pipe (exit {self.proc.poll()})")
            self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 30) -> dict:
        wanted = self.send(method, params, session)
        deadline = time.monotonic() + timeout
        while True:
            message = self._read_message(deadline)
            if message.get("id") == wanted:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_event(self, method: str, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        for i, event in enumerate(self.events):
            if event.get("method") == method:
                return self.events.pop(i)
        while True:
            message = self._read_message(deadline)
            if message.get("method") == method:
                return message
            self.events.append(message)


def check_page(path: Path, *, width: int = 1200, height: int = 900, settle_s: float = 0.2,
               chromium: str | None = None, timeout: float = 60) -> PageCheck:
    """Load ``path`` in headless Chromium; return errors, outside requests, DOM measures, a screenshot."""
    chromium = chromium or find_chromium()
    if chromium is None:
        raise FileNotFoundError("no chromium executable (apt-get install chromium)")
    started = time.perf_counter()
    to_chrome_r, to_chrome_w = os.pipe()
    from_chrome_r, from_chrome_w = os.pipe()
    profile = tempfile.mkdtemp(prefix="cdp-profile-")
    # Chromium reads fd 3 and writes fd 4; preexec_fn maps our pipe ends onto them.
    def remap() -> None:
        a, b = os.dup(to_chrome_r), os.dup(from_chrome_w)  # off 3/4 first, in case they are 3/4
        os.dup2(a, 3)
        os.dup2(b, 4)
    args = [
        chromium, "--headless", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu",
        "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check", "--disable-extensions",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--mute-audio", "--hide-scrollbars", f"--user-data-dir={profile}", f"--window-size={width},{height}",
        "about:blank",
    ]
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=remap, pass_fds=(3, 4))  # close_fds keeps 3 and 4 only
    os.close(to_chrome_r)
    os.close(from_chrome_w)
    pipe = _Pipe(proc, to_chrome_w, from_chrome_r)
    result = PageCheck()
    try:
        target = pipe.call("Target.createTarget", {"url": "about:blank"}, timeout=timeout)["targetId"]
        session = pipe.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            pipe.call(f"{domain}.enable", session=session)
        pipe.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, session=session)
        pipe.call("Page.navigate", {"url": Path(path).resolve().as_uri()}, session=session)
        pipe.wait_event("Page.loadEventFired", timeout=timeout)
        time.sleep(settle_s)  # late errors (timers) still get reported
        measured = pipe.call("Runtime.evaluate", {"expression": MEASURE, "returnByValue": True}, session=session)
        result.dom = measured["result"].get("value", {})
        full = result.dom.get("height", height)
        pipe.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": min(int(full), 16000), "deviceScaleFactor": 1, "mobile": False},
                  session=session)
        shot = pipe.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session=session)
        result.screenshot = base64.b64decode(shot["data"])
        for event in pipe.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                text = details.get("exception", {}).get("description") or details.get("text")
                result.errors.append(f"exception: {text.splitlines()[0]}")
            elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
                text = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
                result.errors.append(f"console.{params['type']}: {text}")
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                entry = params["entry"]
                result.errors.append(f"log: {entry['text']} {entry.get('url', '')}".strip())
            elif method == "Network.requestWillBeSent":
                url = params["request"]["url"]
                if not url.startswith(("file:", "data:", "about:", "blob:")):
                    result.requests.append(url)
        try:
            pipe.call("Browser.close", timeout=5)
        except (RuntimeError, TimeoutError):
            pass
    finally:
        os.close(to_chrome_w)
        os.close(from_chrome_r)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(profile, ignore_errors=True)
    result.seconds = time.perf_counter() - started
    return result

