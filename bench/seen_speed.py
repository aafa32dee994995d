"""What the seen-and-heard analyzers (objects followed, persons, sound events, speakers) add to the default
graph: the whole process of `python -m bench.worker graph` on synthetic_clip01 with the default graph and
with the same graph without those four assets (`--graph without-seen`), this checkout's code in both, runs
interleaved so a burst of load on the shared machine hits both, each in a fresh instance.

    flock /work/cpu.lock .venv/bin/python -m bench.seen_speed [--repeat 2]

Why not a git ref before the four: the code around them changed since (OCR took 3.4 s of that clip at the
ref and 8.8 s now), so a before/after of refs measures those changes too.
Results: bench/results/seen_speed-<UTC time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import corpus  # noqa: E402
from bench.env import BenchEnv  # noqa: E402
from bench.worker import SEEN_AND_HEARD  # noqa: E402

RESULTS = ROOT / "bench" / "results"
VARIANTS = ("without-seen", "default")


def run(clip: Path, graph: str) -> dict:
    env = BenchEnv()
    try:
        result = env.worker("graph", str(clip), "--data", str(env.data), "--graph", graph)
    finally:
        env.close()
    if "error" in result or not result.get("success"):
        raise RuntimeError(f"{graph}: {result.get('error') or result.get('failure')}")
    return {"process_s": result["process_s"], "steps": result["steps"]}


def summary(runs: dict[str, list[dict]]) -> dict:
    median = {v: statistics.median(r["process_s"] for r in rs) for v, rs in runs.items()}
    best = {v: min(r["process_s"] for r in rs) for v, rs in runs.items()}
    added = [sum(r["steps"].get(name, 0.0) for name in SEEN_AND_HEARD) for r in runs["default"]]
    return {
        "process_s": {v: [r["process_s"] for r in rs] for v, rs in runs.items()},
        "median_s": median,
        "growth_of_medians": round(median["default"] / median["without-seen"] - 1, 3),
        "growth_of_best": round(best["default"] / best["without-seen"] - 1, 3),
        "new_steps_s": {n: [r["steps"].get(n) for r in runs["default"]] for n in SEEN_AND_HEARD},
        "new_steps_share_of_without": round(statistics.median(added) / median["without-seen"], 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=2, help="runs of each variant, interleaved")
    parser.add_argument("--clip", type=Path, default=corpus.SYNTHETIC)
    args = parser.parse_args(argv)
    runs: dict[str, list[dict]] = {v: [] for v in VARIANTS}
    for i in range(args.repeat):
        for variant in VARIANTS:
            runs[variant].append(run(args.clip, variant))
            print(f"run {i + 1} {variant}: {runs[variant][-1]['process_s']:.2f} s", file=sys.stderr, flush=True)
    result = {
        "clip": args.clip.name,
        **summary(runs),
        "steps": {v: [r["steps"] for r in rs] for v, rs in runs.items()},
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": f"{os.cpu_count()} cores",
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"seen_speed-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    out.write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k != "steps"}, indent=1))
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
