"""Probing: the container facts of a video, read before anything is decoded.

A file that is not a decodable video fails here with a `MediaError` naming the file and the reason;
the source file is only ever opened for reading.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

import av

from analyzers.packets import (
    PacketLog,
    TimestampMender,
    decode_packets,
    demux_packets,
    ffmpeg_reason,
    restartable_clock,
    without_lone_timestamps,
)
from analyzers.records import seconds_in


class MediaError(ValueError):
    """A file that cannot be analysed; the message names the file and the reason."""


@dataclass(frozen=True)
class VideoProbe:
    path: str
    duration_s: float
    fps: float
    frame_count: int
    width: int  # as displayed (non-square pixels made square, then rotated)
    height: int
    rotation: int  # degrees clockwise the frames are turned for display
    video_codec: str
    container: str
    audio_streams: list[dict] = field(default_factory=list)  # index, codec, channels, rate, language, roles, decodable
    # Where duration and rate came from: "container" (its timestamps), or "stream" for a raw
    # elementary stream (its own timing info; ffmpeg's 25 fps when it has none).
    timing: str = "container"
    # Where the file's clock starts again (MPEG-TS joined with `cat`): per restart, the seconds its streams are
    # moved by to follow on (analyzers.packets.TimestampMender). Empty for almost every file.
    clock_restarts: list[float] = field(default_factory=list)

    @property
    def seconds(self) -> int:
        return seconds_in(self.duration_s)

    @property
    def audio(self) -> dict | None:
        """The audio track analysed (`main_audio`), None for a silent video."""
        return main_audio(self.audio_streams)

    def as_row(self) -> dict:
        """A flat record (audio streams as JSON) for a one-row table."""
        row = asdict(self)
        row["audio_streams"] = json.dumps(self.audio_streams)
        row["clock_restarts"] = json.dumps(self.clock_restarts)
        row["path"] = _path_as_text(self.path)
        return row

    @classmethod
    def from_row(cls, row: dict) -> VideoProbe:
        fields = {k: row[k] for k in cls.__dataclass_fields__ if k in row}  # rows stored before a field existed
        fields["audio_streams"] = json.loads(fields["audio_streams"])
        fields["clock_restarts"] = json.loads(fields.get("clock_restarts") or "[]")
        fields["path"] = _path_from_text(fields["path"])
        for name in ("frame_count", "width", "height", "rotation"):
            fields[name] = int(fields[name])
        for name in ("duration_s", "fps"):
            fields[name] = float(fields[name])
        return cls(**fields)


_ESCAPED = "json:"  # marks a path stored JSON-escaped


def _path_as_text(path: str) -> str:
    """The path as valid UTF-8 text (Parquet strings must be): a name holding bytes that are not
    UTF-8 (surrogate-escaped by Python) is stored JSON-escaped, so it still round-trips exactly."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return _ESCAPED + json.dumps(path)
    return _ESCAPED + json.dumps(path) if path.startswith(_ESCAPED) else path


def _path_from_text(text: str) -> str:
    return json.loads(text[len(_ESCAPED) :]) if text.startswith(_ESCAPED) else text


def open_media(path: Path):
    """The file opened for reading with PyAV; MediaError naming the file when it cannot be."""
    if not path.is_file():
        raise MediaError(f"{path}: " + ("a folder, not a video file" if path.is_dir() else "no such file"))
    if path.stat().st_size == 0:
        raise MediaError(f"{path}: the file is empty (0 bytes)")
    try:
        return av.open(str(path), mode="r", metadata_errors="ignore")
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise MediaError(f"{path}: not a readable media file: {_why_unreadable(path, exc)}") from exc


# How common containers start: a file that starts like one but cannot be opened was most likely cut short.
_SIGNATURES = ((4, b"ftyp", "MP4/MOV"), (0, b"\x1a\x45\xdf\xa3", "Matroska/WebM"), (0, b"RIFF", "AVI"),
               (0, b"OggS", "Ogg"), (0, b"FLV", "FLV"), (0, b"\x00\x00\x01\xba", "MPEG-PS"))  # fmt: skip


def _iso_boxes_overrun(path: Path) -> str | None:
    """For an MP4/MOV: the top-level box that runs past the end of the file, or the missing index."""
    size, offset, names = path.stat().st_size, 0, []
    with open(path, "rb") as f:
        while offset + 8 <= size:
            f.seek(offset)
            header = f.read(16)
            length, name = int.from_bytes(header[:4], "big"), header[4:8].decode("latin-1")
            if length == 1 and len(header) == 16:
                length = int.from_bytes(header[8:16], "big")
            elif length == 0:
                length = size - offset
            if length < 8:
                return None  # not a box structure we can follow
            if offset + length > size:
                return f"its '{name}' box needs {offset + length} bytes but the file ends at {size}"
            names.append(name)
            offset += length
    if "moov" not in names:
        return f"it has no 'moov' index box (it ends at {size} bytes; players write that index last)"
    return None


def _why_unreadable(path: Path, exc: Exception) -> str:
    """The reason in words: a file that starts like a video but breaks off says it looks truncated;
    otherwise ffmpeg's reason without its errno ("[Errno 1094995529] ...")."""
    reason = ffmpeg_reason(exc)
    with open(path, "rb") as f:
        head = f.read(16)
    kind = next((name for at, magic, name in _SIGNATURES if head[at : at + len(magic)] == magic), None)
    if kind is None and head[:1] == b"\x47" and path.stat().st_size % 188 != 0:  # MPEG-TS sync byte, a cut packet
        kind = "MPEG-TS"
    if kind is None:
        return f"ffmpeg: {reason}"
    detail = _iso_boxes_overrun(path) if kind == "MP4/MOV" else None
    article = "a" if kind.startswith("Matroska") else "an"
    return (
        f"it looks truncated (a copy or download that stopped early?): it starts like {article} {kind} file, "
        f"but {detail or 'ffmpeg cannot read it'} (ffmpeg: {reason})"
    )


def probe_video(path: str | Path) -> VideoProbe:
    """Container facts. Raises MediaError for anything that is not a decodable video."""
    path = Path(path)
    with open_media(path) as container:
        stream = video_stream(container)
        if stream is None:
            kinds = sorted({"a cover picture" if _is_cover(s) else s.type for s in container.streams}) or ["nothing"]
            raise MediaError(f"{path}: no video stream (the file holds {' and '.join(kinds)})")
        if stream.codec_context is None:
            raise MediaError(
                f"{path}: the video stream's codec has no decoder in this build of ffmpeg (PyAV {av.__version__})"
            )
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        duration = _duration(container, stream)
        frames = int(stream.frames or 0)
        timing = "container"
        # The first frame proves the stream decodes and carries the display rotation. Packets the decoder
        # rejects are skipped, as in the decode pass: a damaged start is not an undecodable stream.
        stream.thread_type = "AUTO"
        packets = PacketLog()
        decoded = decode_packets(container, stream, packets)
        first = next(decoded, None)
        if first is None:
            reason = packets.first_error or packets.read_error
            raise MediaError(
                f"{path}: the video stream does not decode ({reason})"
                if reason
                else f"{path}: the video stream holds no decodable frame"
            )
        if _is_picture_format(container.format.name) and next(decoded, None) is None:
            name = container.format.name
            kind = path.suffix.lstrip(".") if name == "image2" else name.removesuffix("_pipe")
            raise MediaError(f"{path}: a still picture ({kind}), not a video: there is no second to describe")
        rotation = int(round(getattr(first, "rotation", 0) or 0)) % 360
        width, height = first.width, first.height
        sar = stream.sample_aspect_ratio  # non-square pixels (PAL/NTSC DV, anamorphic DVD): shown wider or narrower
        if sar and sar > 0 and sar != 1:
            width = max(2, round(width * sar))
        if rotation in (90, 270):
            width, height = height, width
        audio = [_audio_entry(a) for a in container.streams.audio]
        video_codec, container_name = stream.codec_context.name, container.format.name
        restartable = restartable_clock(container)
    restarts: list[float] = []
    if restartable:
        mended, restarts = _mended_clock(path)
        duration = mended or duration
    if duration <= 0:
        frames, duration, fps, timing = _measure_untimed(path)
    if duration <= 0:
        raise MediaError(f"{path}: the video has no measurable duration")
    return VideoProbe(
        path=str(path),
        duration_s=duration,
        fps=fps,
        frame_count=frames or (int(round(duration * fps)) if fps else 0),
        width=width,
        height=height,
        rotation=rotation,
        video_codec=video_codec,
        container=container_name,
        audio_streams=audio,
        timing=timing,
        clock_restarts=restarts,
    )


def _measure_untimed(path: Path) -> tuple[int, float, float, str]:
    """Frames, duration, fps and timing of a raw elementary stream (.h264, .mjpeg), whose container
    declares no duration: counted from the packets (demuxed, not decoded).

    Packet durations come from the stream's own timing (H.264/HEVC VUI), which beats the demuxer's
    nominal rate; a stream without timing gets ffmpeg's 25 fps convention.
    """
    with open_media(path) as container:
        stream = video_stream(container)
        count, seconds = 0, Fraction(0)
        for packet in demux_packets(container, stream):
            if packet.size:
                count += 1
                if packet.duration and packet.time_base:
                    seconds += packet.duration * packet.time_base
        nominal = float(stream.guessed_rate or 25)
    if not count:
        return 0, 0.0, 0.0, "stream"
    fps = count / float(seconds) if seconds else nominal
    return count, count / fps, fps, "stream"


def _mended_clock(path: Path) -> tuple[float | None, list[float]]:
    """For a file whose clock starts again (MPEG-TS joined with `cat`: its stretches follow one another,
    `TimestampMender`): its length and the shift of each restart; (None, []) where it never does. One pass over
    the packets, none decoded."""
    with open_media(path) as container:
        streams = [s for s in container.streams if s.type in ("video", "audio")]
        restarts: list[float] = []
        menders = {s.index: TimestampMender(container, restarts) for s in streams}
        end = None
        try:
            for packet in without_lone_timestamps(demux_packets(container, *streams)):
                menders[packet.stream.index](packet)
                ts = packet.pts if packet.pts is not None else packet.dts
                if ts is not None and packet.time_base is not None:
                    end = max(end or 0.0, (ts + (packet.duration or 0)) * float(packet.time_base))
        except av.error.FFmpegError:
            pass  # a read error ends the data here; the decode pass reports it
        if end is None or not restarts:
            return None, []
        return end - clock_origin(container), restarts


def _duration(container, stream) -> float:
    """The presentation length over all streams (what a player shows), else the video stream's."""
    if container.duration:
        return container.duration / av.time_base
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    return 0.0


def _is_picture_format(name: str) -> bool:
    """Formats of pictures (png_pipe, image2 for a .jpg, gif...): a video when they hold frames one after another
    (a raw MJPEG stream reads as jpeg_pipe, an animated GIF as gif), a still picture when they hold one."""
    return name.endswith("_pipe") or name in ("image2", "gif", "apng")


def _is_cover(stream) -> bool:
    """A video stream of still pictures beside the video: album art, an MP4's thumbnail, a track of thumbnails."""
    stills = av.stream.Disposition.attached_pic | av.stream.Disposition.timed_thumbnails
    return stream.type == "video" and bool(stream.disposition & stills)


# Dispositions of an audio track that is not the programme's own sound (audio description for the blind,
# commentary, effects without dialogue, karaoke, DVB's dialogue-enhanced "clean audio"): analysed only when
# the file has no other track, since a description track would put a narrator's words into the transcript.
SIDE_TRACK_ROLES = ("visual_impaired", "descriptions", "comment", "clean_effects", "karaoke", "hearing_impaired")


def _audio_entry(stream) -> dict:
    context = stream.codec_context  # None: this build of ffmpeg has no decoder for the track's codec
    roles = [name.lower() for name, flag in av.stream.Disposition.__members__.items() if stream.disposition & flag]
    language = (stream.language or "").lower()
    return {
        "index": stream.index,
        "codec": context.name if context else "",
        "channels": context.channels if context else 0,
        "rate": context.sample_rate if context else 0,
        "language": "" if language in ("und", "mis", "zxx") else language,  # ISO 639-2 codes for "none given"
        "roles": roles,
        "decodable": context is not None,
    }


def main_audio(audio_streams: list[dict]) -> dict | None:
    """The track a viewer hears: among the tracks this ffmpeg decodes, the first that is marked default among
    those that are not a side track (SIDE_TRACK_ROLES), else the first that is not a side track, else the
    first. A player's choice, so a German broadcast's audio description (often its first track) or an English
    default with a German dub beside it are told apart by what the file declares, not by guessing from the
    sound. A track without a decoder is chosen only when it is the only one (its sound is then lost)."""
    if not audio_streams:
        return None

    def rank(item: tuple[int, dict]) -> tuple[bool, bool, bool, int]:
        position, entry = item
        roles = entry.get("roles", ())  # rows probed before roles were recorded: the first track, as then
        undecodable = not entry.get("decodable", True)
        return undecodable, any(r in SIDE_TRACK_ROLES for r in roles), "default" not in roles, position

    return min(enumerate(audio_streams), key=rank)[1]


def describe_track(entry: dict) -> str:
    """'#2 (deu, default)': a track's stream index, language and roles, for logs."""
    facts = [entry.get("language") or "language not given", *entry.get("roles", ())]
    if not entry.get("decodable", True):
        facts.append("no decoder for its codec")
    return f"#{entry['index']} ({', '.join(facts)})"


def video_stream(container):
    """The video stream of moving pictures a player shows: the first marked default, else the first; None when
    there is none. A cover picture (the album art of an audio file, the thumbnail an MP4 may carry) is a video
    stream of one still frame marked attached_pic, and is never the video."""
    moving = [s for s in container.streams.video if not _is_cover(s)]
    return next((s for s in moving if s.disposition & av.stream.Disposition.default), moving[0] if moving else None)


# Matroska's per-track DURATION tag (ffmpeg and mkvmerge write it): the track's end time, "00:00:04.007000000".
_TAGGED_DURATION = re.compile(r"(\d+):(\d\d):(\d\d(?:\.\d+)?)")


def declared_end(container, stream) -> float | None:
    """Where the video stream says it ends, in seconds on the container's clock; None when it does not say."""
    if stream.duration and stream.time_base:
        start = stream.start_time * stream.time_base if stream.start_time is not None else 0
        return float(start + stream.duration * stream.time_base) - clock_origin(container)
    tag = _TAGGED_DURATION.fullmatch(str(stream.metadata.get("DURATION", "")).strip())
    if tag:  # Matroska and WebM give no stream duration; the container's length may be another stream's
        return int(tag[1]) * 3600 + int(tag[2]) * 60 + float(tag[3]) - clock_origin(container)
    if container.duration and len(container.streams) == 1:
        return container.duration / av.time_base
    return None


def clock_origin(container) -> float:
    """Time zero of the timeline: the container's start, so video and audio share one clock."""
    return container.start_time / av.time_base if container.start_time is not None else 0.0
