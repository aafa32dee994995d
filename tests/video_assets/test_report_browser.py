"""The report of an analysed clip in a real browser (Debian's headless Chromium, driven by Playwright): one
thumbnail per second, every lane, a click seeks the video, hover shows a row. Screenshot: out/screenshots/."""

import contextlib
import shutil

import numpy as np
import pandas as pd
import pytest

from analyzers.keys import partition_key
from resources.storage import TimelineStorage
from support.browser import ChromiumUnavailable, chromium_browser, save_screenshot
from support.instance import PROJECT
from support.media_factory import place, speech, write_video
from video_assets import cli

pytestmark = pytest.mark.slow
# One colour per second (RGB): the filmstrip must show them in this order.
COLOURS = [(220, 40, 40), (40, 190, 60), (50, 70, 220), (230, 210, 40), (190, 50, 210), (40, 200, 210)]
LANES = ["frames", "time", "shots & cuts", "camera", "faces", "objects", "object tracks", "persons", "text on screen",
         "speech", "transcript", "speakers", "sound events", "loudness", "description", "score"]  # fmt: skip
SCREENSHOTS = PROJECT / "out" / "screenshots"


@pytest.fixture
def browser():
    """Started when the test asks for it (after the analysis: Playwright's sync API runs an event loop)."""
    with contextlib.ExitStack() as stack:

        def start():
            try:
                return stack.enter_context(chromium_browser(install=True))
            except ChromiumUnavailable as exc:
                pytest.skip(f"no Chromium for the browser test: {exc}")

        yield start


def colour_clip(path):
    frames = (np.full((90, 160, 3), c, np.uint8) for c in COLOURS for _ in range(10))
    audio = place(6, [(1.0, speech("Hello there, this is a test of the report."))])
    return write_video(path, frames, 10, audio=audio)


def canvas_pixel(page, x: float, y: float) -> list[int]:
    return page.evaluate(
        """([x, y]) => { const c = document.getElementById('canvas'), r = window.devicePixelRatio || 1;
             return Array.from(c.getContext('2d').getImageData(Math.round(x * r), Math.round(y * r), 1, 1).data); }""",
        [x, y],
    )


def lane(page, label: str) -> dict:
    return next(item for item in page.evaluate("window.timelineReport.lanes") if item["label"] == label)


def test_the_report_of_an_analysed_clip_in_a_real_browser(browser, instance_home, tmp_path):
    (tmp_path / "videos").mkdir()
    clip = colour_clip(tmp_path / "videos" / "colours.mp4")
    assert cli.main(["analyze", str(clip)]) == 0
    storage, key = TimelineStorage(data_root=instance_home["VIDEO_TIMELINE_DATA"]), partition_key(clip)
    timeline = pd.read_parquet(storage.asset_path("timeline", key))
    page = browser().new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(storage.report_path(key).as_uri())
    page.wait_for_function("window.timelineReport && window.timelineReport.ready", timeout=20_000)
    page.wait_for_function("document.getElementById('video').readyState >= 1", timeout=20_000)
    assert page.evaluate("document.getElementById('video').currentSrc") == clip.resolve().as_uri()

    # One thumbnail per second, each showing its own second's picture.
    assert page.evaluate("[window.timelineReport.seconds, window.timelineReport.thumbnails]") == [6, 6]
    frames = lane(page, "frames")
    for second, colour in enumerate(COLOURS):
        x = page.evaluate(f"window.timelineReport.xOfSecond({second})")
        pixel = canvas_pixel(page, x, frames["y"] + frames["h"] / 2)
        assert np.abs(np.array(pixel[:3]) - colour).max() < 40, (second, pixel, colour)

    # Every lane is labelled and drawn; a few carry checkable content.
    assert page.locator("#lanes div").all_inner_texts() == LANES
    for item in page.evaluate("window.timelineReport.lanes"):
        row = [canvas_pixel(page, x, item["y"] + item["h"] / 2) for x in range(4, 6 * 40, 17)]
        assert any(p[3] > 0 and p[:3] != [255, 255, 255] for p in row), f"lane {item['label']} is blank"
    speech_lane = lane(page, "speech")
    spoken = [page.evaluate(f"window.timelineReport.xOfSecond({s})") for s in (0, 2)]
    bottom = speech_lane["y"] + speech_lane["h"] - 3
    assert timeline["speech"].iloc[2] > 0.5 and timeline["speech"].iloc[0] == 0
    assert canvas_pixel(page, spoken[1], bottom)[:3] == [30, 136, 229]  # the speech bar's blue
    assert canvas_pixel(page, spoken[0], bottom)[:3] != [30, 136, 229]

    # Hover shows a second's full row; a click selects it and seeks the video there.
    box = page.locator("#canvas").bounding_box()
    page.mouse.move(box["x"] + page.evaluate("window.timelineReport.xOfSecond(2)"), box["y"] + 30)
    assert page.inner_text("#detail-title").startswith("second 2")
    assert page.inner_text("td[data-column=transcript]") == timeline["transcript"].iloc[2] != ""
    page.mouse.click(box["x"] + page.evaluate("window.timelineReport.xOfSecond(4)"), box["y"] + 30)
    page.wait_for_function("Math.abs(document.getElementById('video').currentTime - 4) < 0.5", timeout=10_000)
    page.mouse.move(box["x"] + box["width"] - 2, box["y"] + box["height"] + 40)  # off the canvas: the selection
    assert page.inner_text("#detail-title").startswith("second 4")
    assert page.inner_text("td[data-column=description]") == timeline["description"].iloc[4]
    # objects and persons are analysed by default: plain colours hold none (empty, not "not analysed")
    assert page.inner_text("td[data-column=objects]") == page.inner_text("td[data-column=persons]") == "(none)"
    save_screenshot(page, SCREENSHOTS / "report.png")
    assert not errors

    # Copied elsewhere on this machine, the page still finds the video by its absolute path.
    moved = tmp_path / "elsewhere" / "report.html"
    moved.parent.mkdir()
    shutil.copy(storage.report_path(key), moved)
    page.goto(moved.as_uri())
    page.wait_for_function("document.getElementById('video').readyState >= 1", timeout=20_000)
    assert page.evaluate("document.getElementById('video').currentSrc") == clip.resolve().as_uri()
    # Without the video, the page says why instead of showing a dead player.
    clip.rename(tmp_path / "gone.mp4")
    page.goto(moved.as_uri())
    page.wait_for_function("document.getElementById('video-note').innerText.includes('could not be played')")
    page.close()
    assert not errors
