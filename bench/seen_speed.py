"""What following objects and recognising persons add to the default graph: the whole-process time of
`video-timeline analyze` on synthetic_clip01, before (a git ref, checked out in a temporary worktree) and
after (this checkout), one run each in fresh instances, plus the new steps' own times from the event log.

    flock /work/cpu.lock .venv/bin/python -m bench.seen_speed --base 94a5afb

Both runs use this checkout's virtual environment; the base's code is imported from its worktree
(`python -m` puts the working directory first on the import path).
Results: bench/results/seen_speed-<UTC time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import corpus  # noqa: E402

RESULTS = ROOT / "bench" / "results"
NEW_STEPS = ("objects", "persons")


def run(checkout: Path, clip: Path, scratch: Path) -> dict:
    home = scratch / "dagster_home"
    home.mkdir(parents=True)
    shutil.copy(ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    (scratch / "models.toml").write_text("# defaults\n")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "VIDEO_TIMELINE_DATA": str(scratch / "data"),
        "VIDEO_TIMELINE_INBOX": str(scratch / "inbox"),
        "VIDEO_TIMELINE_MODELS": str(scratch / "models.toml"),
    }
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "video_assets.cli", "analyze", str(clip)],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    if done.returncode:
        raise RuntimeError(f"{checkout}: analyze failed:\n{done.stderr[-2000:]}")
    from dagster import DagsterInstance

    with DagsterInstance.from_config(str(home)) as instance:
        (record,) = instance.get_runs(limit=1)
        steps = {
            e.dagster_event.step_key: round(e.dagster_event.event_specific_data.duration_ms / 1000, 3)
            for e in instance.all_logs(record.run_id)
            if e.dagster_event and e.dagster_event.event_type_value == "STEP_SUCCESS"
        }
    return {"seconds": round(seconds, 2), "steps": steps}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="git ref of the graph before")
    parser.add_argument("--clip", type=Path, default=corpus.SYNTHETIC)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base"
        subprocess.run(["git", "worktree", "add", "--detach", str(base), args.base], cwd=ROOT, check=True)
        try:
            before = run(base, args.clip, Path(tmp) / "before")
            after = run(ROOT, args.clip, Path(tmp) / "after")
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base)], cwd=ROOT, check=False)
    result = {
        "clip": args.clip.name,
        "base": args.base,
        "before_s": before["seconds"],
        "after_s": after["seconds"],
        "growth": round(after["seconds"] / before["seconds"] - 1, 3),
        "new_steps_s": {k: v for k, v in after["steps"].items() if k in NEW_STEPS},
        "before_steps": before["steps"],
        "after_steps": after["steps"],
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": f"{os.cpu_count()} cores",
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"seen_speed-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    out.write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if not k.endswith("_steps")}, indent=1))
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
