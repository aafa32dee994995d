"""Sampled frames: written once by the decode pass, read by every frame-based analyzer.

Stored as Parquet (one row per frame, JPEG bytes) in row groups, so a reader streams them
with bounded memory whatever the video's length.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

FRAME_SCHEMA = pa.schema(
    [
        ("t", pa.float64()),
        ("frame_index", pa.int64()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("jpeg", pa.binary()),
    ]
)
_ROW_GROUP = 64


@dataclass(frozen=True)
class SampledFrame:
    t: float  # presentation time in seconds from the start of the video
    frame_index: int  # index among all decoded frames
    image: np.ndarray  # H x W x 3, uint8, RGB


class FrameStoreWriter:
    """Streams frames into a Parquet file, a row group at a time."""

    def __init__(self, path: Path, jpeg_quality: int = 90):
        self.path = Path(path)
        self._quality = jpeg_quality
        self._writer = pq.ParquetWriter(str(self.path), FRAME_SCHEMA)
        self._rows: list[dict] = []
        self.count = 0

    def add(self, frame: SampledFrame) -> None:
        ok, buf = cv2.imencode(
            ".jpg", cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, self._quality]
        )
        if not ok:
            raise RuntimeError(f"could not JPEG-encode frame at {frame.t:.3f}s")
        h, w = frame.image.shape[:2]
        self._rows.append(
            {"t": frame.t, "frame_index": frame.frame_index, "width": w, "height": h, "jpeg": buf.tobytes()}
        )
        self.count += 1
        if len(self._rows) >= _ROW_GROUP:
            self._flush()

    def _flush(self) -> None:
        if self._rows:
            self._writer.write_table(pa.Table.from_pylist(self._rows, schema=FRAME_SCHEMA))
            self._rows = []

    def close(self) -> None:
        self._flush()
        self._writer.close()


def iter_frames(path: Path, start_s: float = 0.0, end_s: float = float("inf")) -> Iterator[SampledFrame]:
    """Yields the stored frames with start_s <= t < end_s, in time order, decoding lazily."""
    reader = pq.ParquetFile(str(path))
    for group in range(reader.num_row_groups):
        ts = reader.read_row_group(group, columns=["t"]).column("t").to_pylist()
        if not ts or ts[-1] < start_s or ts[0] >= end_s:
            continue
        table = reader.read_row_group(group)
        for row in table.to_pylist():
            if start_s <= row["t"] < end_s:
                yield SampledFrame(t=row["t"], frame_index=row["frame_index"], image=decoded_jpeg(row["jpeg"]))


def decoded_jpeg(jpeg: bytes) -> np.ndarray:
    """A stored frame's RGB pixels (libjpeg writes them in RGB order: no channel swap after)."""
    return cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR_RGB)


def frame_times(path: Path) -> list[float]:
    return pq.read_table(str(path), columns=["t"]).column("t").to_pylist()
