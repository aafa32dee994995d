"""Memory of `video-timeline analyze` as the video gets longer: the whole process, step by step.

    .venv/bin/python -m bench.long_video_memory [--copies 1 12 36] [--out bench/sections/long_video_memory.md]

Each video is synthetic_clip01 (48 s, 720p25, faces, text, speech) joined to itself N times (stream copy,
so every copy is the real clip). Each runs through the default graph in a fresh process and instance; its
resident memory is sampled every 0.25 s and matched to the run's step start and success events, giving the
peak of the whole process and the highest memory seen while each step ran (memory a step leaves behind counts
in the steps after it). A step whose peak grows with the video's length holds something per second.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench import machine
from bench.corpus import SYNTHETIC
from bench.env import BenchEnv, ffmpeg, instance_at, step_spans

SAMPLE_S = 0.25


def joined(copies: int, folder: Path) -> Path:
    listing = folder / f"copies_{copies}.txt"
    listing.write_text(f"file '{SYNTHETIC}'\n" * copies)
    out = folder / f"synthetic_x{copies}.mp4"
    ffmpeg("-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(out))
    return out


def _rss_mb(pid: int) -> float | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    return int(status.split("VmRSS:")[1].split()[0]) / 1024


def analyse(env: BenchEnv, video: Path) -> dict:
    """The CLI on `video` with its memory sampled: (time, MB) samples, the wall time and the last line."""
    cli = Path(sys.executable).with_name("video-timeline")
    samples: list[tuple[float, float]] = []
    started = time.time()
    proc = subprocess.Popen([str(cli), "analyze", str(video)], env=env.env, stdout=subprocess.PIPE, text=True)

    def sample() -> None:
        while proc.poll() is None:
            mb = _rss_mb(proc.pid)
            if mb is not None:
                samples.append((time.time(), mb))
            time.sleep(SAMPLE_S)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = proc.communicate()
    sampler.join()
    if proc.returncode:
        raise RuntimeError(f"video-timeline analyze {video} exited {proc.returncode}")
    return {"samples": samples, "wall_s": round(time.time() - started, 1), "line": out.strip().splitlines()[0]}


def step_peaks(env: BenchEnv, samples: list[tuple[float, float]]) -> dict[str, float]:
    """The highest memory sampled while each step of the instance's latest run ran."""
    peaks = {}
    with instance_at(env.home) as instance:
        for step, a, b in step_spans(instance, instance.get_runs(limit=1)[0].run_id):
            inside = [mb for t, mb in samples if a <= t <= b]
            if inside:
                peaks[step] = round(max(inside))
    return peaks


def run(copies: list[int]) -> dict:
    rows = []
    for n in copies:
        env = BenchEnv()
        try:
            video = joined(n, env.media)
            result = analyse(env, video)
            peaks = step_peaks(env, result["samples"])
            rows.append(
                {
                    "copies": n,
                    "video_s": round(48.0 * n),
                    "wall_s": result["wall_s"],
                    "peak_mb": round(max(mb for _, mb in result["samples"])),
                    "step_peak_mb": peaks,
                    "line": result["line"],
                }
            )
            print(f"x{n}: {rows[-1]['peak_mb']} MB, {result['wall_s']} s", file=sys.stderr, flush=True)
        finally:
            env.close()
    return {"videos": rows}


def markdown(results: dict, command: str, before: dict | None = None) -> str:
    """The section; `before`: the results of an earlier commit, shown row by row beside these."""
    rows = results["videos"]
    earlier = {r["copies"]: r for r in before["videos"]} if before else {}
    # the steps sampled in every run, in the order they finished in the longest one
    steps = [s for s in rows[-1]["step_peak_mb"] if all(s in r["step_peak_mb"] for r in rows)]
    lines = [
        "## Memory of a long video, whole process (`video-timeline analyze`, default graph)",
        "",
        machine.measured_on(results["machine"], command)
        + " synthetic_clip01 joined to itself N times; the process's resident memory sampled every "
        f"{SAMPLE_S} s; per step the highest memory seen while it ran (what earlier steps left counts too).",
        "",
        "| video | commit | wall | peak RSS MB | " + " | ".join(steps) + " |",
        "|---" * (4 + len(steps)) + "|",
    ]
    for r in rows:
        for commit, row in (
            (before["machine"]["commit"], earlier.get(r["copies"])) if before else (None, None),
            (results["machine"]["commit"], r),
        ):
            if row is None:
                continue
            cells = [str(row["step_peak_mb"].get(s, "")) for s in steps]
            lines.append(
                f"| {row['video_s'] / 60:.1f} min | {commit} | {row['wall_s']} s | {row['peak_mb']} | "
                + " | ".join(cells)
                + " |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, nargs="+", default=[1, 12])
    parser.add_argument("--out", type=Path, help="write the markdown section here")
    parser.add_argument("--before", type=Path, help="results file of an earlier commit to show beside these")
    parser.add_argument("--section-only", type=Path, metavar="RESULTS", help="only write the section of a results file")
    args = parser.parse_args(argv)
    before = json.loads(args.before.read_text()) if args.before else None
    if args.section_only:
        results = json.loads(args.section_only.read_text())
        machine.publish(markdown(results, results["command"], before), None, args.out)
        return 0
    started = time.time()
    results = run(args.copies)
    command = "python -m bench.long_video_memory --copies " + " ".join(map(str, args.copies))
    command += f" --out {args.out}" if args.out else ""
    path = machine.save_results(results, "long_video_memory", started, command)
    machine.publish(markdown(results, command, before), path, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
