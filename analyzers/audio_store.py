"""16 kHz mono PCM stored one row per second (int16) in Parquet, so long audio streams in bounded memory.

Each row also says how much of its second came from decoded audio (`decoded`) and how much was lost to a
damaged stream (`lost`); the rest is silence where the stream has no audio (before it starts, after it ends).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

AUDIO_RATE = 16_000
AUDIO_SCHEMA = pa.schema(
    [
        ("second", pa.int32()),
        ("pcm", pa.binary()),  # little-endian int16
        ("decoded", pa.float32()),  # share of the second's samples that came from decoded audio
        ("lost", pa.float32()),  # share lost to a damaged stream (stored as silence, but not silence)
    ]
)
_DECODED, _LOST, _SILENCE = 1, 2, 0  # the state of each pending sample
_ROW_GROUP = 60


class AudioStoreWriter:
    def __init__(self, path: Path):
        self._writer = pq.ParquetWriter(str(path), AUDIO_SCHEMA)
        self._pending = np.zeros(0, np.float32)
        self._state = np.zeros(0, np.int8)
        self._rows: list[dict] = []
        self._second = 0
        self._lost: list[tuple[int, int]] = []  # [first, last) sample of each lost stretch
        self.samples = 0  # samples added, of every kind
        self.decoded = 0  # of which decoded audio

    def add(self, samples: np.ndarray) -> None:
        """Decoded audio."""
        self._append(samples.astype(np.float32), _DECODED)
        self.decoded += len(samples)

    def add_silence(self, n: int) -> None:
        """Silence where the stream has no audio (it starts later than the video, or pauses)."""
        self._append(np.zeros(n, np.float32), _SILENCE)

    def add_lost(self, n: int) -> None:
        """Audio that exists in the stream but did not decode: kept as time, stored as silence, marked lost."""
        if n <= 0:
            return
        if self._lost and self._lost[-1][1] == self.samples:
            self._lost[-1] = (self._lost[-1][0], self.samples + n)
        else:
            self._lost.append((self.samples, self.samples + n))
        self._append(np.zeros(n, np.float32), _LOST)

    def lost_spans(self) -> list[tuple[float, float]]:
        """Lost stretches in seconds from the start."""
        return [(a / AUDIO_RATE, b / AUDIO_RATE) for a, b in self._lost]

    def _append(self, samples: np.ndarray, state: int) -> None:
        self.samples += len(samples)
        self._pending = np.concatenate([self._pending, samples])
        self._state = np.concatenate([self._state, np.full(len(samples), state, np.int8)])
        while len(self._pending) >= AUDIO_RATE:
            self._emit(self._pending[:AUDIO_RATE], self._state[:AUDIO_RATE])
            self._pending, self._state = self._pending[AUDIO_RATE:], self._state[AUDIO_RATE:]

    def finish(self, total_samples: int, seconds: int) -> None:
        """Cuts or pads with silence so that exactly `seconds` rows hold `total_samples` samples."""
        while self._second < seconds:
            want = min(AUDIO_RATE, total_samples - self._second * AUDIO_RATE)
            chunk, state = self._pending[:want], self._state[:want]
            self._pending, self._state = self._pending[want:], self._state[want:]
            pad = max(0, want - len(chunk))
            self._emit(
                np.concatenate([chunk, np.zeros(pad, np.float32)]),
                np.concatenate([state, np.full(pad, _SILENCE, np.int8)]),
            )
        self._flush()

    def _emit(self, chunk: np.ndarray, state: np.ndarray) -> None:
        pcm16 = (np.clip(chunk, -1.0, 1.0) * 32767.0).round().astype("<i2")
        n = max(len(chunk), 1)
        self._rows.append(
            {
                "second": self._second,
                "pcm": pcm16.tobytes(),
                "decoded": float(np.count_nonzero(state == _DECODED)) / n,
                "lost": float(np.count_nonzero(state == _LOST)) / n,
            }
        )
        self._second += 1
        if len(self._rows) >= _ROW_GROUP:
            self._flush()

    def _flush(self) -> None:
        if self._rows:
            self._writer.write_table(pa.Table.from_pylist(self._rows, schema=AUDIO_SCHEMA))
            self._rows = []

    def close(self) -> None:
        self._writer.close()


def audio_states(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(decoded, lost) share of every stored second; a store written before they were recorded: all decoded."""
    reader = pq.ParquetFile(str(path))
    names = reader.schema_arrow.names
    if "decoded" not in names:
        n = reader.metadata.num_rows
        return np.ones(n), np.zeros(n)
    table = reader.read(columns=["decoded", "lost"])
    return table.column("decoded").to_numpy().astype(float), table.column("lost").to_numpy().astype(float)


@dataclass(frozen=True)
class AudioWindow:
    start_s: int  # second at which `pcm` starts
    pcm: np.ndarray  # float32
    keep_from: int  # the seconds this window answers for: keep_from <= t < keep_to
    keep_to: float


def iter_audio_windows(path: Path, chunk_s: int, pad_s: int) -> Iterator[AudioWindow]:
    """Chunks of chunk_s seconds that together cover the track once, each holding up to pad_s seconds of
    its neighbours' audio on both sides: whatever straddles a chunk border (a word) is whole in both
    windows, and each window answers only for its own seconds. Memory: one window."""
    reader = pq.ParquetFile(str(path))
    held: deque[tuple[int, np.ndarray]] = deque()  # (second, int16 samples), from the current window's start
    keep_from = 0

    def window(keep_to: float) -> AudioWindow:
        return AudioWindow(
            held[0][0], np.concatenate([pcm for _, pcm in held]).astype(np.float32) / 32767.0, keep_from, keep_to
        )

    for batch in reader.iter_batches(batch_size=_ROW_GROUP, columns=["second", "pcm"]):
        for second, blob in zip(batch.column("second").to_pylist(), batch.column("pcm").to_pylist()):
            held.append((second, np.frombuffer(blob, "<i2")))
            if second == keep_from + chunk_s + pad_s - 1:  # the window's padding after its seconds is read
                yield window(keep_from + chunk_s)
                keep_from += chunk_s
                while held and held[0][0] < keep_from - pad_s:
                    held.popleft()
    if held and held[-1][0] >= keep_from:
        yield window(float("inf"))


def read_audio(path: Path) -> np.ndarray:
    """The whole track (for short media and tests)."""
    chunks = [window.pcm for window in iter_audio_windows(path, chunk_s=3600, pad_s=0)]
    return np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
