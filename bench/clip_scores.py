"""Per-clip reconstruction score, in a form an accuracy measurement can be correlated with.

    .venv/bin/python -m bench.clip_scores [FILE ...] [--out PATH] [--accuracy ACCURACY.json [--aspects a,b,...]]

Each clip (default: every video of the shared corpus; exit 0 when it is absent) is analysed by the default
graph (models.toml) on a throw-away instance, one in-process run per clip. The figures are the ones the
`reconstruction_score` check recorded, the number the CLI and the UI show: score, coverage, per-aspect
scores and why the score is below 1. They are written as JSON (default bench/results/clip_scores.json):

    {"measured": {...machine, date, command...}, "clips": {"<file name>": {"score": 0.74, "coverage": 1.0,
     "per_aspect": {"camera": 0.49, ...}, "below_1": "...", "path": "..."}}}

`--accuracy` takes a JSON object {"<file name>": accuracy} (or {"clips": {"<file name>": {"accuracy": x}}},
as an accuracy script may write it) and prints Spearman's rank correlation of score and accuracy over the
clips found in both; with `--aspects a,b,...` it correlates the mean of those aspects' scores instead (when
the accuracy measures only some aspects: a clip without sound scores at most 5/9 whatever its picture).
The score is designed to rank clips like their accuracy: it counts only observed cells, each weighted by
its analyzer's confidence.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import machine
from bench.accuracy import spearman
from bench.corpus import CORPUS, ROOT

DEFAULT_OUT = ROOT / "bench" / "results" / "clip_scores.json"


def corpus_clips() -> list[Path]:
    return sorted(p for p in CORPUS.rglob("*.mp4") if p.is_file())


def read_accuracy(path: Path) -> dict[str, float]:
    data = json.loads(Path(path).read_text())
    data = data.get("clips", data)
    return {
        name: float(v["accuracy"] if isinstance(v, dict) else v)
        for name, v in data.items()
        if (v.get("accuracy") if isinstance(v, dict) else v) is not None
    }


def score_clips(files: list[Path]) -> dict[str, dict]:
    """The recorded score of each clip, analysed by the default graph on a throw-away instance."""
    from bench.env import BenchEnv

    env = BenchEnv()
    try:
        os.environ.update({k: env.env[k] for k in ("DAGSTER_HOME", "VIDEO_TIMELINE_DATA")})
        from dagster import DagsterInstance

        from video_assets.definitions import build_definitions
        from video_assets.runs import analyze_file, recorded_score_metadata

        defs = build_definitions(data_root=str(env.data))
        out = {}
        with DagsterInstance.get() as instance:
            for path in files:
                started = time.perf_counter()
                run = analyze_file(defs, instance, path)
                if not run.success:
                    out[path.name] = {"path": str(path), "error": run.failure}
                    continue
                recorded = recorded_score_metadata(instance, run.key)
                out[path.name] = {
                    "path": str(path),
                    "score": recorded["score"],
                    "coverage": recorded["coverage"],
                    "per_aspect": {k.removeprefix("score_"): v for k, v in recorded.items() if k.startswith("score_")},
                    "below_1": recorded["below_1"],
                    "seconds": recorded["seconds"],
                    "run_s": round(time.perf_counter() - started, 1),
                }
                print(f"{path.name}: score {recorded['score']:.3f}, coverage {recorded['coverage']:.3f}", flush=True)
        return out
    finally:
        env.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.clip_scores", description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--accuracy", type=Path, help="JSON {clip file name: accuracy} to correlate with")
    parser.add_argument(
        "--aspects",
        help="comma-separated aspects the accuracy measures (e.g. camera,faces,text,speech): correlate the mean of "
        "their per-aspect scores (`score_over_aspects`) instead of the whole score",
    )
    args = parser.parse_args(argv)
    files = args.files or corpus_clips()
    if not files:
        print(f"no clips given and no corpus at {CORPUS}: nothing to score")
        return 0
    clips = score_clips(files)
    aspects = [a.strip() for a in args.aspects.split(",")] if args.aspects else None
    if aspects:
        for clip in clips.values():
            if "per_aspect" in clip:
                clip["score_over_aspects"] = round(sum(clip["per_aspect"][a] for a in aspects) / len(aspects), 4)
    key = "score_over_aspects" if aspects else "score"
    result = {
        "measured": {
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "command": " ".join([Path(sys.executable).name, "-m", "bench.clip_scores", *(argv or sys.argv[1:])]),
            "machine": machine.describe(),
        },
        "clips": clips,
    }
    if args.accuracy:
        accuracy = read_accuracy(args.accuracy)
        both = [n for n in clips if n in accuracy and key in clips[n]]
        rho = spearman([clips[n][key] for n in both], [accuracy[n] for n in both])
        result["spearman"] = {"clips": both, "of": key, "rho": rho}
        print(f"Spearman rank correlation of {key} and accuracy over {len(both)} clips: {rho}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
