"""Clips with real damage: bytes overwritten inside some packets of one stream, so a decoder rejects them
there and recovers later (as a bad sector or a broken transfer leaves a file)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from support.media_factory import ffmpeg


def av_clip(path: Path, seconds: float = 6, fps: int = 10, *, audio: str = "ac3", keyframe_s: float = 1.0) -> Path:
    """H.264 (160x96, a keyframe every `keyframe_s`) + a 440 Hz tone in `audio` (ac3 or aac), via ffmpeg:
    the container follows the suffix (.avi, .mkv, .mp4)."""
    ffmpeg(
        "-f", "lavfi", "-i", f"testsrc2=size=160x96:rate={fps}",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
        "-t", str(seconds),
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", str(int(fps * keyframe_s)),
        "-c:a", audio, "-b:a", "96k",
        str(path),
    )  # fmt: skip
    return Path(path)


def packet_positions(path: Path, kind: str, start_s: float, end_s: float) -> list[tuple[int, int]]:
    """(file offset, size) of every packet of the first `kind` stream ("audio", "video") presented in
    [start_s, end_s)."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0] if kind == "audio" else container.streams.video[0]
        found = []
        for packet in container.demux(stream):
            ts = packet.pts if packet.pts is not None else packet.dts
            placed = packet.size and ts is not None and packet.pos is not None and packet.pos >= 0
            if placed and start_s <= float(ts * packet.time_base) < end_s:
                found.append((packet.pos, packet.size))
    return found


def damage_packets(
    source: Path, target: Path, kind: str, start_s: float, end_s: float, *, keep: int = 0, seed: int = 1
) -> tuple[Path, int]:
    """A copy of `source` whose `kind` packets in [start_s, end_s) hold random bytes after their first `keep`
    bytes (keep the 4-byte NAL length of H.264 in MP4/MKV so the demuxer still frames them, or the 2-byte
    AC3 sync word). Returns the copy and how many packets were damaged. The source is only read."""
    data = bytearray(Path(source).read_bytes())
    spots = packet_positions(source, kind, start_s, end_s)
    rng = np.random.default_rng(seed)
    for pos, size in spots:
        if size > keep:
            data[pos + keep : pos + size] = rng.integers(0, 256, size - keep, dtype=np.uint8).tobytes()
    Path(target).write_bytes(bytes(data))
    return Path(target), len(spots)


def break_headers(source: Path, target: Path, kind: str, start_s: float, end_s: float, offset: int, value: int):
    """A copy of `source` with one byte set to `value` at `offset` in every `kind` packet in [start_s, end_s):
    e.g. offset 4 = 0xFF in AC3 frames declares a reserved sample rate, which the decoder rejects."""
    data = bytearray(Path(source).read_bytes())
    spots = packet_positions(source, kind, start_s, end_s)
    for pos, _ in spots:
        data[pos + offset] = value
    Path(target).write_bytes(bytes(data))
    return Path(target), len(spots)


def unknown_codec(source: Path, target: Path, codec_id: bytes) -> Path:
    """A copy of a Matroska file whose tracks of CodecID `codec_id` (b"A_AAC", b"V_MPEG4/ISO/AVC") name a codec
    no ffmpeg knows, the same length: as a file with a codec this build cannot decode reads."""
    data = Path(source).read_bytes()
    assert data.count(codec_id) >= 1, f"{source} names no codec {codec_id!r}"
    unknown = codec_id[:2] + b"Q" * (len(codec_id) - 2)  # "A_"/"V_" kept: Matroska drops a track of no known kind
    Path(target).write_bytes(data.replace(codec_id, unknown))
    return Path(target)
