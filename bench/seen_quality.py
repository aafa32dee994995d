"""Objects followed and persons recognised, measured on the labelled set (bench/labels), default and opt-in
models side by side.

    .venv/bin/python -m bench.seen_quality [--detectors nanodet yolo11n] [--embedders dlib arcface]

Objects (clips whose labels have `objects`): per-second presence F1 of the person, vehicle and animal
categories (COCO labels mapped by analyzers.object_detector.CATEGORIES) over the seconds labelled true or
false, pooled over the clips; and for each labelled object to follow (`object_tracks`: category, span,
frame region) whether the analyzer gave it exactly one track id: in each frame of its span the largest
tracked box of its category whose centre lies in its region is taken as the object; the distinct ids of
those boxes (0: missed, 2+: the track broke or another object took its place).
Persons (clips whose labels have `persons`, and a re-cut of the labelled Hamilton clip where the same
people come back in separate shots, plus synthetic_clip01's ground truth): each face the analyzer reported
is matched to the labelled face it overlaps most, when that overlap is IoU >= 0.3 and the face's identity is
known; over the pairs of matched faces, same-person precision (pairs given one id that are one person) and
recall (pairs of one person given one id). Opt-in models that are not installed are skipped with the reason.
Results: bench/results/seen_quality-<UTC time>.json and a markdown table on stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from itertools import combinations
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


from analyzers.box_tracker import corners, overlaps  # noqa: E402
from bench import corpus  # noqa: E402
from bench.accuracy import LABELS, clip_path  # noqa: E402

RESULTS = ROOT / "bench" / "results"
CATEGORIES = ("person", "vehicle", "animal")
UNCLEAR = "unclear"
MATCH_IOU = 0.3  # a reported face and a labelled one are the same face from this overlap on
# The re-cut of the labelled Hamilton clip: (start, end) of the original, in this order. The performer and
# the audience each come back after other shots.
RECUT = ((3.7, 7.8), (7.95, 10.4), (0.84, 1.45), (4.5, 6.5), (8.2, 10.0))
HAMILTON = "face_recognition_short_hamilton_clip"


def decode(path: Path, scratch: Path):
    from analyzers.decode import decode_video
    from analyzers.probe import probe_video
    from analyzers.shots import analyze_shots, boundaries

    probe = probe_video(path)
    frames = scratch / f"{path.stem}.frames.parquet"
    result = decode_video(probe, frames)
    cuts = boundaries(analyze_shots(result.signals, probe.fps, probe.duration_s))
    return probe, frames, cuts


def _per_second(ranges, seconds: int) -> list:
    out = [None] * seconds
    for start, end, value in ranges:
        for s in range(int(start), min(int(end), seconds)):
            out[s] = value
    return out


def f1(tp: int, fp: int, fn: int) -> float | None:
    return None if tp + fp + fn == 0 else round(2 * tp / (2 * tp + fp + fn), 4)


def objects_for(labels: dict, path: Path, scratch: Path, detectors: list[str]) -> dict:
    from analyzers import object_detector, object_tracks

    probe, frames, cuts = decode(path, scratch)
    seconds = probe.seconds
    truth = _per_second(labels["objects"], seconds)
    out = {}
    for detector in detectors:
        started = time.perf_counter()
        found = object_tracks.detect_frames(frames, detector)
        detect_s = time.perf_counter() - started
        tracked, tracks = object_tracks.track_frames([(t, d) for t, d, _ in found], cuts)
        events = object_tracks.per_second_events(tracked, tracks, probe.duration_s, detector, {})
        seen = {
            int(e.start_s): {object_detector.CATEGORY_OF.get(x) for x in e.value}
            for e in events
            if e.aspect == "objects"
        }
        counts = {c: {"tp": 0, "fp": 0, "fn": 0} for c in CATEGORIES}
        for s in range(seconds):
            if truth[s] is None or s not in seen:
                continue
            for c in CATEGORIES:
                want = truth[s][c]
                if want == UNCLEAR:
                    continue
                got = c in seen[s]
                key = "tp" if want and got else "fp" if got else "fn" if want else None
                if key:
                    counts[c][key] += 1
        follow = []
        w, h = probe.width, probe.height
        for obj in labels.get("object_tracks", []):
            x0, y0, x1, y1 = obj["region"]
            ids, frames_seen, frames_in_span = set(), 0, 0
            for frame in tracked:
                if not obj["span"][0] <= frame.t <= obj["span"][1]:
                    continue
                frames_in_span += 1
                candidates = [
                    b
                    for b in frame.boxes
                    if b.track is not None
                    and object_detector.CATEGORY_OF.get(b.label) == obj["category"]
                    and x0 <= (b.box[0] + b.box[2] / 2) / w <= x1
                    and y0 <= (b.box[1] + b.box[3] / 2) / h <= y1
                ]
                if candidates:  # the labelled object is the largest of its category in its region
                    frames_seen += 1
                    ids.add(tracks[max(candidates, key=lambda b: b.box[2] * b.box[3]).track].name)
            follow.append(
                {"object": obj["object"], "category": obj["category"], "ids": sorted(ids),
                 "frames_seen": frames_seen, "frames": frames_in_span}
            )  # fmt: skip
        out[detector] = {
            "counts": counts,
            "follow": follow,
            "tracks": len(tracks),  # all of the clip's tracks: too few would show objects merged into one
            "detect_s": round(detect_s, 2),
            "frames": len(found),
        }
    return out


def recut_hamilton(scratch: Path) -> tuple[Path, list[tuple[float, float, float]]]:
    """The Hamilton clip re-cut (RECUT) with ffmpeg; returns the path and (new start, new end, original start)."""
    source = clip_path(json.loads((LABELS / f"{HAMILTON}.json").read_text())["source"])
    parts, mapping, at = [], [], 0.0
    for i, (a, b) in enumerate(RECUT):
        part = scratch / f"part{i}.mp4"
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-ss", f"{a}", "-to", f"{b}", "-i", str(source), "-an",
             "-c:v", "libx264", "-pix_fmt", "yuv420p", "-r", "25", str(part)],
            check=True,
        )  # fmt: skip
        parts.append(part)
        mapping.append((at, at + (b - a), a))
        at += b - a
    listing = scratch / "parts.txt"
    listing.write_text("".join(f"file '{p}'\n" for p in parts))
    out = scratch / "hamilton_recut.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(out)],
        check=True,
    )
    return out, mapping


def matched_faces(labelled: list, boxes: list[dict]) -> list[tuple[str, int]]:
    """(identity, person id) of each reported face box (`box` x, y, w, h, `person`) whose most overlapping
    labelled face (box, identity) overlaps it by at least MATCH_IOU; faces labelled unclear are left out."""
    if not labelled or not boxes:
        return []
    iou = overlaps(corners([box for box, _ in labelled]), corners([b["box"] for b in boxes]))
    matched = []
    for column, reported in enumerate(boxes):
        row = int(iou[:, column].argmax())
        if iou[row, column] >= MATCH_IOU and labelled[row][1] != UNCLEAR:
            matched.append((labelled[row][1], reported["person"]))
    return matched


def persons_for(path: Path, scratch: Path, embedders: list[str], truth_at) -> dict:
    """`truth_at(t)`: the labelled faces [(box, identity)] at time t of this clip."""
    from analyzers import faces, persons

    probe, frames, _ = decode(path, scratch)
    face_events = faces.analyze_faces(frames, probe.duration_s)
    out = {}
    for embedder in embedders:
        started = time.perf_counter()
        events = persons.analyze_persons(frames, face_events, probe.duration_s, embedder)
        took = time.perf_counter() - started
        times = {int(e.start_s): e.detail["t"] for e in face_events if e.aspect == "faces"}
        matched = []  # (identity, predicted id)
        for e in events:
            if e.aspect != "persons":
                continue
            matched += matched_faces(truth_at(times[int(e.start_s)]), e.detail["boxes"])
        same_true = same_pred = both = 0
        for (ta, pa), (tb, pb) in combinations(matched, 2):
            same_true += ta == tb
            same_pred += pa == pb
            both += ta == tb and pa == pb
        out[embedder] = {
            "faces_matched": len(matched),
            "identities": len({m[0] for m in matched}),
            "persons_found": len({m[1] for m in matched}),
            "pairs_same_person": same_true,
            "precision": round(both / same_pred, 4) if same_pred else None,
            "recall": round(both / same_true, 4) if same_true else None,
            "seconds": round(took, 2),
        }
    return out


def hamilton_truth(mapping=None):
    raw = json.loads((LABELS / f"{HAMILTON}.json").read_text())
    by_second = defaultdict(list)
    for second, box, identity in raw["persons"]:
        by_second[second].append((box, identity))

    def at(t: float):
        if mapping:
            seg = next((m for m in mapping if m[0] - 1e-6 <= t < m[1] + 1e-6), mapping[-1])
            t = seg[2] + (t - seg[0])
        return by_second.get(int(math.floor(t + 1e-6)), [])

    return at


def synthetic_truth():
    gt = json.loads(corpus.SYNTHETIC.with_suffix(".gt.json").read_text())
    by_second = {row["second"]: [(f["bbox"], f["identity"]) for f in row["faces"]] for row in gt["seconds"]}
    return lambda t: by_second.get(int(math.floor(t + 1e-6)), [])


def available(kind: str, names: list[str]) -> tuple[list[str], dict[str, str]]:
    from analyzers import object_detector, persons

    ok, skipped = [], {}
    for name in names:
        try:
            object_detector.load_detector(name) if kind == "detector" else persons.load_embedder(name)
            ok.append(name)
        except (object_detector.DetectorUnavailable, persons.EmbedderUnavailable) as exc:
            skipped[name] = str(exc)
    return ok, skipped


def markdown(result: dict) -> str:
    lines = ["| detector | " + " | ".join(f"{c} F1" for c in CATEGORIES) + " | one id per object | wall per frame |",
             "|---|" + "---|" * (len(CATEGORIES) + 2)]  # fmt: skip
    for detector, row in result["objects"].items():
        cells = [str(row["f1"][c]) for c in CATEGORIES]
        lines.append(
            f"| {detector} | " + " | ".join(cells) + f" | {row['one_id']}/{row['objects']} ({row['one_id_share']}) | "
            f"{row['ms_per_frame']} ms |"
        )
    lines += [
        "",
        "| embedder | clip | faces | identities | persons found | precision | recall |",
        "|---|---|---|---|---|---|---|",
    ]
    for embedder, clips in result["persons"].items():
        for clip, r in clips.items():
            lines.append(
                f"| {embedder} | {clip} | {r['faces_matched']} | {r['identities']} | {r['persons_found']} | "
                f"{r['precision']} | {r['recall']} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--detectors", nargs="+", default=["nanodet", "yolo11n"])
    parser.add_argument("--embedders", nargs="+", default=["dlib", "arcface"])
    args = parser.parse_args(argv)
    detectors, skipped_d = available("detector", args.detectors)
    embedders, skipped_e = available("embedder", args.embedders)
    result: dict = {"skipped": {**skipped_d, **skipped_e}, "objects": {}, "persons": {e: {} for e in embedders}}
    per_clip = {}
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        for file in sorted(LABELS.glob("*.json")):
            labels = json.loads(file.read_text())
            if "objects" not in labels:
                continue  # audio_mixes.json: no clip, no objects
            path = clip_path(labels["source"])
            if not path.is_file():
                continue  # a clip not fetched (bench.accuracy --fetch) is left out
            per_clip[file.stem] = objects_for(labels, path, scratch, detectors)
        for detector in detectors:
            totals = {c: {"tp": 0, "fp": 0, "fn": 0} for c in CATEGORIES}
            follow, frames, seconds = [], 0, 0.0
            for clip in per_clip.values():
                for c in CATEGORIES:
                    for k in totals[c]:
                        totals[c][k] += clip[detector]["counts"][c][k]
                follow += clip[detector]["follow"]
                frames += clip[detector]["frames"]
                seconds += clip[detector]["detect_s"]
            one = sum(len(f["ids"]) == 1 for f in follow)
            result["objects"][detector] = {
                "f1": {c: f1(**totals[c]) for c in CATEGORIES},
                "counts": totals,
                "objects": len(follow),
                "one_id": one,
                "one_id_share": round(one / len(follow), 3) if follow else None,
                "ms_per_frame": round(1000 * seconds / max(1, frames), 1),  # wall, detection on the analyzer's threads
                "per_clip": {name: clip[detector] for name, clip in per_clip.items()},
            }
        hamilton = clip_path(json.loads((LABELS / f"{HAMILTON}.json").read_text())["source"])
        recut, mapping = recut_hamilton(scratch)
        sets = [(HAMILTON, hamilton, hamilton_truth()), ("hamilton re-cut", recut, hamilton_truth(mapping))]
        if corpus.SYNTHETIC.is_file():
            sets.append(("synthetic_clip01", corpus.SYNTHETIC, synthetic_truth()))
        for name, path, truth in sets:
            for embedder, row in persons_for(path, scratch, embedders, truth).items():
                result["persons"][embedder][name] = row
    result["machine"] = subprocess.run(["uname", "-srm"], capture_output=True, text=True).stdout.strip()
    result["when"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"seen_quality-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    out.write_text(json.dumps(result, indent=1))
    print(markdown(result))
    for name, why in result["skipped"].items():
        print(f"skipped {name}: {why}")
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
