"""Loudness and speech activity per second from the 16 kHz mono audio store.

Loudness is the RMS level in dBFS (full-scale sine = -3 dB), floored at SILENCE_DB.
Speech activity uses silero-vad, whose weights ship inside its wheel (no download).
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import numpy as np

from analyzers.audio_store import AUDIO_RATE, iter_audio_windows
from analyzers.records import Event, per_second_spans

VERSION = "2"
SOURCE_LOUDNESS = "loudness:rms-dbfs"
SOURCE_VAD = "silero-vad"
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


def speech_segments(pcm: np.ndarray, threshold: float = 0.5) -> list[tuple[float, float]]:
    import torch
    from silero_vad import get_speech_timestamps

    if len(pcm) < AUDIO_RATE // 10:
        return []
    model = _vad_model()
    model.reset_states()
    stamps = get_speech_timestamps(torch.from_numpy(pcm), model, threshold=threshold, sampling_rate=AUDIO_RATE)
    return [(s["start"] / AUDIO_RATE, s["end"] / AUDIO_RATE) for s in stamps]


def analyze_audio(audio_path: Path | None, duration_s: float, chunk_s: int = CHUNK_S) -> list[Event]:
    """Per second `loudness_db` and `speech` (fraction of the second with voice), plus `speech_segment` events.

    Without an audio stream (audio_path None) the video is silent: every second is analysed
    with loudness at the floor and no speech.
    """
    spans = per_second_spans(duration_s)
    if audio_path is None:
        return [
            e
            for _, start, end in spans
            for e in (
                Event(start, end, "loudness_db", SILENCE_DB, source=SOURCE_LOUDNESS, detail={"audio": "none"}),
                Event(start, end, "speech", 0.0, source=SOURCE_VAD, detail={"audio": "none"}),
            )
        ]
    events: list[Event] = []
    segments: list[tuple[float, float]] = []
    for window in iter_audio_windows(audio_path, chunk_s, pad_s=0):
        first, pcm = window.start_s, window.pcm
        for k in range(math.ceil(len(pcm) / AUDIO_RATE)):
            start = first + k
            end = min(start + 1.0, duration_s)
            chunk = pcm[k * AUDIO_RATE : (k + 1) * AUDIO_RATE]
            events.append(
                Event(float(start), float(end), "loudness_db", round(loudness_db(chunk), 2), source=SOURCE_LOUDNESS)
            )
        for a, b in speech_segments(pcm):
            a, b = first + a, first + b
            if segments and a < first + BORDER_S and segments[-1][1] > first - BORDER_S:
                segments[-1] = (segments[-1][0], b)
            else:
                segments.append((a, b))
    for a, b in segments:
        events.append(Event(a, b, "speech_segment", True, source=SOURCE_VAD))
    for _, start, end in spans:
        voiced = sum(max(0.0, min(b, end) - max(a, start)) for a, b in segments)
        events.append(
            Event(start, end, "speech", round(min(1.0, voiced / max(end - start, 1e-9)), 3), source=SOURCE_VAD)
        )
    return events
