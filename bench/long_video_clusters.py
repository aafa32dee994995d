"""Time and peak memory of the two whole-video clusterings on the sizes a long video brings.

    .venv/bin/python -m bench.long_video_clusters [--out bench/sections/long_video_clusters.md]

- persons (analyzers.face_clusters): N dlib-sized face embeddings of 40 people (a long talk show) and of
  20,000 people seen about 3 times each (a crowd), clustered in batches as the product does; up to
  20,000 faces also all at once (one linkage over every face, as before batching) for comparison, and the
  two results compared;
- speakers (analyzers.speakers.cluster_speakers): N voiced seconds of 6 voices under noise that starts a
  new run at nearly every second, the worst case of the run merging.

Each case runs in a fresh interpreter, so its peak RSS is its own (imports included, about 100 MB).
Synthetic embeddings, no model: this measures the clustering, not its accuracy (bench/seen_quality.py and
bench/audio_events.py measure that on real faces and voices).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import machine

PERSONS = [(5000, 40), (20000, 40), (100000, 40), (60000, 20000)]  # (faces, people)
ALL_AT_ONCE_MAX = 20000  # the all-at-once linkage beyond this needs more than this machine's memory
SPEAKERS = [3000, 10800]  # voiced seconds (10,800: three hours of speech)
# The same speaker cases on dd70412, whose merging held the clusters x clusters matrix (2026-12-05 08:10 UTC,
# this machine): voiced seconds -> (s, peak RSS MB).
SPEAKERS_BEFORE = {3000: (3.33, 236), 10800: (190.0, 1958)}
# In batches with scipy's linkage and assignment (commit e0446fd, run 2026-12-06 12:27 UTC, between two runs of our
# own; every case found the same persons): (faces, people) -> (seconds, peak RSS MB)
PERSONS_BEFORE = {
    (5000, 40): (0.56, 178),
    (20000, 40): (2.32, 201),
    (100000, 40): (23.62, 376),
    (60000, 20000): (31.53, 261),
}

_CASE = """
import json, resource, sys, time
import numpy as np
kind, n, k, all_at_once = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
rng = np.random.default_rng(0)
if kind == "persons":
    from analyzers import face_clusters
    people = rng.normal(size=(k, 128)).astype(np.float32) * 0.05
    who = rng.integers(0, k, n)
    emb = people[who] + rng.normal(size=(n, 128)).astype(np.float32) * 0.02
    frames = list(np.round(np.arange(n) / 3.0, 1))
    if all_at_once:
        face_clusters.EXACT_FACES = n
    started = time.perf_counter()
    labels = face_clusters.cluster(emb, frames, "dlib")
    face_clusters.face_confidences(emb, labels, [0.9] * n, "dlib")
    found = len(set(labels.tolist()))
    np.save(sys.argv[5], labels)
else:
    from analyzers import speakers
    voices = rng.normal(size=(6, 256))
    emb = voices[rng.integers(0, 6, n)] + rng.normal(size=(n, 256)) * 0.9
    started = time.perf_counter()
    labels, _ = speakers.cluster_speakers(emb)
    found = len(set(labels.tolist()))
seconds = time.perf_counter() - started
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
print(json.dumps({"seconds": round(seconds, 2), "peak_rss_mb": peak_mb, "found": found}))
"""


def case(kind: str, n: int, k: int = 0, all_at_once: bool = False, labels: Path | None = None) -> dict:
    command = [sys.executable, "-c", _CASE, kind, str(n), str(k), "1" if all_at_once else "0", str(labels or "")]
    done = subprocess.run(command, capture_output=True, text=True, cwd=machine.ROOT, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"{kind} n={n} k={k} all_at_once={all_at_once}: {result}", file=sys.stderr, flush=True)
    return result


def run(scratch: Path) -> dict:
    import numpy as np

    persons = []
    for n, k in PERSONS:
        row = {"faces": n, "people": k, "batches": case("persons", n, k, labels=scratch / "batches.npy")}
        if n <= ALL_AT_ONCE_MAX:
            row["all_at_once"] = case("persons", n, k, all_at_once=True, labels=scratch / "once.npy")
            row["same_persons"] = bool((np.load(scratch / "batches.npy") == np.load(scratch / "once.npy")).all())
        persons.append(row)
    speakers = [{"voiced_seconds": n, **case("speakers", n)} for n in SPEAKERS]
    return {"persons": persons, "speakers": speakers}


def markdown(results: dict, command: str) -> str:
    lines = [
        "## Whole-video clustering on long videos (persons, speakers)",
        "",
        machine.measured_on(results["machine"], command)
        + " Synthetic embeddings; each case a fresh interpreter (peak RSS includes about 100 MB of imports).",
        "",
        "| faces | people | in batches: s | peak RSS MB | all at once: s | peak RSS MB | same persons |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results["persons"]:
        once = r.get("all_at_once")
        lines.append(
            f"| {r['faces']} | {r['people']} (found {r['batches']['found']}) | {r['batches']['seconds']} | "
            f"{r['batches']['peak_rss_mb']} | "
            + (
                f"{once['seconds']} | {once['peak_rss_mb']} | {'yes' if r['same_persons'] else 'no'} |"
                if once
                else "not run: its n² distances exceed this machine's memory | | |"
            )
        )
    lines += [
        "",
        "| voiced seconds, a run at nearly every one | s | peak RSS MB | speakers found |",
        "|---|---|---|---|",
    ]
    for r in results["speakers"]:
        lines.append(f"| {r['voiced_seconds']} | {r['seconds']} | {r['peak_rss_mb']} | {r['found']} |")
    before = "; ".join(f"{n} seconds {s} s, {mb} MB" for n, (s, mb) in SPEAKERS_BEFORE.items())
    lines += ["", f"Before, the merging over a clusters x clusters matrix (commit dd70412, same cases): {before}."]
    scipy = "; ".join(f"{n} faces of {k} people {s} s, {mb} MB" for (n, k), (s, mb) in PERSONS_BEFORE.items())
    lines += [
        "",
        "The persons in batches with scipy's linkage and assignment, before analyzers/linkage.py and assignment.py "
        f"(commit e0446fd, 2026-12-06 12:27 UTC, the same persons found): {scipy}.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the markdown section here")
    args = parser.parse_args(argv)
    started = time.time()
    with tempfile.TemporaryDirectory() as scratch:
        results = run(Path(scratch))
    command = "python -m bench.long_video_clusters" + (f" --out {args.out}" if args.out else "")
    path = machine.save_results(results, "long_video_clusters", started, command)
    machine.publish(markdown(results, command), path, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
