"""What the text analyzer's savings bring, one by one: PP-OCR's sessions reopened with onnxruntime's memory
arena, then also without spinning threads (`ppocr_engine.reopen_sessions`), then the detector's input
normalised by table (`ppocr_engine.normalise_by_table`), then in a frame read again the last frame's
unchanged lines kept with their readings (analyzers/text_reuse.py: everything onnxruntime runs, what
VIDEO_TIMELINE_OCR_RUNTIME=onnxruntime gives), then the networks run by OpenVINO where it is installed
(`ppocr_engine.run_on_openvino`) with the detector compiled once for any input shape, and as now: compiled for
each frame size it is given (`OpenVinoModel(per_shape=True)`):

    flock /work/cpu.lock .venv/bin/python -m bench.ocr_speed [--repeat 3]

For each corpus clip with on-screen text, the 2 fps sampled frames are decoded once; then the text analyzer
reads them with each variant (before: rapidocr's own engine, every line recognized), runs interleaved, each
with a fresh Tesseract reader (its memory of earlier lines would favour the second run). Reports wall and CPU
seconds per run, the best run's ratio, megapixels the detector saw, lines PP-OCR's recognizer read, the
seconds whose text differs from before, and per variant the median time of the detector's input step (resize,
normalise, channels first) on the clip's frames, the variants taking turns frame by frame
(bench/results/ocr_speed-<UTC>.json).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from analyzers import ocr, ppocr_engine
from analyzers.decode import decode_video
from analyzers.frame_models import scaled_down
from analyzers.frames import iter_frames
from analyzers.model_cache import model_cache_dir
from analyzers.probe import probe_video
from bench import corpus, machine
from support.counted import Counted

CLIPS = ("synthetic/synthetic_clip01.mp4", "real/janus_ChID-BLITS-EBU.mp4", "real/mwe_example-movie.mp4")


def timed_read(frames: Path, duration_s: float, engine, reuse_lines: bool) -> tuple[dict, list]:
    detector = engine.text_det = Counted(engine.text_det, lambda image: image.shape[0] * image.shape[1])
    recognizer = engine.text_rec = Counted(engine.text_rec, len)
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        events = ocr.analyze_text(
            frames, duration_s, engine=engine, reader=ocr.TesseractReader(), reuse_lines=reuse_lines
        )
    finally:
        engine.text_det, engine.text_rec = detector.part, recognizer.part
    took = {"wall_s": round(time.perf_counter() - wall, 3), "cpu_s": round(time.process_time() - cpu, 3)}
    return {**took, "detector_megapixels": round(detector.count / 1e6, 2), "lines_recognized": recognizer.count}, events


def detector_input_ms(frames: Path, engines: dict, repeat: int) -> dict[str, float]:
    """Per engine, the median milliseconds of the detector's input step, the engines taking turns on every frame
    (in turned order every other round). The input step alone: whole detector calls of engines taking turns
    measure each other's threads as much as themselves."""
    images = [scaled_down(frame.image, ocr.DET_MAX_SIDE)[0] for frame in iter_frames(frames)]
    times: dict[str, list[float]] = {name: [] for name in engines}
    for round_ in range(repeat):
        order = list(engines.items())[:: 1 if round_ % 2 == 0 else -1]
        for image in images:
            for name, engine in order:
                step = engine.text_det.get_preprocess(max(image.shape[:2]))
                started = time.perf_counter()
                step(image)
                times[name].append(time.perf_counter() - started)
    return {name: round(statistics.median(t) * 1e3, 2) for name, t in times.items()}


def clip_row(clip: Path, variants: dict, repeat: int, folder: Path) -> dict:
    probe = probe_video(clip)
    frames = folder / f"{clip.stem}.parquet"
    decode_video(probe, frames, sample_fps=2.0, max_side=1280)
    runs: dict[str, list[dict]] = {name: [] for name in variants}
    answers: dict[str, list] = {}
    for _ in range(repeat):
        for name, (engine, reuse_lines) in variants.items():
            cost, events = timed_read(frames, probe.duration_s, engine, reuse_lines)
            runs[name].append(cost)
            answers.setdefault(name, events)
    best = {name: min(r["wall_s"] for r in costs) for name, costs in runs.items()}
    # the variants with an input step of their own
    engines = {
        name: engine for name, (engine, _) in variants.items() if name not in ("line_memory", "any_shape", "now")
    }
    before = {e.start_s: e.value for e in answers["before"]}
    return {
        "clip": clip.name,
        "frames_read": sum(e.detail["frames_read"] for e in answers["now"]),
        "runs": runs,
        "best_wall_s": best,
        "best_ratio_to_before": {name: round(best["before"] / b, 3) for name, b in best.items()},
        "detector_input_ms_median": detector_input_ms(frames, engines, repeat),
        "seconds_read_differently": {
            name: [e.start_s for e in events if before.get(e.start_s) != e.value] for name, events in answers.items()
        },
    }


def any_shape_engine():
    """`ocr.ocr_engine` as it was before the detector was compiled for each frame size: for any shape."""
    engine, cache = ppocr_engine.rapidocr_engine(), model_cache_dir() / "openvino"
    engine.text_det.infer = ppocr_engine.OpenVinoModel(ppocr_engine.model_path("Det"), cache)
    engine.text_rec.session = ppocr_engine.OpenVinoModel(ppocr_engine.model_path("Rec"), cache)
    ppocr_engine.normalise_by_table(engine)
    return engine


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    started = time.time()
    # before: rapidocr's engine, every line recognized; then the engine's changes one by one; now: ocr_engine
    # (all of them) and analyzers.text_reuse
    arena, quiet, table = (ppocr_engine.rapidocr_engine() for _ in range(3))
    ppocr_engine.reopen_sessions(arena, spinning=True)
    for engine in (quiet, table):
        ppocr_engine.reopen_sessions(engine)
    ppocr_engine.normalise_by_table(table)
    variants = {
        "before": (ppocr_engine.rapidocr_engine(), False),
        "arena": (arena, False),
        "no_spinning": (quiet, False),
        "table": (table, False),
        "line_memory": (table, True),
    }
    if ppocr_engine.ocr_runtime() == "openvino":
        variants["any_shape"] = (any_shape_engine(), True)
    variants["now"] = (ocr.ocr_engine(), True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in CLIPS:
            clip = corpus.CORPUS / name
            if not clip.is_file():
                print(f"skipped {clip}: not found", file=sys.stderr)
                continue
            rows.append(clip_row(clip, variants, args.repeat, Path(tmp)))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    command = f"python -m bench.ocr_speed --repeat {args.repeat}"
    print(machine.save_results({"runtime": ppocr_engine.ocr_runtime(), "clips": rows}, "ocr_speed", started, command))
    return 0


if __name__ == "__main__":
    sys.exit(main())
