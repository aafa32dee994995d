"""Browser check of the Dagster UI: analyse a generated clip on a private instance, start `video-timeline ui`,
open the timeline asset of that partition in headless Chromium and save a screenshot.

    .venv/bin/python -m scripts.ui_check [--out out/ui_check]      (make ui-check; installs chromium when missing)

Also home of `running_ui`, the UI life cycle the webserver test shares.
"""

import argparse
import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
]  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def private_instance(root: Path) -> dict[str, str]:
    """Environment for a throwaway instance (the project's dagster.yaml), data root, empty inbox, no heavy models."""
    home, inbox = root / "dagster_home", root / "inbox"
    home.mkdir(parents=True)
    inbox.mkdir()
    shutil.copy(PROJECT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    (root / "models.toml").write_text("# no heavy models: the light graph\n")
    return {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "VIDEO_TIMELINE_DATA": str(root / "data"),
        "VIDEO_TIMELINE_INBOX": str(inbox),
        "VIDEO_TIMELINE_MODELS": str(root / "models.toml"),
    }


def _default_signals() -> None:
    # A parent that ignores SIGINT/SIGTERM passes that on to its children; the server must obey them.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, set())


def graphql(port: int, query: str, variables: dict | None = None, timeout: float = 30) -> dict:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        answer = json.loads(response.read())
    if answer.get("errors"):
        raise RuntimeError(f"GraphQL errors: {answer['errors']}")
    return answer["data"]


REPOSITORIES = "{ repositoriesOrError { ... on RepositoryConnection { nodes { name location { name } } } } }"


@contextlib.contextmanager
def running_ui(env: dict[str, str], port: int, log_path: Path, ready_timeout: float = 240, preexec=None):
    """`video-timeline ui` (dagster dev: webserver + daemon) in its own process group; yields the code location
    and the `video-timeline ui` process. `preexec` (default: default signal handling) runs in the child.

    Stopped with SIGTERM to the whole group, then SIGKILL for whatever is left.
    """
    log = open(log_path, "wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "video_assets.cli", "ui", "--port", str(port)],
        cwd=PROJECT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        preexec_fn=preexec or _default_signals, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"the UI exited with {server.returncode}: {log_path.read_text()[-3000:]}")
            try:
                nodes = graphql(port, REPOSITORIES, timeout=5)["repositoriesOrError"]["nodes"]
                if nodes:
                    yield (
                        {"repositoryLocationName": nodes[0]["location"]["name"], "repositoryName": nodes[0]["name"]},
                        server,
                    )
                    break
            except OSError:
                pass  # not listening yet
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"the UI did not load the code location in {ready_timeout} s: {log_path.read_text()[-3000:]}"
                )
            time.sleep(1)
    finally:
        stop_group(server)
        log.close()


def stop_group(process: subprocess.Popen, grace: float = 20) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # children that outlived the leader, too
    process.wait(10)


def listening_addresses(port: int) -> set[str]:
    """IPv4/IPv6 addresses with a socket listening on `port` (from /proc/net/tcp*)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError), open(table) as f:
            for line in f.readlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                address, hex_port = local.split(":")
                if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                    found.add(_decode_address(address))
    return found


def _decode_address(hex_address: str) -> str:
    raw = bytes.fromhex(hex_address)
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw[::-1])
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    return socket.inet_ntop(socket.AF_INET6, words)


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
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_default_signals, start_new_session=True,
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
# Opens the "coverage" markdown metadata of the shown materialization.
OPEN_COVERAGE = """(() => {
  const row = [...document.querySelectorAll('tr')].find(r => r.querySelector('td') && r.querySelector('td').innerText.trim() === 'coverage');
  const button = row && [...row.querySelectorAll('button, a')].find(b => /markdown/i.test(b.innerText));
  if (button) { button.click(); return true; }
  return false;
})()"""
COVERAGE_PICTURE_SHOWN = """(() => {
  const img = [...document.querySelectorAll('img')].find(i => i.src.startsWith('data:image/png') && i.alt === 'coverage per second');
  return !!img && img.complete && img.naturalWidth > 0;
})()"""


def check_ui(port: int, key: str, out: Path, profile: Path) -> list[Path]:
    """Screenshots of the timeline asset's partition: its metadata, then the coverage picture opened."""
    graphql(port, SET_NUX_SEEN)
    browser = Browser(profile)
    try:
        browser.call("Page.navigate", url=f"http://127.0.0.1:{port}/assets/timeline?view=partitions&partition={key}")
        browser.wait_for(f"document.body.innerText.includes('{key}') && document.body.innerText.includes('reconstruction_score')",
                         "the partition's materialization metadata")  # fmt: skip
        time.sleep(1)  # let the layout settle
        shots = [out / "timeline_partition.png", out / "timeline_coverage.png"]
        browser.screenshot(shots[0])
        if not browser.evaluate(OPEN_COVERAGE):
            raise RuntimeError("the timeline's metadata has no 'coverage' entry with a markdown button")
        browser.wait_for(COVERAGE_PICTURE_SHOWN, "the coverage picture")
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
        analysed = subprocess.run([sys.executable, "-m", "video_assets.cli", "analyze", str(clip)], cwd=PROJECT, env=env,
                                  capture_output=True, text=True, timeout=600)  # fmt: skip
        if analysed.returncode:
            sys.exit(f"ui_check: analysing the sample failed: {analysed.stderr[-2000:]}")
        port = free_port()
        with running_ui(env, port, out / "ui.log"):
            for shot in check_ui(port, partition_key(clip), out, root / "chromium_profile"):
                print(f"ui_check: saved {shot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
