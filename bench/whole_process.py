"""Issue 15's figures, side by side in one run, each a whole process as a user starts it (interpreter
start, imports, instance, run): `python -m bench.whole_process`, and part of `make bench`.

- ffmpeg decoding synthetic_clip01 (`ffmpeg -i CLIP -f null -`): the reference for every ratio below;
- `video-timeline analyze` on a 1-second clip (the first run on a new instance, then `--force` repeats);
- `video-timeline analyze synthetic_clip01` with the default graph, and its time over ffmpeg's;
- the light graph in-process (bench/worker.py graph --graph light; since 2026-12-06 12:00 UTC without the frame
  store, which nothing in it reads): real-time factor;
- for both graphs, the CPU seconds they used and so the best real-time factor the machine's cores allow
  that work (all of them busy from start to end), which no scheduling of the steps can beat; for the default
  graph also the cores each step kept busy on average (its process's CPU over time, bench/cpu_trace.py);
- re-analysing the unchanged synthetic_clip01: wall time, and the decode counter of that process;
- 10 clips of 10 s in one `analyze` call: per file, its line's time minus the time its steps ran (the union
  of their start-to-end intervals, from the run's events): what Dagster, registration and the score cost;
- the cut path (`video-timeline cuts`: probe, a signals-only decode pass, shots) against PySceneDetect's content
  detector (`detect(CLIP, ContentDetector())`), each a whole process, with cut F1 against the corpus truth
  or, for clips without one, the labelled set (bench/labels).

Writes bench/results/whole_process-latest.json, bench/sections/whole_process.md (BENCHMARKS.md keeps it)
and the README's whole-process table.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench import corpus, machine
from bench.accuracy import load_labels
from bench.cpu_trace import SAMPLE_S, CpuTrace
from bench.env import BenchEnv, ffmpeg, instance_at, step_spans
from bench.scores import cut_f1

RESULTS = corpus.ROOT / "bench" / "results"
SECTION = corpus.ROOT / "bench" / "sections" / "whole_process.md"
README_START, README_END = "<!-- bench-whole-process:start -->", "<!-- bench-whole-process:end -->"
REPEATS = 3  # short whole-process figures: the median of 3
BATCH_FILES, BATCH_SECONDS = 10, 10
MIN_STEP_S = 0.3  # a shorter step's CPU is a few samples of the trace (bench.cpu_trace)
CORES = len(os.sched_getaffinity(0))
TARGETS = {
    "one_second_s": 3.0,
    "default_realtime": 5.0,
    "default_vs_ffmpeg": 7.0,
    "light_realtime": 20.0,
    "unchanged_s": 2.0,
    "batch_overhead_s": 0.5,
    "cut_clips_faster": 5,
}
PEER = (
    "import json, sys\n"
    "from scenedetect import ContentDetector, detect\n"
    "print(json.dumps([start.seconds for start, _ in detect(sys.argv[1], ContentDetector())[1:]]))\n"
)


def log(message: str, started: float = time.perf_counter()) -> None:
    print(f"[{time.perf_counter() - started:6.0f} s] {message}", file=sys.stderr, flush=True)


def timed(command: list[str], env: dict, timeout: float = 1800) -> tuple[float, subprocess.CompletedProcess]:
    took, proc, _ = _run(command, env, timeout, traced=False)
    return took, proc


def timed_cpu(command: list[str], env: dict) -> tuple[float, float, subprocess.CompletedProcess, CpuTrace]:
    """`timed`, plus the CPU seconds (user and system) of the command and the children it waited for, and the
    trace of its own process's CPU over time (bench.cpu_trace)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall, proc, trace = _run(command, env, 1800, traced=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, round(cpu, 2), proc, trace


def _run(
    command: list[str], env: dict, timeout: float, traced: bool
) -> tuple[float, subprocess.CompletedProcess, CpuTrace | None]:
    """Wall seconds of the command, what it printed, and (traced) its process's CPU over time."""
    started = time.perf_counter()
    with subprocess.Popen(
        command, env=env, cwd=corpus.ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as popen:
        trace = CpuTrace(popen.pid) if traced else None
        try:
            stdout, stderr = popen.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            popen.kill()
            raise
        finally:
            if trace is not None:
                trace.stop()
    took = round(time.perf_counter() - started, 3)
    if popen.returncode != 0:
        tail = "\n".join((stderr or stdout).strip().splitlines()[-5:])
        raise RuntimeError(f"{' '.join(command)} exited {popen.returncode}: {tail}")
    return took, subprocess.CompletedProcess(command, popen.returncode, stdout, stderr), trace


def realtime_bound(duration_s: float, cpu_s: float, cores: int) -> float:
    """The best real-time factor this much CPU work allows: every core busy from start to end."""
    return round(duration_s / (cpu_s / cores), 2)


def cli(*args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("video-timeline")), *args]


def ffmpeg_decode_s(clip: Path, env: dict) -> float:
    return timed(["ffmpeg", "-v", "error", "-nostdin", "-i", str(clip), "-f", "null", "-"], env)[0]


def cut_row(clip: Path, env: dict) -> dict:
    """Ours and PySceneDetect's, alternating, REPEATS times each: the medians (either may meet a busy moment)."""
    ours_s, peer_s = [], []
    for _ in range(REPEATS):
        took, ours = timed(cli("cuts", "--format", "json", str(clip)), env)
        ours_s.append(took)
        took, peer = timed([sys.executable, "-c", PEER, str(clip)], env)
        peer_s.append(took)
    row = {
        "ours_s": statistics.median(ours_s),
        "pyscenedetect_s": statistics.median(peer_s),
        "ours_runs_s": ours_s,
        "pyscenedetect_runs_s": peer_s,
        "ours_cuts": [b["time_s"] for b in json.loads(ours.stdout)[0]["boundaries"]],
        "pyscenedetect_cuts": json.loads(peer.stdout.strip().splitlines()[-1]),
    }
    truth = truth_cuts(clip)
    if truth is not None:
        row["truth"], cuts = truth
        row["ours_f1"] = cut_f1(row["ours_cuts"], cuts)["f1"]
        row["pyscenedetect_f1"] = cut_f1(row["pyscenedetect_cuts"], cuts)["f1"]
    return row


def truth_cuts(clip: Path) -> tuple[str, list[float]] | None:
    """(where from, cut times): the corpus's own truth where it has cuts, else the labelled set (bench/labels)."""
    truth = corpus.ground_truth(clip)
    if truth is not None and truth.cuts is not None:
        return "corpus truth", truth.cuts
    labelled = [labels.cuts for labels in load_labels() if labels.path.name == clip.name]
    return ("bench/labels", labelled[0]) if labelled else None


def step_seconds_by_partition(home: Path) -> dict[str, float]:
    """Per partition (its latest run), the time any of its steps was running: the union of the intervals
    from each step's start event to its success or failure event."""
    out: dict[str, float] = {}
    with instance_at(home) as instance:
        for run in reversed(instance.get_runs()):  # oldest first: a later run of a partition replaces it
            busy, end = 0.0, float("-inf")
            for a, b in sorted((a, b) for _, a, b in step_spans(instance, run.run_id)):
                busy += max(0.0, b - max(a, end))
                end = max(end, b)
            out[run.tags.get("dagster/partition", run.run_id)] = busy
    return out


def _latest_run(instance, partition: str):
    return next(r for r in instance.get_runs() if r.tags.get("dagster/partition") == partition)


def step_cores(home: Path, partition: str, trace: CpuTrace) -> dict[str, float]:
    """Cores each step of the partition's latest run kept busy on average (its CPU seconds over its wall
    seconds), for the steps of at least MIN_STEP_S."""
    with instance_at(home) as instance:
        spans = step_spans(instance, _latest_run(instance, partition).run_id)
    return {step: round(trace.used(a, b) / (b - a), 2) for step, a, b in spans if b - a >= MIN_STEP_S}


def step_durations(home: Path, partition: str) -> dict[str, float]:
    """Seconds each step of the partition's latest run took (Dagster's own step duration)."""
    with instance_at(home) as instance:
        run = _latest_run(instance, partition)
        return {
            r.dagster_event.step_key: round(r.dagster_event.event_specific_data.duration_ms / 1000, 3)
            for r in instance.all_logs(run.run_id)
            if r.dagster_event and r.dagster_event.event_type_value == "STEP_SUCCESS"
        }


def batch(env: BenchEnv, clips: list[Path]) -> dict:
    wall, proc = timed(cli("analyze", *map(str, clips)), env.env)
    keys = dict(re.findall(r"analysing (\S+) as partition (\S+) \.\.\.", proc.stdout))
    took = {p: float(s) for p, s in re.findall(r"^(\S+): \d+ seconds in ([\d.]+) s", proc.stdout, flags=re.M)}
    steps = step_seconds_by_partition(env.home)
    files = [
        {
            "file": Path(p).name,
            "line_s": took[p],
            "steps_busy_s": round(steps[keys[p]], 3),
            "overhead_s": round(took[p] - steps[keys[p]], 3),
        }
        for p in map(str, clips)
    ]
    return {
        "process_s": wall,
        "sum_of_lines_s": round(sum(f["line_s"] for f in files), 3),
        "start_up_s": round(wall - sum(f["line_s"] for f in files), 3),  # paid once: imports, instance, exit
        "files": files,
        "overhead_after_first_s": {
            "median": round(statistics.median(f["overhead_s"] for f in files[1:]), 3),
            "max": round(max(f["overhead_s"] for f in files[1:]), 3),
        },
    }


def measure(env: BenchEnv) -> dict:
    syn = corpus.SYNTHETIC
    out: dict = {"clip": syn.name}
    duration = _duration(syn)
    out["duration_s"] = duration
    out["ffmpeg_decode_s"] = [ffmpeg_decode_s(syn, env.env) for _ in range(REPEATS)]
    log(f"ffmpeg decode {out['ffmpeg_decode_s']}")

    one = env.media / "one_second.mp4"
    ffmpeg("-i", str(syn), "-t", "1", "-c:v", "libx264", "-c:a", "aac", str(one))
    first = timed(cli("analyze", str(one)), env.env)[0]
    repeats = [timed(cli("analyze", str(one), "--force"), env.env)[0] for _ in range(REPEATS)]
    out["one_second"] = {"first_on_new_instance_s": first, "force_s": repeats, "median_s": statistics.median(repeats)}
    log(f"1-second clip {out['one_second']}")

    default_s, default_cpu, proc, trace = timed_cpu(cli("analyze", str(syn)), env.env)
    key = re.search(r"as partition (\S+) ", proc.stdout)
    out["default_graph"] = {
        "steps_s": step_durations(env.home, key.group(1)) if key else None,
        "steps_cores": step_cores(env.home, key.group(1), trace) if key else None,
        "process_s": default_s,
        "realtime": round(duration / default_s, 2),
        "cpu_s": default_cpu,
        "cores": CORES,
        "realtime_bound": realtime_bound(duration, default_cpu, CORES),
        "vs_ffmpeg": round(default_s / statistics.median(out["ffmpeg_decode_s"]), 2),
        "line": next((line for line in proc.stdout.splitlines() if " seconds in " in line), None),
    }
    log(f"default graph {out['default_graph']}")

    counts_path = env.root / "counts.json"
    unchanged = [timed(cli("analyze", str(syn)), env.env)[0] for _ in range(REPEATS)]
    _, proc = timed(
        [sys.executable, "-m", "bench.counted_cli", "analyze", str(syn)],
        {**env.env, "BENCH_DECODE_COUNTS": str(counts_path)},
    )
    out["unchanged"] = {
        "process_s": unchanged,
        "median_s": statistics.median(unchanged),
        "said_unchanged": "unchanged since its last analysis" in proc.stdout,
        "decode_counter": json.loads(counts_path.read_text()),
    }
    log(f"unchanged {out['unchanged']}")

    light = env.worker("graph", str(syn), "--data", str(env.data / "light"), "--graph", "light")
    out["light_graph"] = {k: light.get(k) for k in ("wall_s", "cpu_s", "success", "error")}
    if light.get("success"):
        out["light_graph"]["realtime"] = round(duration / light["wall_s"], 2)
        out["light_graph"]["cores"] = CORES
        out["light_graph"]["realtime_bound"] = realtime_bound(duration, light["cpu_s"], CORES)
    log(f"light graph {out['light_graph']}")

    clips = []
    for i in range(BATCH_FILES):
        clip = env.media / f"ten_{i:02d}.mp4"
        start = i * (duration - BATCH_SECONDS) / max(1, BATCH_FILES - 1)
        ffmpeg("-ss", f"{start:.2f}", "-i", str(syn), "-t", str(BATCH_SECONDS), "-c:v", "libx264", "-preset",
               "veryfast", "-c:a", "aac", str(clip))  # fmt: skip
        clips.append(clip)
    out["batch"] = batch(env, clips)
    log(f"batch {out['batch']['process_s']} s, overhead {out['batch']['overhead_after_first_s']}")

    out["cuts"] = {}
    for clip in corpus.video_clips():
        try:
            out["cuts"][clip.name] = {"ffmpeg_decode_s": ffmpeg_decode_s(clip, env.env), **cut_row(clip, env.env)}
        except (RuntimeError, subprocess.TimeoutExpired) as exc:  # reported in the table, the others still run
            out["cuts"][clip.name] = {"error": str(exc).splitlines()[-1]}
        log(f"cuts {clip.name} {out['cuts'][clip.name]}")
    return out


def _duration(clip: Path) -> float:
    from analyzers.probe import probe_video

    return probe_video(clip).duration_s


def _bound(figure: dict) -> str:
    """What the figure's CPU work allows at best (results from before 2026-12-05 lack it)."""
    if "realtime_bound" not in figure:
        return ""
    return (
        f"; {figure['cpu_s']:.1f} CPU s: at most {figure['realtime_bound']:.1f}x"
        f" with {figure['cores']} cores busy throughout"
    )


def _met(ok: bool) -> str:
    return "yes" if ok else "**no**"


def summary_rows(r: dict) -> list[list[str]]:
    """(figure, measured, target, met) rows of the issue's figures."""
    ff = statistics.median(r["ffmpeg_decode_s"])
    one, default, unchanged, light, batch_ = (
        r["one_second"],
        r["default_graph"],
        r["unchanged"],
        r["light_graph"],
        r["batch"],
    )
    cuts = {n: c for n, c in r["cuts"].items() if "error" not in c}
    scored = {n: c for n, c in cuts.items() if "ours_f1" in c}
    faster = [n for n, c in cuts.items() if c["ours_s"] < c["pyscenedetect_s"]]
    faster_ok = [n for n in faster if n in scored and scored[n]["ours_f1"] >= scored[n]["pyscenedetect_f1"]]
    counter = unchanged["decode_counter"]
    over = batch_["overhead_after_first_s"]
    rows = [
        ["ffmpeg decoding synthetic_clip01 (reference)", f"{ff:.2f} s ({r['duration_s'] / ff:.0f}x real time)", "", ""],
        [
            "`analyze` a 1-second clip (median of 3, `--force`)",
            f"{one['median_s']:.2f} s (first run on a new instance {one['first_on_new_instance_s']:.2f} s)",
            "<= 3 s",
            _met(one["median_s"] <= TARGETS["one_second_s"]),
        ],
        [
            "`analyze` synthetic_clip01, default graph",
            f"{default['process_s']:.1f} s: {default['realtime']:.1f}x real time, {default['vs_ffmpeg']:.1f}x ffmpeg"
            + _bound(default),
            ">= 5x real time, <= ~7x ffmpeg",
            _met(default["realtime"] >= TARGETS["default_realtime"]),
        ],
        [
            "light graph in-process (no frame store: nothing in it reads one), synthetic_clip01",
            f"{light['realtime']:.1f}x real time ({light['wall_s']:.2f} s)" + _bound(light)
            if light.get("success")
            else "failed",
            ">= 20x",
            _met(light.get("realtime", 0) >= TARGETS["light_realtime"]),
        ],
        [
            "re-`analyze` the unchanged synthetic_clip01 (median of 3)",
            f"{unchanged['median_s']:.2f} s; decode counter: {counter['video_frames']} video and"
            f" {counter['audio_frames']} audio frames decoded",
            "<= 2 s, no frame decoded",
            _met(
                unchanged["median_s"] <= TARGETS["unchanged_s"]
                and unchanged["said_unchanged"]
                and counter["video_frames"] == counter["audio_frames"] == 0
            ),
        ],
        [
            f"{BATCH_FILES} clips of {BATCH_SECONDS} s in one `analyze`",
            f"{batch_['process_s']:.1f} s; start-up once {batch_['start_up_s']:.1f} s; per file after the first,"
            f" beyond its steps' time: median {over['median']:.2f} s, max {over['max']:.2f} s",
            "<= 0.5 s a file",
            _met(over["max"] <= TARGETS["batch_overhead_s"]),
        ],
        [
            "cut path (probe, decode, shots) vs PySceneDetect content detector, whole process",
            f"faster on {len(faster)} of {len(r['cuts'])} clips, {len(faster_ok)} of them at equal or better cut F1",
            ">= 5 of 7 at equal or better F1",
            _met(len(faster_ok) >= TARGETS["cut_clips_faster"]),
        ],
    ]
    return rows


def _table(header: list[str], rows: list[list]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(str(c) for c in row) + " |" for row in rows),
    ]


def _cores_lines(default: dict) -> list[str]:
    """The default graph's cores busy per step (results from before 2026-12-06 lack them)."""
    cores = default.get("steps_cores")
    if not cores:
        return []
    busy = ", ".join(f"{step} {n:.2f}" for step, n in sorted(cores.items(), key=lambda kv: -kv[1]))
    return [
        "",
        f"Cores the default graph's steps kept busy on average, of {default['cores']} (a step's CPU seconds over its"
        f" wall seconds, from its process's CPU sampled every {SAMPLE_S * 1000:.0f} ms; steps of {MIN_STEP_S} s or"
        f" more): {busy}.",
    ]


def section_lines(r: dict) -> list[str]:
    m = r["machine"]
    lines = [
        "## Whole process (issue 15)",
        "",
        f"Measured {m['date_utc']}, commit {m['commit']}, on {m['cores']} cores ({m['cpu']}), shared with other work"
        f" (load {m['load_average_start']} at start, {m.get('load_average_end')} at end), by `{r['command']}`"
        f" ({r['wall_s']:.0f} s). Every figure is one process as a user starts it, measured side by side in this run.",
        "",
        *_table(["figure", "measured", "target", "met"], summary_rows(r)),
        *_cores_lines(r["default_graph"]),
        "",
        f"Cut path per clip (`video-timeline cuts` and PySceneDetect, whole process each, the median of {REPEATS}"
        " runs alternating; ffmpeg's decode of the same clip for reference):",
        "",
    ]
    rows = []
    for name, c in r["cuts"].items():
        if "error" in c:
            rows.append([name, "", "", "", f"failed: {c['error']}"])
            continue
        f1 = f"{c['ours_f1']:.2f} vs {c['pyscenedetect_f1']:.2f} ({c['truth']})" if "ours_f1" in c else "no cut truth"
        rows.append([name, f"{c['ffmpeg_decode_s']:.2f}", f"{c['ours_s']:.2f}", f"{c['pyscenedetect_s']:.2f}", f1])
    lines += _table(["clip", "ffmpeg decode s", "ours s", "PySceneDetect s", "cut F1 ours vs PySceneDetect"], rows)
    lines += ["", f"{BATCH_FILES} clips of {BATCH_SECONDS} s in one call, per file:", ""]
    lines += _table(
        ["file", "its line's time s", "its steps running s", "the rest s"],
        [
            [f["file"], f"{f['line_s']:.2f}", f"{f['steps_busy_s']:.2f}", f"{f['overhead_s']:.2f}"]
            for f in r["batch"]["files"]
        ],
    )
    return lines


def write(r: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "whole_process-latest.json").write_text(json.dumps(r, indent=1))
    SECTION.parent.mkdir(parents=True, exist_ok=True)
    SECTION.write_text("\n".join(section_lines(r)) + "\n")
    readme = corpus.ROOT / "README.md"
    text = readme.read_text()
    if README_START in text:
        m = r["machine"]
        block = "\n".join(
            [
                README_START,
                f"Whole process, measured {m['date_utc']} on {m['cores']} cores ({m['cpu']}, shared with other work;"
                f" ffmpeg's decode of the same clip is the reference), side by side in one run (`{r['command']}`;"
                " bench/sections/whole_process.md has every figure):",
                "",
                *_table(["figure", "measured", "target", "met"], summary_rows(r)),
                README_END,
            ]
        )
        text = re.sub(re.escape(README_START) + r".*?" + re.escape(README_END), lambda _: block, text, flags=re.S)
        tmp = readme.with_name(".README.md.tmp")
        tmp.write_text(text)
        os.replace(tmp, readme)


def run(env: BenchEnv, command: str) -> dict:
    started = time.time()
    r = {"machine": machine.describe(), "command": command}
    r.update(measure(env))
    r["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    r["wall_s"] = round(time.time() - started, 1)
    write(r)
    return r


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.whole_process", description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the temp instance and outputs")
    args = parser.parse_args(argv)
    if corpus.missing("bench"):
        return 0
    env = BenchEnv(keep=args.keep)
    try:
        run(env, " ".join([Path(sys.executable).name, "-m", "bench.whole_process", *(argv or sys.argv[1:])]))
    finally:
        env.close()
    print(SECTION.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
