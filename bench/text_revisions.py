"""On-screen text on the labelled real set at several git revisions of the code, in one run: before/after.

    flock /work/cpu.lock .venv/bin/python -m bench.text_revisions --revs 94a5afb worktree

Each revision's tree is exported (`git archive`; `worktree`: this checkout as it is) and today's
bench/accuracy.py runs in it (`--aspects text`) in a fresh process, so every revision is measured by the
same scorer, on the same clips and labels (this checkout's bench/labels), one after the other. Per
revision: pooled and per-clip text recall / precision and the text analyzer's CPU per frame read.
Results: bench/results/text_revisions-<UTC time>.json (each revision's full accuracy results inside)
and a markdown table. Needs the git history (a clone, not an sdist) and the shared corpus.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ("bench/accuracy.py", "bench/labels")  # today's scorer and labels, in every revision's tree


def export(rev: str, into: Path) -> Path:
    """The tree of `rev` under `into`, with today's scorer and labels, beside a link to the shared corpus."""
    tree = into / rev / "project"
    tree.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    for path in SHARED:
        target = tree / path
        if target.is_dir():
            shutil.rmtree(target)
        (shutil.copytree if (ROOT / path).is_dir() else shutil.copy)(ROOT / path, target)
    from bench import corpus

    (into / rev / "shared").mkdir()
    (into / rev / "shared" / "corpus").symlink_to(corpus.CORPUS.resolve())
    return tree


def run(tree: Path, tag: str) -> dict:
    """bench.accuracy --aspects text in `tree` (this interpreter, a fresh process); its results."""
    subprocess.run(
        [sys.executable, "-m", "bench.accuracy", "--aspects", "text", f"--tag=-{tag}"],
        cwd=tree,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return json.loads((tree / "bench" / "results" / f"accuracy-latest-{tag}.json").read_text())


def markdown(by_rev: dict[str, dict]) -> str:
    revs = list(by_rev)
    clips = [c for c, v in by_rev[revs[0]]["clips"].items() if v["scores"].get("text", {}).get("strings")]
    fmt = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
    lines = ["| clip | text recall / precision: " + " → ".join(revs) + " |", "|---|---|"]
    for clip in clips:
        cells = []
        for rev in revs:
            t = by_rev[rev]["clips"][clip]["scores"]["text"]
            cells.append(f"{fmt(t['recall'])} / {fmt(t['precision_spaces_ignored'])}")
        lines.append(
            f"| {clip} ({by_rev[revs[0]]['clips'][clip]['scores']['text']['strings']} strings) | "
            + " → ".join(cells)
            + " |"
        )
    pooled = [by_rev[r]["totals"]["text"] for r in revs]
    lines.append("| **pooled** | " + " → ".join(f"{fmt(t['recall'])} / {fmt(t['precision'])}" for t in pooled) + " |")
    lines.append(
        "| CPU ms per frame read (frames) | "
        + " → ".join(f"{t.get('cpu_ms_per_frame', '-')} ({t.get('frames_read', '-')})" for t in pooled)
        + " |"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.text_revisions", description=__doc__.splitlines()[0])
    parser.add_argument("--revs", nargs="+", default=["HEAD", "worktree"], help="git revisions, or `worktree`")
    args = parser.parse_args(argv)
    from bench import corpus, machine

    if corpus.missing("text_revisions"):
        return 0
    started = time.time()
    by_rev: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for rev in args.revs:
            tree = ROOT if rev == "worktree" else export(rev, Path(tmp))
            by_rev[rev] = run(tree, "rev-" + rev.replace("/", "_"))
            print(f"{rev}: {by_rev[rev]['totals'].get('text')}", file=sys.stderr, flush=True)
    results = {"revisions": by_rev}
    command = " ".join(["python -m bench.text_revisions", *(argv if argv is not None else sys.argv[1:])])
    machine.save_results(results, "text_revisions", started, command)
    print(markdown(by_rev))
    return 0


if __name__ == "__main__":
    sys.exit(main())
