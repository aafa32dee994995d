"""Browser check of the Dagster UI: analyse a generated clip on a private instance, start `video-timeline ui`,
open the timeline asset of that partition in headless Chromium and save a screenshot.

    .venv/bin/python -m scripts.ui_check [--out out/ui_check]      (make ui-check; installs chromium when missing)

"""

import argparse
import base64
import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from support.instance import PROJECT, private_instance
from support.ui import default_signals, free_port, graphql, running_ui, stop_group

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
]  # fmt: skip


def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        sys.exit("ui_check: chromium is not installed: `apt-get install -y chromium` (make ui-check does it)")
    return exe


class Browser:
    """Headless Chromium driven over the DevTools protocol (no browser download, no node)."""

    def __init__(self, profile: Path, width: int = 1400, height: int = 1000):
        from websockets.sync.client import connect

        profile.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=default_signals, start_new_session=True,
        )  # fmt: skip
        port_file, deadline = profile / "DevToolsActivePort", time.monotonic() + 60
        while not port_file.is_file() or len(port_file.read_text().split()) < 2:
            if time.monotonic() > deadline or self.process.poll() is not None:
                stop_group(self.process, grace=2)
                raise RuntimeError("chromium did not open its DevTools port")
            time.sleep(0.2)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as response:
            page = next(t for t in json.loads(response.read()) if t["type"] == "page")
        self.connection = contextlib.ExitStack()
        self.socket = self.connection.enter_context(connect(page["webSocketDebuggerUrl"], max_size=None))
        self.next_id = 0
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)

    def call(self, method: str, **params) -> dict:
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv(timeout=60))
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        return result["result"].get("value")

    def wait_for(self, expression: str, what: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while not self.evaluate(expression):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the page never showed {what}")
            time.sleep(0.5)

    def screenshot(self, target: Path) -> None:
        target.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"]))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.connection.close()
        stop_group(self.process, grace=5)


SET_NUX_SEEN = "mutation { setNuxSeen }"  # the first-visit "join the community" dialog would cover the page
# Opens the "score_breakdown" markdown metadata of the shown materialization.
OPEN_COVERAGE = """(() => {
  const row = [...document.querySelectorAll('tr')]
    .find(r => r.querySelector('td') && r.querySelector('td').innerText.trim() === 'score_breakdown');
  const button = row && [...row.querySelectorAll('button, a')].find(b => /markdown/i.test(b.innerText));
  if (button) { button.click(); return true; }
  return false;
})()"""
COVERAGE_PICTURE_SHOWN = """(() => {
  const img = [...document.querySelectorAll('img')]
    .find(i => i.src.startsWith('data:image/png') && i.alt === 'score per second');
  return !!img && img.complete && img.naturalWidth > 0;
})()"""


def check_ui(port: int, key: str, out: Path, profile: Path) -> list[Path]:
    """Screenshots of the timeline asset's partition: its metadata, then the score picture opened."""
    graphql(port, SET_NUX_SEEN)
    browser = Browser(profile)
    try:
        browser.call("Page.navigate", url=f"http://127.0.0.1:{port}/assets/timeline?view=partitions&partition={key}")
        shown = f"document.body.innerText.includes('{key}') && document.body.innerText.includes('reconstruction_score')"
        browser.wait_for(shown, "the partition's materialization metadata")
        time.sleep(1)  # let the layout settle
        shots = [out / "timeline_partition.png", out / "timeline_coverage.png"]
        browser.screenshot(shots[0])
        if not browser.evaluate(OPEN_COVERAGE):
            raise RuntimeError("the timeline's metadata has no 'score_breakdown' entry with a markdown button")
        browser.wait_for(COVERAGE_PICTURE_SHOWN, "the score picture")
        time.sleep(0.5)
        browser.screenshot(shots[1])
        return shots
    finally:
        browser.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(PROJECT / "out" / "ui_check"), help="folder for the screenshots")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from analyzers.keys import partition_key
    from scripts.make_sample import main as make_sample

    with tempfile.TemporaryDirectory(prefix="ui_check_") as tmp:
        root = Path(tmp)
        env = private_instance(root)
        clip = root / "sample.mp4"
        make_sample(str(clip))
        command = [sys.executable, "-m", "video_assets.cli", "analyze", str(clip)]
        analysed = subprocess.run(command, cwd=PROJECT, env=env, capture_output=True, text=True, timeout=600)
        if analysed.returncode:
            sys.exit(f"ui_check: analysing the sample failed: {analysed.stderr[-2000:]}")
        port = free_port()
        with running_ui(env, port, out / "ui.log"):
            for shot in check_ui(port, partition_key(clip), out, root / "chromium_profile"):
                print(f"ui_check: saved {shot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
