"""The HTML report of a 1-hour video: its size, how long it takes to render, and how long Chromium takes
to open it and to draw after a scroll or zoom.

    .venv/bin/python -m bench.report_bench [--minutes 60] [--out bench/results/report_1h.json]

The hour is generated: the sampled frames are real pictures (every frame of the corpus's real clips,
decoded at the pipeline's 2 fps and 1280 px, cycled), so thumbnails compress like real video; the
timeline has realistic text in every column (shots every ~6 s, a transcript most seconds, on-screen
text now and then, a composed description each second). Not part of the test run.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np

from analyzers.decode import decode_video
from analyzers.frames import FrameStoreWriter, SampledFrame, iter_frames
from analyzers.probe import probe_video
from analyzers.records import Event, events_frame
from analyzers.report import render_report
from analyzers.timeline import build_timeline
from bench.corpus import REAL, ROOT, SYNTHETIC

WORDS = [
    "the",
    "a",
    "report",
    "shows",
    "every",
    "second",
    "of",
    "video",
    "with",
    "its",
    "pictures",
    "lanes",
    "and",
    "words",
    "spoken",
    "on",
    "screen",
]


def corpus_pictures(folder: Path) -> list[np.ndarray]:
    """Every sampled frame (2 fps, as the pipeline stores them) of the corpus clips."""
    pictures = []
    for clip in [SYNTHETIC, *sorted(REAL.glob("*.mp4"))]:
        store = folder / f"{clip.stem}.parquet"
        decode_video(probe_video(clip), store, sample_fps=2.0, max_side=1280)
        pictures += [f.image for f in iter_frames(store)]
    return pictures


def hour_of_frames(path: Path, pictures: list[np.ndarray], seconds: int) -> None:
    writer = FrameStoreWriter(path)
    for i in range(seconds * 2):
        writer.add(SampledFrame(t=i / 2, frame_index=i, image=pictures[i % len(pictures)]))
    writer.close()


def hour_of_events(seconds: int, rng: np.random.Generator) -> list[Event]:
    cameras = ["static", "pan_left", "pan_right", "tilt_up", "zoom_in", "moving"]
    events, shot = [], 0
    for s in range(seconds):
        if s and rng.random() < 1 / 6:
            shot += 1
            events.append(Event(s, s + 1, "cut", True))
        else:
            events.append(Event(s, s + 1, "cut", False))
        spoken = rng.random() < 0.7
        events += [
            Event(s, s + 1, "shot", shot),
            Event(s, s + 1, "camera", cameras[shot % len(cameras)]),
            Event(s, s + 1, "faces", int(rng.integers(0, 4))),
            Event(s, s + 1, "text", [f"Caption {shot}"] if rng.random() < 0.2 else []),
            Event(s, s + 1, "speech", float(rng.random()) if spoken else 0.0),
            Event(s, s + 1, "transcript", " ".join(rng.choice(WORDS, 3)) if spoken else ""),
            Event(s, s + 1, "loudness_db", float(rng.uniform(-50, -10))),
            Event(s, s + 1, "brightness", float(rng.random())),
            Event(s, s + 1, "colour", "grey"),
        ]
    return events


def open_in_chromium(page_path: Path) -> dict:
    from support.browser import chromium_browser

    with chromium_browser(install=True) as browser:
        page = browser.new_page()
        started = time.perf_counter()
        page.goto(page_path.as_uri(), timeout=120_000)
        page.wait_for_function("() => window.timelineReport && window.timelineReport.ready", timeout=120_000)
        ready_s = time.perf_counter() - started
        # A redraw after scrolling to the middle, and the whole-video zoom (every second on screen).
        draw_ms = page.evaluate("""() => {
            const s = document.getElementById('scroller'), t0 = performance.now();
            s.scrollLeft = s.scrollWidth / 2; s.dispatchEvent(new Event('scroll'));
            const frames = r => requestAnimationFrame(() => requestAnimationFrame(() => r(performance.now() - t0)));
            return new Promise(frames);
        }""")
        zoom_ms = page.evaluate("""() => {
            const z = document.getElementById('zoom'), t0 = performance.now();
            z.value = '0'; z.dispatchEvent(new Event('change'));
            const frames = r => requestAnimationFrame(() => requestAnimationFrame(() => r(performance.now() - t0)));
            return new Promise(frames);
        }""")
        heap = page.evaluate("() => performance.memory ? performance.memory.usedJSHeapSize : null")
    return {
        "open_to_ready_s": round(ready_s, 2),
        "scroll_redraw_ms": round(draw_ms, 1),
        "whole_video_zoom_ms": round(zoom_ms, 1),
        "js_heap_mb": round(heap / 1e6, 1) if heap else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=int, default=60)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "report_1h.json"))
    args = parser.parse_args(argv)
    seconds = args.minutes * 60
    with tempfile.TemporaryDirectory(prefix="report_bench_") as tmp:
        folder = Path(tmp)
        pictures = corpus_pictures(folder)
        frames = folder / "sampled_frames.parquet"
        hour_of_frames(frames, pictures, seconds)
        events = hour_of_events(seconds, np.random.default_rng(0))
        timeline = build_timeline("bench-0000000000", seconds, events_frame(events, "bench-0000000000"))
        started = time.perf_counter()
        summary = render_report(
            timeline, folder / "report.html", frames_path=frames, video_path=SYNTHETIC, title="1-hour bench"
        )
        render_s = time.perf_counter() - started
        browser = open_in_chromium(summary.path)
    result = {
        "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": f".venv/bin/python -m bench.report_bench --minutes {args.minutes}",
        "seconds": seconds,
        "distinct_pictures": len(pictures),
        "report_mb": round(summary.bytes / 1e6, 2),
        "thumbnails": summary.thumbnails,
        "bytes_per_second_of_video": math.floor(summary.bytes / seconds),
        "render_s": round(render_s, 1),
        **browser,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
