"""Browser check of the Dagster UI: analyse a generated clip on a private instance, start `video-timeline ui`,
open the timeline asset of that partition in headless Chromium (Debian's, driven by Playwright: scripts/browser.py)
and save screenshots of its metadata (preview table, coverage picture, report link) and of the report.

    .venv/bin/python -m scripts.ui_check [--out out/ui_check]      (make ui-check; installs chromium when missing)

Also home of `running_ui`, the UI life cycle the webserver test shares.
"""

import argparse
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


SET_NUX_SEEN = "mutation { setNuxSeen }"  # the first-visit "join the community" dialog would cover the page
# Opens the markdown metadata entry with this label of the shown materialization.
OPEN_MARKDOWN = """(label) => {
  const row = [...document.querySelectorAll('tr')]
    .find(r => r.querySelector('td') && r.querySelector('td').innerText.trim() === label);
  const button = row && [...row.querySelectorAll('button, a')].find(b => /markdown/i.test(b.innerText));
  if (button) { button.click(); return true; }
  return false;
}"""
COVERAGE_PICTURE_SHOWN = """() => {
  const img = [...document.querySelectorAll('img')]
    .find(i => i.src.startsWith('data:image/png') && i.alt === 'coverage per second');
  return !!img && img.complete && img.naturalWidth > 0;
}"""
PREVIEW_SHOWN = "() => [...document.querySelectorAll('th')].some(th => th.innerText.trim() === 'description')"
REPORT_LINK = "() => [...document.querySelectorAll('a')].map(a => a.href).find(h => h.endsWith('/report.html')) || null"


def check_ui(port: int, key: str, out: Path) -> list[Path]:
    """Screenshots of the timeline's partition page (metadata with the preview and the report link), its
    coverage picture and preview table opened, and the report the link points at."""
    from scripts.browser import chromium_browser, save_screenshot

    graphql(port, SET_NUX_SEEN)
    with chromium_browser(width=1400, height=1000) as browser:
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{port}/assets/timeline?view=partitions&partition={key}")
        page.wait_for_function(
            f"() => document.body.innerText.includes('{key}') && document.body.innerText.includes('score_by_aspect')",
            timeout=90_000,
        )
        time.sleep(1)  # let the layout settle
        shots = [save_screenshot(page, out / "timeline_partition.png", full_page=False)]
        link = page.evaluate(REPORT_LINK)
        if not link:
            raise RuntimeError("the timeline's metadata has no link to its report")
        for label, shown, name in (("coverage", COVERAGE_PICTURE_SHOWN, "timeline_coverage.png"),
                                   ("preview", PREVIEW_SHOWN, "timeline_preview.png")):  # fmt: skip
            if not page.evaluate(OPEN_MARKDOWN, label):
                raise RuntimeError(f"the timeline's metadata has no {label!r} entry with a markdown button")
            page.wait_for_function(shown, timeout=30_000)
            time.sleep(0.5)
            shots.append(save_screenshot(page, out / name, full_page=False))
            page.keyboard.press("Escape")
        report = browser.new_page()  # a web page cannot open a file:// link itself: the address bar can
        report.goto(link)
        report.wait_for_function("() => window.timelineReport && window.timelineReport.ready", timeout=30_000)
        shots.append(save_screenshot(report, out / "report.png"))
        return shots


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
            for shot in check_ui(port, partition_key(clip), out):
                print(f"ui_check: saved {shot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
