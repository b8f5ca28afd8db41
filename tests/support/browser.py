"""Open a page in headless Chromium over the DevTools protocol: what failed to load, console errors, a screenshot.

The browser is Debian's ``chromium`` (``apt-get install chromium``), started with
``--remote-debugging-port=0``; the port it chose is read from ``DevToolsActivePort`` in its
profile folder, and the page is driven over a WebSocket (``websockets``' synchronous client).
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

INSTALL_HINT = "headless Chromium is needed for the report tests: apt-get install -y chromium"

# every <img> decoded, every <video> (in the page, or linked from it) with its metadata loaded
_CHECK_MEDIA = """
(async () => {
  const base = document.baseURI;
  const wait = (v) => new Promise((resolve) => {
    const done = (ok, why) => resolve({src: v.currentSrc || v.src, ok, why});
    if (v.readyState >= 1) return done(true, "");
    v.addEventListener("loadedmetadata", () => done(true, ""), {once: true});
    v.addEventListener("error", () => done(false, "error " + (v.error ? v.error.code : "?")), {once: true});
    setTimeout(() => done(false, "no metadata after 20 s"), 20000);
  });
  const images = [...document.images].map((i) => ({src: i.currentSrc || i.src,
    ok: i.complete && i.naturalWidth > 0, why: i.complete ? "not decoded" : "not loaded"}));
  const inPage = [...document.querySelectorAll("video")].map((v) => { v.preload = "metadata"; return wait(v); });
  const linked = [...document.querySelectorAll("a[href]")]
    .filter((a) => /\\.(mp4|webm)$/i.test(a.getAttribute("href")))
    .map((a) => { const v = document.createElement("video"); v.muted = true; v.preload = "metadata";
                  v.src = new URL(a.getAttribute("href"), base).href; return wait(v); });
  const links = [...document.querySelectorAll("a[href]")].map((a) => a.getAttribute("href"));
  const ids = [...document.querySelectorAll("[id]")].map((e) => e.id);
  return {images, videos: await Promise.all([...inPage, ...linked]), links, ids,
          height: document.documentElement.scrollHeight};
})()
"""


@dataclass
class PageCheck:
    """What a page did in the browser.

    Attributes:
        images: ``{"src", "ok", "why"}`` per ``<img>``.
        videos: the same per ``<video>`` of the page and per linked video file.
        links: every ``href`` of the page.
        ids: every element id (anchors).
        console_errors: console messages of level error, uncaught exceptions, failed requests.
        screenshot: the PNG written.
    """

    images: list[dict]
    videos: list[dict]
    links: list[str]
    ids: list[str]
    console_errors: list[str] = field(default_factory=list)
    screenshot: Path | None = None

    @property
    def failed_media(self) -> list[dict]:
        return [m for m in self.images + self.videos if not m["ok"]]


def chromium_path() -> str | None:
    """The Chromium executable on PATH, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


class _DevTools:
    def __init__(self, ws) -> None:
        self.ws = ws
        self.next_id = 0
        self.events: list[dict] = []

    def call(self, method: str, timeout: float = 60.0, **params) -> dict:
        self.next_id += 1
        wanted = self.next_id
        self.ws.send(json.dumps({"id": wanted, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if message.get("id") == wanted:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)

    def wait_for(self, event: str, timeout: float = 60.0) -> dict:
        for message in self.events:
            if message["method"] == event:
                return message
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if "method" in message:
                self.events.append(message)
                if message["method"] == event:
                    return message



def _errors(events: list[dict]) -> list[str]:
    out = []
    for e in events:
        method, p = e["method"], e.get("params", {})
        if method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            out.append("console: " + " ".join(str(a.get("value", a.get("description", ""))) for a in p["args"]))
        elif method == "Runtime.exceptionThrown":
            details = p["exceptionDetails"]
            out.append("exception: " + details.get("exception", {}).get("description", details.get("text", "")))
        elif method == "Log.entryAdded" and p["entry"]["level"] == "error":
            out.append(f"log ({p['entry']['source']}): {p['entry']['text']} {p['entry'].get('url', '')}")
        elif method == "Network.loadingFailed" and not p.get("canceled"):
            out.append(f"request failed: {p.get('errorText')} (request {p.get('requestId')})")
    return out


def check_page(page: Path, screenshot: Path, width: int = 1280, height: int = 900) -> PageCheck:
    """Load ``page`` in headless Chromium, check its media, collect console errors, save a full-page screenshot.

    Args:
        page: an HTML file.
        screenshot: where the PNG goes.
        width: the window width (CSS pixels).
        height: the window height before the full-page capture.

    Returns:
        The :class:`PageCheck`.

    Raises:
        FileNotFoundError: Chromium is not installed (:data:`INSTALL_HINT`).
    """
    from websockets.sync.client import connect

    binary = chromium_path()
    if binary is None:
        raise FileNotFoundError(INSTALL_HINT)
    profile = Path(tempfile.mkdtemp(prefix="wmhub-chromium-"))
    proc = subprocess.Popen(
        [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
         "--disable-extensions", "--mute-audio", "--hide-scrollbars", "--remote-debugging-port=0",
         "--remote-allow-origins=*", f"--user-data-dir={profile}", f"--window-size={width},{height}", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.is_file() and port_file.read_text().strip()):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"chromium did not start (exit code {proc.poll()})")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as response:
            targets = json.loads(response.read())
        target = next(t for t in targets if t.get("type") == "page")
        with connect(target["webSocketDebuggerUrl"], max_size=None, open_timeout=30) as ws:
            return _drive(_DevTools(ws), page, screenshot, width, height)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(profile, ignore_errors=True)


def _drive(devtools: _DevTools, page: Path, screenshot: Path, width: int, height: int) -> PageCheck:
    """Load the page, check its media, take the full-page screenshot."""
    for domain in ("Page", "Runtime", "Log", "Network"):
        devtools.call(f"{domain}.enable")
    devtools.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                 mobile=False)
    devtools.call("Page.navigate", url=page.resolve().as_uri())
    devtools.wait_for("Page.loadEventFired")
    result = devtools.call("Runtime.evaluate", expression=_CHECK_MEDIA, awaitPromise=True, returnByValue=True,
                          timeout=120)
    if "exceptionDetails" in result:
        raise RuntimeError(f"the media check failed: {result['exceptionDetails']}")
    found = result["result"]["value"]
    full_height = int(found["height"])
    devtools.call("Emulation.setDeviceMetricsOverride", width=width, height=full_height, deviceScaleFactor=1,
                 mobile=False)
    shot = devtools.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                        clip={"x": 0, "y": 0, "width": width, "height": full_height, "scale": 1})
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    screenshot.write_bytes(base64.b64decode(shot["data"]))
    return PageCheck(images=found["images"], videos=found["videos"], links=found["links"], ids=found["ids"],
                     console_errors=_errors(devtools.events), screenshot=screenshot)
