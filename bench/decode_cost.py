"""What the decode pass costs at other commits: the same pass with `analyzers/frame_signals.py` (`--part
signals`, the default) or `analyzers/decode.py` (`--part pass`) as it was at each revision, in one process,
runs interleaved so the machine's load falls on every version alike.

    .venv/bin/python -m bench.decode_cost                                  # before/after on the default clips
    .venv/bin/python -m bench.decode_cost --revs acf4b8f HEAD --repeat 5 FILE...
    .venv/bin/python -m bench.decode_cost --part pass --revs HEAD worktree

Each version is the file's text at a git revision (`worktree`: the file as it is now), loaded as a module:
with `signals` its `FrameSignals` is put in place of `analyzers.decode.FrameSignals` and the rest of the pass
(decoding, scaling, 2 fps JPEG frames) is today's; with `pass` its `decode_video` runs, over today's modules.
Per clip and version: best and median wall and CPU seconds (all threads) of `decode_video`, and the ratio of
each to the first version's best. Results: bench/results/decode_cost-<UTC time>.json. Needs the git history
(a clone, not an sdist).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import corpus  # noqa: E402

PARTS = {"signals": "analyzers/frame_signals.py", "pass": "analyzers/decode.py"}
DEFAULT_REVS = ("acf4b8f", "6f9d2fa", "worktree")  # before the accuracy work, the first helper's, now
DEFAULT_CLIPS = (corpus.SYNTHETIC, corpus.REAL / "imageio_cockatoo.mp4")


def module_at(rev: str, file: str, scratch: Path):
    """The module `file` as it is at git revision `rev` (or the working tree), loaded under its own name."""
    if rev == "worktree":
        source = (ROOT / file).read_text()
    else:
        source = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{rev}:{file}"], check=True, capture_output=True, text=True
        ).stdout
    name = f"{Path(file).stem}_{rev}"
    path = scratch / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    return module


def outputs_digest(result, frames: Path) -> str:
    """A hash of what the pass produced: the signals table, the stored frames, visibility and damage."""
    import pandas as pd
    import pyarrow.parquet as pq

    digest = hashlib.sha256(pd.util.hash_pandas_object(result.signals, index=True).values.tobytes())
    digest.update(repr(pq.read_table(frames).to_pydict()).encode())
    digest.update(repr((result.sampled, result.decoded, result.visibility, result.damage)).encode())
    return digest.hexdigest()


def measure(clips: list[Path], revs: list[str], repeat: int, part: str = "signals") -> dict:
    from analyzers import decode
    from analyzers.probe import probe_video

    out: dict = {"revs": revs, "repeat": repeat, "part": PARTS[part], "clips": {}}
    original = decode.FrameSignals
    with tempfile.TemporaryDirectory() as tmp:
        modules = {rev: module_at(rev, PARTS[part], Path(tmp)) for rev in revs}
        for clip in clips:
            probe = probe_video(clip)
            runs: dict[str, list[tuple[float, float]]] = {rev: [] for rev in revs}
            digests: dict[str, str] = {}
            try:
                for _ in range(repeat):
                    for rev in revs:  # interleaved: a burst of load hits every version
                        if part == "signals":
                            decode.FrameSignals, decode_video = modules[rev].FrameSignals, decode.decode_video
                        else:
                            decode_video = modules[rev].decode_video
                        wall, cpu = time.perf_counter(), time.process_time()
                        frames = Path(tmp) / f"{clip.stem}_{rev}.parquet"
                        result = decode_video(probe, frames)
                        runs[rev].append((time.perf_counter() - wall, time.process_time() - cpu))
                        digests[rev] = outputs_digest(result, frames)
            finally:
                decode.FrameSignals = original
            base_wall, base_cpu = min(w for w, _ in runs[revs[0]]), min(c for _, c in runs[revs[0]])
            out["clips"][clip.name] = {
                "video_s": round(probe.duration_s, 2),
                "frames": result.decoded,
                **{
                    rev: {
                        "wall_best_s": round(min(w for w, _ in r), 3),
                        "wall_median_s": round(statistics.median(w for w, _ in r), 3),
                        "cpu_best_s": round(min(c for _, c in r), 3),
                        "cpu_median_s": round(statistics.median(c for _, c in r), 3),
                        "wall_vs_first": round(min(w for w, _ in r) / base_wall, 3),
                        "cpu_vs_first": round(min(c for _, c in r) / base_cpu, 3),
                        "same_outputs_as_first": digests[rev] == digests[revs[0]],
                    }
                    for rev, r in runs.items()
                },
            }
            print(json.dumps({clip.name: out["clips"][clip.name]}), file=sys.stderr, flush=True)
    return out


def markdown(results: dict) -> str:
    revs = results["revs"]
    lines = [
        "| clip | frames | "
        + " | ".join(f"{r} wall s (CPU s)" for r in revs)
        + " | "
        + " | ".join(f"{r} / {revs[0]} wall (CPU)" for r in revs[1:])
        + " |",
        "|---|---|" + "---|" * (2 * len(revs) - 1),
    ]
    for name, c in results["clips"].items():
        cells = [name, str(c["frames"])]
        cells += [f"{c[r]['wall_best_s']:.2f} ({c[r]['cpu_best_s']:.2f})" for r in revs]
        cells += [
            f"{c[r]['wall_vs_first']:.2f} ({c[r]['cpu_vs_first']:.2f})"
            + ("" if c[r]["same_outputs_as_first"] else ", other outputs")
            for r in revs[1:]
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.decode_cost", description=__doc__.splitlines()[0])
    parser.add_argument("clips", nargs="*", type=Path, help="videos (default: synthetic_clip01 and imageio_cockatoo)")
    parser.add_argument("--revs", nargs="+", default=list(DEFAULT_REVS), help="git revisions, or `worktree`")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--part", choices=sorted(PARTS), default="signals", help="which file is taken at each rev")
    args = parser.parse_args(argv)
    clips = args.clips or [c for c in DEFAULT_CLIPS if c.is_file()]
    if not clips:
        print(f"decode_cost: no clips given and the corpus is not at {corpus.CORPUS}", file=sys.stderr)
        return 0
    started = time.time()
    results = measure(clips, args.revs, args.repeat, args.part)
    from bench import machine

    command = " ".join(["python -m bench.decode_cost", *(argv if argv is not None else sys.argv[1:])])
    machine.save_results(results, "decode_cost", started, command)
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
