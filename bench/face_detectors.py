"""The face detectors of analyzers/faces.py side by side: CPU per 720p frame and what they find.

    .venv/bin/python -m bench.face_detectors

Three measurements per detector configuration (CONFIGS: each detector of analyzers.faces.DETECTORS at the
analyzer's frame size, and RetinaFace on larger frames), in one process:
- CPU per 1280x720 frame: every sampled frame of synthetic_clip01 (2 fps, 96 frames), detected one at a
  time on one thread, so the figure is the detector's own cost (the analyzer spreads frames over threads);
- exact face count per second on synthetic_clip01 against its ground truth (the analyzer as the graph runs
  it, frame reuse included);
- generated faces: the real portrait that ships in matplotlib's wheel (support.media_factory.face_photo)
  turned away (perspective narrowing to 100 %..30 % of its width) and tilted (0..60 degrees), pasted at two
  sizes into a 1280x720 textured frame: the share found, and the mean score of those found.
The labelled real clips are measured by `python -m bench.accuracy --aspects faces --face-detector NAME`.
Results: bench/results/face_detectors-<UTC time>.json.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import corpus  # noqa: E402

RESULTS = ROOT / "bench" / "results"
CONFIGS = (("retinaface", 960), ("retinaface", 640), ("dlib", 640))  # detector, longest side it is given
TURNS = (1.0, 0.7, 0.5, 0.4, 0.3)  # width share of the turned portrait (1.0: frontal)
TILTS = (0, 20, 40, 60)  # degrees
FACE_HEIGHTS = (600, 300)  # pixels of the pasted portrait in a 720-pixel-high frame (the face is about 1/3)


def generated_faces() -> list[tuple[str, object]]:
    from support.media_factory import face_photo, paste, texture, turned

    background, photo, out = texture(12, 1280, 720), face_photo(), []
    for height in FACE_HEIGHTS:
        for share in TURNS:
            for tilt in TILTS:
                out.append(
                    (
                        f"h{height} turn{share} tilt{tilt}",
                        paste(background, turned(photo, share, tilt), 400, 60, height),
                    )
                )
    return out


def measure() -> dict:
    from analyzers import faces
    from analyzers.decode import decode_video
    from analyzers.frames import iter_frames
    from analyzers.probe import probe_video

    names = [f"{detector}@{side}" for detector, side in CONFIGS]
    results: dict = {"detectors": names, "licences": faces.LICENCES, "analyzer_side": faces.DET_MAX_SIDE}
    truth = json.loads(corpus.SYNTHETIC.with_suffix(".gt.json").read_text())["seconds"]
    cases = generated_faces()
    with tempfile.TemporaryDirectory() as tmp:
        probe = probe_video(corpus.SYNTHETIC)
        store = Path(tmp) / "frames.parquet"
        decode_video(probe, store)
        images = [f.image for f in iter_frames(store)]
        for name, (detector, side) in zip(names, CONFIGS):
            detect = partial(faces.detect_faces, detector=detector, det_max_side=side)
            detect(images[0])  # loading is not part of the per-frame cost
            cpu = time.process_time()
            for image in images:
                detect(image)
            per_frame = (time.process_time() - cpu) / len(images)
            saved = faces.DET_MAX_SIDE, faces.DLIB_MAX_SIDE
            faces.DET_MAX_SIDE = faces.DLIB_MAX_SIDE = side
            try:
                cpu = time.process_time()
                events = faces.analyze_faces(store, probe.duration_s, detector=detector)
                analyzer_cpu = time.process_time() - cpu
            finally:
                faces.DET_MAX_SIDE, faces.DLIB_MAX_SIDE = saved
            exact = sum(e.value == truth[int(e.start_s)]["face_count"] for e in events)
            found = {case: detect(image) for case, image in cases}
            hits = [f[0].score for f in found.values() if len(f) == 1]
            results[name] = {
                "cpu_ms_per_720p_frame": round(1000 * per_frame, 1),
                "frame_size": list(images[0].shape[:2]),
                "synthetic_exact_share": round(exact / len(truth), 4),
                "synthetic_seconds": len(truth),
                "synthetic_analyzer_cpu_s": round(analyzer_cpu, 2),
                "generated_found_share": round(len(hits) / len(cases), 3),
                "generated_mean_score": round(sum(hits) / len(hits), 4) if hits else None,
                "generated": {case: [round(x.score, 4) for x in f] for case, f in found.items()},
            }
            print(json.dumps({name: {k: v for k, v in results[name].items() if k != "generated"}}), file=sys.stderr)
    return results


def markdown(results: dict) -> str:
    lines = [
        "| detector | CPU ms per 720p frame (1 thread) | synthetic_clip01 exact faces "
        "| generated turned/tilted faces found |",
        "|---|---|---|---|",
    ]
    for name in results["detectors"]:
        r = results[name]
        lines.append(
            f"| {name} | {r['cpu_ms_per_720p_frame']} | {r['synthetic_exact_share']:.2f} ({r['synthetic_seconds']} s) "
            f"| {r['generated_found_share']:.2f} |"
        )
    lines += ["", "Generated faces found (turn: width share of the portrait; columns: tilt in degrees):", ""]
    for height in FACE_HEIGHTS:
        header = f"| portrait {height} px | " + " | ".join(f"tilt {t}" for t in TILTS) + " |"
        lines += [header, "|---|" + "---|" * len(TILTS)]
        for share in TURNS:
            cells = []
            for tilt in TILTS:
                case = f"h{height} turn{share} tilt{tilt}"
                cells.append(
                    " / ".join(
                        f"{name} {results[name]['generated'][case][0]:.2f}"
                        if len(results[name]["generated"][case]) == 1
                        else f"{name} {len(results[name]['generated'][case])} found"
                        for name in results["detectors"]
                    )
                )
            lines.append(f"| turn {share} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    if not corpus.SYNTHETIC.is_file():
        print(f"face_detectors: {corpus.SYNTHETIC} not found; nothing to measure", file=sys.stderr)
        return 0
    started = time.time()
    results = measure()
    from bench import machine

    results["machine"] = machine.describe()
    results["command"] = "python -m bench.face_detectors"
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(started))
    (RESULTS / f"face_detectors-{stamp}.json").write_text(json.dumps(results, indent=1))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
