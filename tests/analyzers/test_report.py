"""The HTML report without a browser: one thumbnail per second from the stored frames, the page's data and
self-containment, the video's paths, the UI preview. The browser test is tests/video_assets/test_report_browser.py."""

import base64
import json
import re
from urllib.parse import unquote

import cv2
import numpy as np
import pandas as pd
import pytest

from analyzers import report
from analyzers.records import Event, events_frame
from analyzers.timeline import build_timeline
from support.media_factory import write_frame_store

# A distinct colour per second (RGB), far enough apart that a thumbnail of the wrong second is noticed.
COLOURS = [(230, 30, 30), (30, 200, 40), (40, 60, 230), (240, 220, 30), (200, 40, 220), (30, 220, 220), (250, 250, 250)]


def frames(colours, per_second=2, size=(96, 160)) -> list[np.ndarray]:
    return [np.full((*size, 3), c, np.uint8) for c in colours for _ in range(per_second)]


def page_data(page: str) -> dict:
    raw = re.search(r'<script id="report-data" type="application/json">(.*?)</script>', page, re.S).group(1)
    return json.loads(raw)


def sheet_thumbnails(data: dict) -> list[np.ndarray]:
    """The thumbnails as the page's sprite sheets hold them, in second order."""
    thumbs, t = [], data["thumbs"]
    for sheet_uri in t["sheets"]:
        raw = base64.b64decode(sheet_uri.split(",", 1)[1])
        sheet = cv2.cvtColor(cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        for slot in range(t["per_sheet"]):
            y, x = (slot // t["columns"]) * t["height"], (slot % t["columns"]) * t["width"]
            if y + t["height"] <= sheet.shape[0]:
                thumbs.append(sheet[y : y + t["height"], x : x + t["width"]])
    return thumbs[: t["count"]]


def timeline_of(seconds: float, events: list[Event]) -> pd.DataFrame:
    return build_timeline("clip-0123456789", seconds, events_frame(events, "clip-0123456789"))


def test_one_thumbnail_per_second_in_order_and_a_held_picture_repeats(tmp_path):
    # 2 fps for seconds 0-2, then no frame starts in second 3 (a picture held on screen), then seconds 4-6.
    images = frames(COLOURS[:3]) + frames(COLOURS[4:])
    times = [0, 0.5, 1, 1.5, 2, 2.5, 4, 4.5, 5, 5.5, 6, 6.5]
    store = tmp_path / "frames.parquet"
    from analyzers.frames import FrameStoreWriter, SampledFrame

    writer = FrameStoreWriter(store)
    for i, (t, image) in enumerate(zip(times, images)):
        # The second frame of each second is darker: the thumbnail must be the second's first frame.
        writer.add(SampledFrame(t=t, frame_index=i, image=image if i % 2 == 0 else image // 3))
    writer.close()

    thumbs = report.thumbnail_sheets(store, 7)
    assert thumbs.count == 7 and (thumbs.width, thumbs.height) == report.thumbnail_size(160, 96)
    data = page_data(report.report_html(timeline_of(7, []), title="t", thumbnails=thumbs, sources=[]))
    means = [t.reshape(-1, 3).mean(axis=0) for t in sheet_thumbnails(data)]
    expected = [COLOURS[0], COLOURS[1], COLOURS[2], np.array(COLOURS[2]) // 3, COLOURS[4], COLOURS[5], COLOURS[6]]
    for second, (mean, colour) in enumerate(zip(means, expected)):
        assert np.abs(mean - np.array(colour)).max() < 12, (second, mean, colour)


def test_sheets_hold_a_hundred_thumbnails_each_and_long_videos_stay_small(tmp_path):
    rng = np.random.default_rng(0)
    images = [cv2.resize(rng.integers(0, 255, (9, 16, 3), dtype=np.uint8), (320, 180)) for _ in range(250)]
    thumbs = report.thumbnail_sheets(write_frame_store(tmp_path / "f.parquet", images, fps=1.0), 250)
    assert thumbs.count == 250 and len(thumbs.sheets) == 3
    # Thumbnails of busy pictures at the page's size: a few kB each, so an hour is a few MB, not tens.
    assert sum(map(len, thumbs.sheets)) / 250 < 4000
    assert report.thumbnail_sheets(None, 250).count == 0
    assert report.thumbnail_sheets(tmp_path / "missing.parquet", 250).count == 0


def test_the_page_is_self_contained_and_carries_every_row(tmp_path):
    events = [
        Event(0, 1, "transcript", "say </script><script>alert(1)</script>"),
        Event(1, 2, "transcript", "second words"),
        Event(0, 1, "text", ["EXIT | 3"]),
        Event(1, 2, "text", []),
    ]
    timeline = timeline_of(2.5, events)
    store = write_frame_store(tmp_path / "f.parquet", frames(COLOURS[:3]))
    video = tmp_path / "videos" / "my clip.mp4"
    video.parent.mkdir()
    video.write_bytes(b"not opened by the renderer")
    out = tmp_path / "reports" / "r.html"
    summary = report.render_report(timeline, out, frames_path=store, video_path=video, title="my clip.mp4")

    page = out.read_text()
    assert summary.bytes == out.stat().st_size and summary.thumbnails == 3 and summary.seconds == 3
    assert [p.name for p in out.parent.iterdir()] == ["r.html"]  # written by rename: no temp file left
    # Offline: no external script, style, font or image; the only URLs are the video's.
    assert not re.search(r"""(src|href)\s*=\s*["'](https?:)?//""", page) and "@import" not in page
    assert "<script>alert(1)</script>" not in page  # a transcript cannot end the data element early
    data = page_data(page)
    assert data["seconds"] == 3 and data["columns"]["second"] == [0, 1, 2]
    assert data["columns"]["transcript"] == ["say </script><script>alert(1)</script>", "second words", None]
    assert data["columns"]["text"] == [["EXIT | 3"], [], None]  # [] analysed, nothing found; None not analysed
    assert data["columns"]["end_s"] == [1.0, 2.0, 2.5]

    relative, absolute = data["sources"]
    assert (out.parent / unquote(relative)).resolve() == video.resolve() and absolute == video.resolve().as_uri()
    assert video.read_bytes() == b"not opened by the renderer"


def test_the_score_lane_is_the_timelines_score_and_drops_with_each_aspect_not_analysed():
    expected = ("shot", "camera", "speech", "transcript")
    full = [Event(s, s + 1, a, v, 1.0) for s in range(3) for a, v in [("shot", 0), ("camera", "static")]]
    full += [Event(s, s + 1, "speech", 0.0, 1.0) for s in range(3)] + [
        Event(s, s + 1, "transcript", "") for s in range(3)
    ]

    def lane(events):
        timeline = build_timeline("clip-0123456789", 3, events_frame(events, "clip-0123456789"), expected)
        assert report.timeline_columns(timeline)["score"] == timeline["score"].tolist()
        return timeline["score"].tolist()

    assert lane(full) == [1.0, 1.0, 1.0]
    worse = [e for e in full if not (e.start_s == 1 and e.aspect == "transcript")]
    worse = [e for e in worse if not (e.start_s == 2 and e.aspect in {"transcript", "camera"})]
    assert lane(worse) == [1.0, 0.75, 0.5]


def test_preview_markdown_shows_the_first_rows_and_marks_not_analysed():
    events = [Event(s, s + 1, "camera", "pan_left") for s in range(12)] + [Event(0, 1, "text", ["A | B"])]
    md = report.preview_markdown(timeline_of(12, events), rows=3)
    lines = md.splitlines()
    assert lines[0].startswith("| second | shot | cut | camera |")
    assert len([line for line in lines if line.startswith("| ")]) == 4  # header + 3 rows
    assert "| 0 | · | · | pan_left |" in lines[2] and "A \\| B" in lines[2]
    assert "9 more second(s)" in md
    assert report.per_aspect_line({"shot": 1.0, "objects": 0.0}, ("shot",)) == "shot 100% · objects off"


@pytest.mark.parametrize(
    ("width", "height", "size"), [(1920, 1080, (96, 54)), (1080, 1920, (32, 54)), (4000, 500, (128, 54))]
)
def test_thumbnail_size_follows_the_aspect_ratio_within_bounds(width, height, size):
    assert report.thumbnail_size(width, height) == size


def test_without_a_video_the_page_says_so_instead_of_a_broken_player(tmp_path):
    out = tmp_path / "r.html"
    report.render_report(timeline_of(1, []), out, frames_path=None, video_path=None, title="x")
    data = page_data(out.read_text())
    assert data["sources"] == [] and data["thumbs"]["count"] == 0


def test_a_video_name_that_is_not_utf8_is_referenced_by_its_bytes_and_shown_readably(tmp_path):
    import os

    name = os.fsdecode(b"caf\xe9 clip.mp4")  # Latin-1 bytes: not UTF-8, as an old file system may hold them
    video = tmp_path / name
    video.write_bytes(b"not decoded here")
    out = tmp_path / "report" / "r.html"
    report.render_report(timeline_of(1, []), out, frames_path=None, video_path=video, title=name)
    data = page_data(out.read_text(encoding="utf-8"))
    relative, absolute = data["sources"]
    assert relative == "../caf%E9%20clip.mp4" and absolute.startswith("file:///")
    assert os.fsencode(unquote(absolute.removeprefix("file://"), errors="surrogateescape")) == os.fsencode(video)
    assert "caf\ufffd clip.mp4" in out.read_text(encoding="utf-8")


def test_seconds_without_a_picture_get_a_black_thumbnail_not_the_last_frame(tmp_path):
    """Sound that goes on after the picture ended showed the last frame under every later second."""
    from analyzers.frames import FrameStoreWriter, SampledFrame
    from analyzers.records import DERIVED
    from analyzers.timeline import seconds_without_picture

    store = tmp_path / "frames.parquet"
    writer = FrameStoreWriter(store)
    for i, image in enumerate(frames(COLOURS[:2], per_second=1)):
        writer.add(SampledFrame(t=float(i), frame_index=i, image=image))
    writer.close()
    quality = events_frame(
        [Event(0, 1, "video_decoded", 1.0), Event(1, 2, "video_decoded", 0.3, detail={"lost_s": 0.7})]
        + [Event(s, s + 1, "video_decoded", 1.0, detail={DERIVED: "no picture"}) for s in (2, 3)],
        "v",
    )
    blank = seconds_without_picture(quality, 4)
    assert blank == {1, 2, 3}  # mostly lost, then no picture
    thumbs = report.thumbnail_sheets(store, 4, blank=blank)
    data = page_data(report.report_html(timeline_of(4, []), title="t", thumbnails=thumbs, sources=[]))
    means = [t.reshape(-1, 3).mean(axis=0) for t in sheet_thumbnails(data)]
    assert np.abs(means[0] - np.array(COLOURS[0])).max() < 12
    assert [float(m.max()) < 8 for m in means[1:]] == [True, True, True]
    shown = report.thumbnail_sheets(store, 4)  # without the blank seconds the held frame repeats
    means = [
        t.reshape(-1, 3).mean(axis=0)
        for t in sheet_thumbnails(
            page_data(report.report_html(timeline_of(4, []), title="t", thumbnails=shown, sources=[]))
        )
    ]
    assert all(np.abs(m - np.array(COLOURS[1])).max() < 12 for m in means[1:])
