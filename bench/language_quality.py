"""German (and other Latin-script) text and speech: quality and cost of the OCR recognizers and the
Whisper models on generated media with known content, plus the corpus figures they must keep.

    flock /work/cpu.lock .venv/bin/python -m bench.language_quality          # prints the figures as JSON
    flock /work/cpu.lock .venv/bin/python -m bench.language_quality --ocr    # the OCR figures only

- OCR: German/French/Spanish strings rendered with DejaVu Sans, Sans Bold and Serif (matplotlib's wheel)
  on caption bands, on bands over texture and straight on texture, 1280x720 (40 px) and 640x360 (22 px):
  recall of the exact strings, per recognizer (PP-OCRv4's own; Tesseract deu+eng), CPU per frame.
  The same recognizers on synthetic_clip01 (text recall/precision) and the mwe clock (corpus, when present).
- Speech: espeak-ng German passages and English sentences, the word error rate and the detected
  language per model (bundled whisper-base, tiny.en); Lojban (a language Whisper does not know) must
  come out empty; JFK's WER (corpus); CPU per second of audio.
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analyzers import ocr, transcript  # noqa: E402
from analyzers.audio_store import AUDIO_RATE  # noqa: E402
from bench import perception_quality as pq  # noqa: E402
from bench.corpus import CORPUS, ground_truth  # noqa: E402
from support.media_factory import caption_lines, latin_font, place, speech, texture, write_audio_store  # noqa: E402
from support.words import word_error_rate  # noqa: E402

STRINGS = [
    "Größte Übersicht für Bäcker",
    "Frühstück für Gäste",
    "Schöne Grüße aus Köln",
    "Straße gesperrt",
    "Öffnungszeiten: Mo-Fr 9-18 Uhr",
    "Café Crème à la française",
    "Müller & Söhne GmbH",
    "Fußgängerzone",
    "Jörg Weiß, Geschäftsführer",
    "Ärztliche Bescheinigung",
    "Señor Núñez en España",
    "Tschüss und bis bald",
    "Heute: Übungen für Anfänger",
    "Bürgerbüro im 1. Stock",
    "Gemüse & Obst - frisch",
    "Exit only",
    "Gate B12 closed",
]
GERMAN_SPEECH = [
    "Guten Morgen und herzlich willkommen. Heute zeigen wir Ihnen die neue Bäckerei am Marktplatz. "
    "Die Brötchen sind frisch und die Preise sind günstig.",
    "Der Zug nach München fährt heute später ab. Bitte achten Sie auf die Durchsagen am Bahnsteig. "
    "Wir danken Ihnen für Ihre Geduld.",
    "Im Sommer fahren wir mit den Kindern an die Ostsee. Dort schwimmen wir im Meer und essen jeden Abend Fisch.",
]
ENGLISH_SPEECH = [
    "Please open the red door and close the window.",
    "Good morning and welcome. Today we show you the new bakery at the market square.",
]
LOJBAN = "coi rodo mi klama le zarci .i do klama ma .i mi nelci le nu citka le plise .i ko sarji le nu tavla"


def _cpu() -> float:
    own = time.process_time()
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own + kids.ru_utime + kids.ru_stime


def _norm(text: str) -> str:
    return " ".join(text.replace("–", "-").split())


def german_frames() -> list[tuple[list[str], np.ndarray, str]]:
    frames = []
    for f, style in enumerate(("Sans", "Sans-Bold", "Serif")):
        for size, width, height in ((40, 1280, 720), (22, 640, 360)):
            for look in ("band", "texture band", "texture"):
                for k in range(0, len(STRINGS), 3):
                    lines = STRINGS[k : k + 3]
                    back = texture(k + f, width, height) if look.startswith("texture") else None
                    image = caption_lines(lines, width, height, size, back, latin_font(style), band=look != "texture")
                    frames.append((lines, image, look))
    return frames


def ocr_on_frames(recognizer) -> dict:
    frames = german_frames()
    ocr.read_text(frames[0][1], recognizer=recognizer)  # loading is not part of the per-frame cost
    cpu, wall = _cpu(), time.perf_counter()
    hits = total = 0
    misses = []
    german: dict[str, list[int]] = {}  # look -> [exact German strings read, German strings]
    for lines, image, look in frames:
        read = {_norm(line.text) for line in ocr.read_text(image, recognizer=recognizer)}
        for s in lines:
            total += 1
            hits += _norm(s) in read
            if any(c in s for c in "äöüßÄÖÜ"):
                german.setdefault(look, [0, 0])[0] += _norm(s) in read
                german[look][1] += 1
            if _norm(s) not in read and len(misses) < 12:
                misses.append({"truth": s, "read": sorted(read)})
    cpu, wall = _cpu() - cpu, time.perf_counter() - wall
    return {
        "frames": len(frames),
        "strings": total,
        "exact_recall": round(hits / total, 4),
        "german_exact_recall_by_look": {look: round(h / n, 4) for look, (h, n) in german.items()},
        "cpu_s_per_frame": round(cpu / len(frames), 4),
        "wall_s_per_frame": round(wall / len(frames), 4),
        "first_misses": misses,
    }


def ocr_on_corpus(recognizer, corpus: Path = CORPUS) -> dict:
    synthetic, mwe = corpus / pq.SYNTHETIC.relative_to(pq.CORPUS), corpus / pq.MWE.relative_to(pq.CORPUS)
    if not (synthetic.is_file() and mwe.is_file()):
        return {"skipped": "corpus not found"}
    truth = ground_truth(synthetic)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        probe, frames, _ = pq._decode(synthetic, Path(tmp))
        cpu = _cpu()
        events = ocr.analyze_text(frames, probe.duration_s, recognizer=recognizer)
        out["synthetic_clip01"] = {
            **pq.text_scores(events, truth.text, truth.text_shown),
            "cpu_s": round(_cpu() - cpu, 2),
            "frames_read": sum(e.detail["frames_read"] for e in events),
        }
        probe, frames, _ = pq._decode(mwe, Path(tmp))
        cpu = _cpu()
        events = ocr.analyze_text(frames, probe.duration_s, recognizer=recognizer)
        clock = [f"{s // 60:02d}:{s % 60:02d}" for s in range(len(events))]
        out["mwe_clock"] = {
            "seconds_correct_share": round(sum(clock[int(e.start_s)] in e.value for e in events) / len(events), 4),
            "cpu_s": round(_cpu() - cpu, 2),
            "frames_read": sum(e.detail["frames_read"] for e in events),
        }
    return out


def _heard(model, pcm: np.ndarray, folder: Path) -> tuple[str, dict, int]:
    seconds = len(pcm) / AUDIO_RATE
    store = write_audio_store(folder / "audio.parquet", pcm)
    events = transcript.analyze_transcript(model, store, seconds, "bench")
    said = " ".join(e.value for e in events if e.aspect == "transcript" and e.value)
    unclear = sum(len(e.detail["unclear"]) for e in events if e.aspect == "transcript")
    return said, transcript.languages_heard(events), unclear


def speech_figures(name: str) -> dict:
    model = transcript.load_whisper(transcript.resolve_whisper_folder(name))
    cases = (
        [("de", text, speech(text, voice="de")) for text in GERMAN_SPEECH]
        + [("en", text, speech(text)) for text in ENGLISH_SPEECH]
        + [("jbo", LOJBAN, speech(LOJBAN, voice="jbo"))]
    )
    out: dict = {"model": name, "cases": []}
    audio_s = cpu_total = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for lang, text, pcm in cases:
            pcm = place(len(pcm) / AUDIO_RATE + 1, [(0.5, pcm)])
            cpu = _cpu()
            said, languages, unclear = _heard(model, pcm, Path(tmp))
            cpu = _cpu() - cpu
            audio_s, cpu_total = audio_s + len(pcm) / AUDIO_RATE, cpu_total + cpu
            case = {"spoken": lang, "languages": languages, "unclear_words": unclear, "heard": said[:160]}
            if lang != "jbo":
                case["wer"] = round(word_error_rate(text, said), 4)
            out["cases"].append(case)
    jfk = CORPUS / pq.JFK.relative_to(pq.CORPUS)
    if jfk.is_file():
        pcm = pq._read_wav(jfk)
        with tempfile.TemporaryDirectory() as tmp:
            cpu = _cpu()
            said, languages, _ = _heard(model, pcm, Path(tmp))
            cpu = _cpu() - cpu
        out["jfk"] = {"wer": round(word_error_rate(pq.JFK_TEXT, said), 4), "languages": languages, "cpu_s": cpu}
    out["cpu_s_per_audio_s"] = round(cpu_total / audio_s, 3)
    return out


def language_figures(recognizers=ocr.RECOGNIZERS, speech_models=None) -> dict:
    figures: dict = {"ocr": {}, "speech": {}}
    for recognizer in recognizers:
        figures["ocr"][ocr.source_of(recognizer)] = {
            "german_frames": ocr_on_frames(recognizer),
            **ocr_on_corpus(recognizer),
        }
    for name in (transcript.DEFAULT_MODEL, transcript.BUNDLED_MODEL) if speech_models is None else speech_models:
        figures["speech"][name] = speech_figures(name)
    return figures


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    ocr_only = args == ["--ocr"]  # the OCR recognizers only (German frames and corpus text), no speech
    figures = language_figures(speech_models=() if ocr_only else None)
    print(json.dumps(figures, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
