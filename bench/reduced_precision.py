"""PP-OCR's text detector and RetinaFace at bfloat16 instead of float32: what OpenVINO's default precision on
CPUs with bfloat16 units (AMX, AVX512-BF16) would save, and what it would change. The analyzers hold float32;
this measures why.

    .venv/bin/python -m bench.reduced_precision

For each corpus video clip, its 2-fps sampled frames are decoded once; then, the two variants taking turns
(best of `--repeat` runs each):
- text: the text analyzer with its detector compiled by OpenVINO at f32 (as the analyzer runs it) and at bf16,
  the recognizer at f32 in both: wall seconds, and the seconds whose strings differ;
- faces: the face analyzer with RetinaFace run by onnxruntime (as the analyzer runs it) and by OpenVINO at
  bf16: wall seconds, and frame by frame the faces both found (paired by box overlap of at least 0.5, as the
  object tracker pairs boxes), the faces only one found, and the seconds whose face count differs.
Results: bench/results/reduced_precision-<UTC>.json. Where the CPU has no bfloat16 units OpenVINO runs the
bf16 variants at f32 (`bf16_units` in the results says which).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from analyzers import faces, ocr, ppocr_engine
from analyzers.box_tracker import corners, overlaps, pairs
from analyzers.decode import decode_video
from analyzers.frame_models import seconds_with_frames
from analyzers.probe import probe_video
from bench import corpus, machine

MATCH_IOU = 0.5


class _OpenVinoSession:
    """RetinaFace's onnxruntime session as the face analyzer calls it (`run(None, feed)`), run by OpenVINO."""

    def __init__(self, onnx_file: Path, precision: str):
        self._model = ppocr_engine.OpenVinoModel(onnx_file, precision=precision)

    def run(self, _names, feed: dict):
        return self._model(feed["input"])


def face_agreement(reference: list, other: list) -> dict:
    """Faces found in both lists of `faces.FrameFaces` (per frame, paired by overlap as the object tracker pairs
    boxes: `box_tracker.pairs` at MATCH_IOU) and in one only."""
    both = only_reference = only_other = 0
    for mine, theirs in zip(reference, other, strict=True):
        matched = len(
            pairs(overlaps(corners([f.box for f in mine.faces]), corners([f.box for f in theirs.faces])), MATCH_IOU)
        )
        both += matched
        only_reference += len(mine.faces) - matched
        only_other += len(theirs.faces) - matched
    return {"both": both, "only_f32": only_reference, "only_bf16": only_other}


def per_second_counts(found: list, duration_s: float) -> list[int]:
    """The face analyzer's value of each second: the most faces in any of its frames."""
    return [max(len(f.faces) for f in group) for _, _, group in seconds_with_frames(found, duration_s)]


def _timed(run, variant) -> tuple[float, object]:
    started = time.perf_counter()
    value = run(variant)
    return time.perf_counter() - started, value


def clip_row(clip: Path, folder: Path, repeat: int, engines: dict, sessions: dict) -> dict:
    probe = probe_video(clip)
    frames = folder / f"{clip.stem}.parquet"
    decode_video(probe, frames)
    row: dict = {"clip": clip.name}

    def read_text(engine):
        return ocr.analyze_text(frames, probe.duration_s, engine=engine, reader=ocr.TesseractReader())

    def find_faces(session):
        faces.retinaface_session = lambda: session
        return faces.detect_frames(frames)

    for aspect, variants, run in (("text", engines, read_text), ("faces", sessions, find_faces)):
        times: dict[str, list[float]] = {name: [] for name in variants}
        answers = {}
        for _ in range(repeat):
            for name, variant in variants.items():
                took, answers[name] = _timed(run, variant)
                times[name].append(round(took, 3))
        row[aspect] = {"wall_s": times, "best_ratio": round(min(times["f32"]) / min(times["bf16"]), 3)}
        if aspect == "text":
            row[aspect]["seconds_differing"] = [
                [a.start_s, a.value, b.value] for a, b in zip(answers["f32"], answers["bf16"]) if a.value != b.value
            ]
        else:
            row[aspect] |= face_agreement(answers["f32"], answers["bf16"])
            counts = {name: per_second_counts(found, probe.duration_s) for name, found in answers.items()}
            row[aspect]["seconds_differing"] = [
                [s, a, b] for s, (a, b) in enumerate(zip(counts["f32"], counts["bf16"])) if a != b
            ]
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)
    if corpus.missing("bench.reduced_precision"):
        return 0
    import openvino as ov
    from retinaface.weights import WEIGHTS

    started = time.time()
    bf16_units = "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    reference_session = faces.retinaface_session()
    with tempfile.TemporaryDirectory() as tmp:
        retinaface_file = Path(tmp) / "retinaface.onnx"
        retinaface_file.write_bytes(WEIGHTS)
        engines = {"f32": ocr.ocr_engine(), "bf16": ppocr_engine.rapidocr_engine()}
        # As ocr_engine builds it, but the detector at bf16 (the recognizer stays at f32, as the analyzer runs it).
        engines["bf16"].text_det.infer = ppocr_engine.OpenVinoModel(
            ppocr_engine.model_path("Det"), precision="bf16", per_shape=True
        )
        engines["bf16"].text_rec.session = ppocr_engine.OpenVinoModel(ppocr_engine.model_path("Rec"))
        ppocr_engine.normalise_by_table(engines["bf16"])
        sessions = {"f32": reference_session, "bf16": _OpenVinoSession(retinaface_file, "bf16")}
        rows = []
        for clip in corpus.video_clips():
            rows.append(clip_row(clip, Path(tmp), args.repeat, engines, sessions))
            print(rows[-1], file=sys.stderr, flush=True)
    command = f"python -m bench.reduced_precision --repeat {args.repeat}"
    print(machine.save_results({"bf16_units": bf16_units, "clips": rows}, "reduced_precision", started, command))
    return 0


if __name__ == "__main__":
    sys.exit(main())
