"""Browser check of the Dagster UI: analyse a generated clip on a private instance, start `video-timeline ui`,
open the timeline asset of that partition in headless Chromium (Debian's, driven by Playwright: support/browser.py)
and save screenshots of its metadata (preview table, coverage picture, report link) and of the report.

    .venv/bin/python -m scripts.ui_check [--out out/ui_check]      (make ui-check; installs chromium when missing)

Also home of `running_ui`, the UI life cycle the webserver test shares.
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from support.instance import PROJECT, private_instance
from support.ui import free_port, graphql, running_ui

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
    .find(i => i.src.startsWith('data:image/png') && i.alt === 'score per second');
  return !!img && img.complete && img.naturalWidth > 0;
}"""
PREVIEW_SHOWN = "() => [...document.querySelectorAll('th')].some(th => th.innerText.trim() === 'description')"
REPORT_LINK = "() => [...document.querySelectorAll('a')].map(a => a.href).find(h => h.endsWith('/report.html')) || null"


def check_ui(port: int, key: str, out: Path) -> list[Path]:
    """Screenshots of the timeline's partition page (metadata with the preview and the report link), its
    coverage picture and preview table opened, and the report the link points at."""
    from support.browser import chromium_browser, save_screenshot

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
        for label, shown, name in (("score_breakdown", COVERAGE_PICTURE_SHOWN, "timeline_coverage.png"),
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
        command = [sys.executable, "-m", "video_assets.cli", "analyze", str(clip)]
        analysed = subprocess.run(command, cwd=PROJECT, env=env, capture_output=True, text=True, timeout=600)
        if analysed.returncode:
            sys.exit(f"ui_check: analysing the sample failed: {analysed.stderr[-2000:]}")
        port = free_port()
        with running_ui(env, port, out / "ui.log"):
            for shot in check_ui(port, partition_key(clip), out):
                print(f"ui_check: saved {shot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
