"""report.html and the compare page in a real headless Chromium: no console error, every image decoded.

Chromium is driven through the Chrome DevTools Protocol over a websocket (pip
``websocket-client``). Debian's ``chromium`` package is installed when missing, but only
as root and when ``CI`` or ``ARCHLAB_INSTALL_CHROMIUM=1`` is set; otherwise the test
is skipped with the reason. A full-page screenshot is saved in the test's folder.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from archlab.report.compare import compare_runs
from archlab.report.run_report import write_run_report

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
    "--window-size=1200,900",
)


def find_chromium() -> str:
    """Path of a Chromium binary, installing Debian's package where allowed; skip otherwise."""
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    allowed = os.environ.get("CI") or os.environ.get("ARCHLAB_INSTALL_CHROMIUM") == "1"
    if not allowed:
        pytest.skip("chromium not installed; set ARCHLAB_INSTALL_CHROMIUM=1 (as root) to apt-get install it")
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip(
            "chromium not installed and cannot be: apt-get install chromium needs root on Debian/Ubuntu"
        )
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "chromium"]):
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            pytest.skip(f"{' '.join(cmd)} failed: {(done.stderr or done.stdout).strip().splitlines()[-1:]}")
    path = shutil.which("chromium")
    if not path:
        pytest.skip("apt-get install chromium finished but no chromium binary is on PATH")
    return path


class DevTools:
    """A minimal CDP client on one page target: send commands, keep every event seen."""

    def __init__(self, ws_url: str) -> None:
        import websocket

        self.ws = websocket.create_connection(ws_url, timeout=20, suppress_origin=True)
        self.events: list[dict[str, Any]] = []
        self.ids = itertools.count(1)

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        msg_id = next(self.ids)
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def wait_for(self, method: str, timeout: float = 15.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        for event in self.events:
            if event.get("method") == method:
                return event
        while time.monotonic() < deadline:
            msg = json.loads(self.ws.recv())
            self.events.append(msg)
            if msg.get("method") == method:
                return msg
        raise TimeoutError(f"no {method} within {timeout} s")

    def close(self) -> None:
        self.ws.close()


@pytest.fixture
def browser(tmp_path: Path):
    """A headless Chromium; yields a function that loads a page and returns what it saw."""
    pytest.importorskip("websocket", reason="pip install websocket-client to drive Chromium over CDP")
    exe = find_chromium()
    profile = tmp_path / "profile"
    log = (tmp_path / "chromium.log").open("w")
    proc = subprocess.Popen(
        [exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"], stdout=log, stderr=log
    )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 20
        while not (port_file.is_file() and port_file.read_text().strip()) and time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"chromium exited with {proc.returncode}; see {tmp_path / 'chromium.log'}")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as resp:
            page = next(t for t in json.load(resp) if t.get("type") == "page")

        def visit(path: Path, shot: Path) -> dict[str, Any]:
            cdp = DevTools(page["webSocketDebuggerUrl"])
            try:
                for domain in ("Page", "Runtime", "Log"):
                    cdp.send(f"{domain}.enable")
                cdp.send("Page.navigate", url=path.resolve().as_uri())
                cdp.wait_for("Page.loadEventFired")
                images = cdp.send(
                    "Runtime.evaluate",
                    expression="Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight])",
                    returnByValue=True,
                )["result"]["value"]
                size = cdp.send("Page.getLayoutMetrics")["cssContentSize"]
                height = min(int(size["height"]), 12000)
                png = cdp.send(
                    "Page.captureScreenshot",
                    format="png",
                    captureBeyondViewport=True,
                    clip={"x": 0, "y": 0, "width": int(size["width"]), "height": height, "scale": 1},
                )["data"]
                shot.write_bytes(base64.b64decode(png))
                errors = [
                    e["params"]
                    for e in cdp.events
                    if e.get("method") == "Runtime.exceptionThrown"
                    or (
                        e.get("method") == "Runtime.consoleAPICalled"
                        and e["params"].get("type") in ("error", "assert")
                    )
                    or (e.get("method") == "Log.entryAdded" and e["params"]["entry"].get("level") == "error")
                ]
                return {"images": images, "errors": errors, "height": height}
            finally:
                cdp.close()

        yield visit
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.mark.slow
def test_report_and_compare_pages_render(make_run, browser, tmp_path):
    wide = make_run("wide", width=32, targets=["at least 95 % test accuracy"])
    narrow = make_run("narrow", width=16)
    _, report = write_run_report(wide)
    compare = tmp_path / "compare.html"
    compare_runs([wide, narrow], fmt="html", out=compare)
    for page, expected in ((report, 3), (compare, 2)):
        shot = tmp_path / f"{page.stem}.png"
        seen = browser(page, shot)
        assert seen["errors"] == []
        assert len(seen["images"]) == expected
        assert all(complete and w > 0 and h > 0 for complete, w, h in seen["images"]), seen["images"]
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
        assert seen["height"] > 900  # the whole page, not only the first screen


def test_the_harness_sees_broken_pages(browser, tmp_path):
    page = tmp_path / "broken.html"
    page.write_text(
        '<!DOCTYPE html><html><body><img src="missing.png"><script>console.error("boom")</script></body></html>'
    )
    seen = browser(page, tmp_path / "broken.png")
    assert seen["images"] == [[True, 0, 0]]
    texts = json.dumps(seen["errors"])
    assert "boom" in texts and "ERR_FILE_NOT_FOUND" in texts
