"""Loudness and speech activity per second from the 16 kHz mono audio store.

Loudness is the RMS level in dBFS (full-scale sine = -3 dB), floored at SILENCE_DB.
Speech activity is Silero VAD (MIT licence): the ONNX export that ships inside the `silero-vad` wheel,
run with onnxruntime and a numpy front end, so analysing audio needs no torch (importing it cost
seconds per process). Measured: its voice probabilities equal those of the package's torch model
within 7e-5 (synthetic_clip01, 1500 windows), and `voiced_stretches` turns them into the same
stretches as the package's `get_speech_timestamps_from_probs` (tests/analyzers/test_audio.py).
"""

from __future__ import annotations

import math
import os
from importlib.util import find_spec
from pathlib import Path

import numpy as np

from analyzers.audio_store import AUDIO_RATE, audio_states, iter_audio_windows
from analyzers.records import DERIVED, Event, per_second_spans
from analyzers.warm_up import loaded_once

VERSION = "3"  # 3: speech confidence; seconds lost to a damaged stream not analysed; derived silence marked
SOURCE_LOUDNESS = "loudness:rms-dbfs"
SOURCE_VAD = "silero-vad"
VAD_MODEL = "silero-vad silero_vad.onnx (the silero-vad wheel's ONNX export of Silero VAD)"
VAD_LICENCE = "MIT"
SOURCE_DECODED = "decode"
MAX_LOST = 0.5  # a second with at least this share of its audio lost is not analysed
SILENCE_DB = -120.0
CHUNK_S = 300  # VAD runs on chunks so a long track never sits in memory whole
BORDER_S = 0.1  # speech ending and starting this close to a chunk border is one stretch the border cut
# Silero VAD's default rules for turning window probabilities into stretches of speech.
THRESHOLD = 0.5  # a window at or above this starts (or continues) speech
MIN_SPEECH_S = 0.25  # shorter stretches are dropped
MIN_SILENCE_S = 0.1  # speech ends after this long below the lower threshold (THRESHOLD - 0.15)
PAD_S = 0.03  # each stretch is widened by this much (half the gap where two stretches nearly touch)


def loudness_db(pcm: np.ndarray) -> float:
    if len(pcm) == 0:
        return SILENCE_DB
    rms = float(np.sqrt(np.mean(np.square(pcm, dtype=np.float64))))
    return max(SILENCE_DB, 20.0 * math.log10(rms)) if rms > 0 else SILENCE_DB


WINDOW = 512  # Silero VAD's window at 16 kHz: one voice probability per 32 ms
_CONTEXT = 64  # samples of the previous window the model sees before each window


def vad_model_path() -> Path:
    """silero_vad.onnx inside the installed silero-vad package (found without importing it: it imports torch)."""
    spec = find_spec("silero_vad")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("the silero-vad package is not installed (pip install silero-vad)")
    return Path(spec.origin).parent / "data" / "silero_vad.onnx"


@loaded_once
def vad_session():
    """Silero VAD's ONNX session, one per process."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1  # one window at a time: threads only add latency
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(
        os.fspath(vad_model_path()), sess_options=options, providers=["CPUExecutionProvider"]
    )


def speech_probabilities(pcm: np.ndarray) -> np.ndarray:
    """Silero VAD's voice probability of every 32 ms window (the last one padded with silence), the model's
    state carried from window to window as the package's own wrapper does."""
    session = vad_session()
    pcm = np.ascontiguousarray(pcm, np.float32)
    windows = np.pad(pcm, (0, -len(pcm) % WINDOW)).reshape(-1, WINDOW)
    state = np.zeros((2, 1, 128), np.float32)
    rate = np.array(AUDIO_RATE, np.int64)
    seen = np.zeros((1, _CONTEXT + WINDOW), np.float32)
    probs = np.empty(len(windows))
    for k, window in enumerate(windows):
        seen[0, :_CONTEXT] = seen[0, -_CONTEXT:]
        seen[0, _CONTEXT:] = window
        out, state = session.run(None, {"input": seen, "state": state, "sr": rate})
        probs[k] = out[0, 0]
    return probs


def voiced_stretches(
    probs: np.ndarray,
    n_samples: int,
    threshold: float = THRESHOLD,
    min_speech_s: float = MIN_SPEECH_S,
    min_silence_s: float = MIN_SILENCE_S,
    pad_s: float = PAD_S,
) -> list[tuple[int, int]]:
    """Stretches of speech (sample ranges) from window probabilities, by Silero VAD's rules: speech starts at
    a window at or above `threshold` and ends where the probability has stayed below threshold - 0.15 for
    `min_silence_s`; stretches shorter than `min_speech_s` are dropped; each is widened by `pad_s`, or by half
    the gap when two are closer than twice that."""
    below = max(threshold - 0.15, 0.01)
    min_speech, min_silence = AUDIO_RATE * min_speech_s, AUDIO_RATE * min_silence_s
    stretches: list[list[int]] = []
    start = quiet_from = None
    for k, p in enumerate(probs):
        at = k * WINDOW
        if start is None:
            if p >= threshold:
                start = at
        elif p >= threshold:
            quiet_from = None
        elif p < below:
            quiet_from = at if quiet_from is None else quiet_from
            if at - quiet_from >= min_silence:
                if quiet_from - start > min_speech:
                    stretches.append([start, quiet_from])
                start = quiet_from = None
    if start is not None and n_samples - start > min_speech:
        stretches.append([start, n_samples])
    pad = int(AUDIO_RATE * pad_s)
    for k, stretch in enumerate(stretches):
        if k == 0:
            stretch[0] = max(0, stretch[0] - pad)
        if k + 1 < len(stretches):
            gap = stretches[k + 1][0] - stretch[1]
            grow = gap // 2 if gap < 2 * pad else pad
            stretch[1] += grow
            stretches[k + 1][0] = max(0, stretches[k + 1][0] - grow)
        else:
            stretch[1] = min(n_samples, stretch[1] + pad)
    return [(a, b) for a, b in stretches]


def speech_segments(
    pcm: np.ndarray, threshold: float = THRESHOLD, probs: np.ndarray | None = None
) -> list[tuple[float, float]]:
    """Voiced stretches (seconds) by Silero VAD's rules, from the window probabilities (computed if not given)."""
    if len(pcm) < AUDIO_RATE // 10:
        return []
    probs = speech_probabilities(pcm) if probs is None else probs
    return [(a / AUDIO_RATE, b / AUDIO_RATE) for a, b in voiced_stretches(probs, len(pcm), threshold)]


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
