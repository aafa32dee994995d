"""Loudness and speech activity per second from the 16 kHz mono audio store.

Loudness is the RMS level in dBFS (full-scale sine = -3 dB), floored at SILENCE_DB.
Speech activity uses silero-vad, whose weights ship inside its wheel (no download).
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import numpy as np

from analyzers.audio_store import AUDIO_RATE, audio_states, iter_audio_windows
from analyzers.records import DERIVED, Event, per_second_spans

VERSION = "3"  # 3: speech confidence; seconds lost to a damaged stream not analysed; derived silence marked
SOURCE_LOUDNESS = "loudness:rms-dbfs"
SOURCE_VAD = "silero-vad"
SOURCE_DECODED = "decode"
MAX_LOST = 0.5  # a second with at least this share of its audio lost is not analysed
SILENCE_DB = -120.0
CHUNK_S = 300  # VAD runs on chunks so a long track never sits in memory whole
BORDER_S = 0.1  # speech ending and starting this close to a chunk border is one stretch the border cut


@lru_cache(maxsize=1)
def _vad_model():
    from silero_vad import load_silero_vad

    return load_silero_vad()


def loudness_db(pcm: np.ndarray) -> float:
    if len(pcm) == 0:
        return SILENCE_DB
    rms = float(np.sqrt(np.mean(np.square(pcm, dtype=np.float64))))
    return max(SILENCE_DB, 20.0 * math.log10(rms)) if rms > 0 else SILENCE_DB


WINDOW = 512  # silero-vad's window at 16 kHz: one voice probability per 32 ms


def speech_probabilities(pcm: np.ndarray) -> np.ndarray:
    """silero-vad's voice probability of every 32 ms window (what `get_speech_timestamps` computes inside)."""
    import torch

    model = _vad_model()
    model.reset_states()
    audio = torch.from_numpy(np.ascontiguousarray(pcm, np.float32))
    probs = []
    with torch.inference_mode():
        for start in range(0, len(audio), WINDOW):
            chunk = audio[start : start + WINDOW]
            if len(chunk) < WINDOW:
                chunk = torch.nn.functional.pad(chunk, (0, WINDOW - len(chunk)))
            probs.append(model(chunk, AUDIO_RATE).item())
    return np.asarray(probs, float)


def speech_segments(
    pcm: np.ndarray, threshold: float = 0.5, probs: np.ndarray | None = None
) -> list[tuple[float, float]]:
    """Voiced stretches (seconds) by silero-vad's own rules, from the window probabilities (computed if not given)."""
    from silero_vad import get_speech_timestamps_from_probs

    if len(pcm) < AUDIO_RATE // 10:
        return []
    probs = speech_probabilities(pcm) if probs is None else probs
    stamps = get_speech_timestamps_from_probs(
        list(probs), sampling_rate=AUDIO_RATE, threshold=threshold, audio_length_samples=len(pcm)
    )
    return [(s["start"] / AUDIO_RATE, s["end"] / AUDIO_RATE) for s in stamps]


def analyze_audio(audio_path: Path | None, duration_s: float, chunk_s: int = CHUNK_S) -> list[Event]:
    """Per second `loudness_db`, `speech` (fraction of the second with voice) and `audio_decoded` (share of the
    second whose audio decoded), plus `speech_segment` events.

    `speech` carries the VAD's confidence: the mean over the second's 32 ms windows of the probability of the
    label it gave them (p for voice, 1 - p for no voice). Loudness is a measurement and carries none.
    Without an audio stream (audio_path None) the video is silent by definition: every second holds loudness
    at the floor and no speech, marked derived (nothing was heard, so nothing was observed). A second whose
    audio was mostly lost to a damaged stream gets no loudness and no speech: it is not analysed.
    """
    spans = per_second_spans(duration_s)
    if audio_path is None:
        derived = {"audio": "none", DERIVED: "no audio stream"}
        return [
            e
            for _, start, end in spans
            for e in (
                Event(start, end, "loudness_db", SILENCE_DB, source=SOURCE_LOUDNESS, detail=derived),
                Event(start, end, "speech", 0.0, source=SOURCE_VAD, detail=derived),
            )
        ]
    decoded, lost = audio_states(audio_path)
    loudness: dict[int, float] = {}
    sure = np.zeros(len(spans))  # per second: sum over windows of the probability of the label given
    windows = np.zeros(len(spans))
    segments: list[tuple[float, float]] = []
    for window in iter_audio_windows(audio_path, chunk_s, pad_s=0):
        first, pcm = window.start_s, window.pcm
        for k in range(math.ceil(len(pcm) / AUDIO_RATE)):
            loudness[first + k] = round(loudness_db(pcm[k * AUDIO_RATE : (k + 1) * AUDIO_RATE]), 2)
        probs = speech_probabilities(pcm)
        seconds = np.minimum(first + np.arange(len(probs)) * WINDOW // AUDIO_RATE, len(spans) - 1)
        np.add.at(sure, seconds, np.maximum(probs, 1.0 - probs))
        np.add.at(windows, seconds, 1)
        for a, b in speech_segments(pcm, probs=probs):
            a, b = first + a, first + b
            if segments and a < first + BORDER_S and segments[-1][1] > first - BORDER_S:
                segments[-1] = (segments[-1][0], b)
            else:
                segments.append((a, b))
    events = [Event(a, b, "speech_segment", True, source=SOURCE_VAD) for a, b in segments]
    for s, start, end in spans:
        got, gone = (float(decoded[s]), float(lost[s])) if s < len(decoded) else (0.0, 0.0)
        events.append(
            Event(start, end, "audio_decoded", round(got, 4), source=SOURCE_DECODED, detail={"lost": round(gone, 4)})
        )
        if gone >= MAX_LOST or s not in loudness:
            continue  # mostly lost: not analysed
        # A second the stream does not reach (it ends before the video) is silence by definition: derived.
        detail = {DERIVED: "no audio stream at this time"} if got == 0 else None
        voiced = sum(max(0.0, min(b, end) - max(a, start)) for a, b in segments)
        confidence = None if detail or not windows[s] else round(float(sure[s] / windows[s]), 4)
        events.append(Event(start, end, "loudness_db", loudness[s], source=SOURCE_LOUDNESS, detail=detail))
        events.append(
            Event(
                start,
                end,
                "speech",
                round(min(1.0, voiced / max(end - start, 1e-9)), 3),
                confidence,
                SOURCE_VAD,
                detail,
            )
        )
    return events
