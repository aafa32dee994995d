"""Damaged streams decode as ffmpeg decodes them: past the packets the decoder rejects. What did not decode is
recorded (file, stream, time) and left unanalysed; the rest is analysed in its place. Real damage: bytes
overwritten inside packets of generated clips (support/damage.py)."""

import av
import numpy as np
import pandas as pd
import pytest

from analyzers.audio import analyze_audio
from analyzers.audio_store import AUDIO_RATE, audio_states, read_audio
from analyzers.decode import decode_audio, decode_video, video_quality_events
from analyzers.probe import MediaError, probe_video
from analyzers.records import Event, events_frame
from analyzers.timeline import build_timeline
from support.damage import av_clip, break_headers, damage_packets
from support.media_factory import pattern_video, truncated_copy


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("damage")
    return {"avi": av_clip(folder / "clip.avi"), "mp4": av_clip(folder / "clip.mp4", audio="aac")}


def rms(pcm: np.ndarray, second: int) -> float:
    return float(np.sqrt(np.mean(pcm[second * AUDIO_RATE : (second + 1) * AUDIO_RATE] ** 2)))


def test_plain_decoding_stops_at_the_first_rejected_packet(clips, tmp_path):
    # What the product did before: PyAV's container.decode raises there and the rest of the stream is lost.
    broken, damaged = break_headers(clips["avi"], tmp_path / "broken.avi", "audio", 2.0, 4.0, offset=4, value=0xFF)
    assert damaged > 10
    with av.open(str(broken)) as container, pytest.raises(av.error.FFmpegError):
        for _ in container.decode(container.streams.audio[0]):
            pass


def test_audio_damaged_in_the_middle_is_lost_there_and_analysed_after_it(clips, tmp_path):
    # AC3 frames whose header declares a reserved sample rate from 2 s to 4 s: the decoder rejects them.
    broken, _ = break_headers(clips["avi"], tmp_path / "broken audio.avi", "audio", 2.0, 4.0, offset=4, value=0xFF)
    before = broken.read_bytes()
    probe = probe_video(broken)
    result = decode_audio(probe, tmp_path / "a.parquet")
    assert result.damage is not None and result.damage.failed_packets >= 1
    [(lost_from, lost_to)] = result.damage.lost
    assert lost_from == pytest.approx(2.0, abs=0.05) and lost_to == pytest.approx(4.0, abs=0.05)
    assert result.decoded_s == pytest.approx(probe.duration_s - 2.0, abs=0.15)
    warning = result.damage.warning(broken, "audio")
    assert warning.startswith(f"{broken}: audio stream #1 (ac3): ") and "audio lost at 1.98-4.00 s" in warning
    _, lost = audio_states(tmp_path / "a.parquet")
    assert [round(x) for x in lost[:6]] == [0, 0, 1, 1, 0, 0]
    # the tone after the damage is in its own place (the lost time is kept, not closed up), and sounds
    pcm = read_audio(tmp_path / "a.parquet")
    assert [rms(pcm, s) > 0.05 for s in range(6)] == [True, True, False, False, True, True]
    events = analyze_audio(tmp_path / "a.parquet", probe.duration_s)
    speech_seconds = [int(e.start_s) for e in events if e.aspect == "speech"]
    loud_seconds = [int(e.start_s) for e in events if e.aspect == "loudness_db"]
    assert speech_seconds[:4] == loud_seconds[:4] == [0, 1, 4, 5]
    assert broken.read_bytes() == before


def test_audio_that_fails_to_the_end_is_lost_from_there(clips, tmp_path):
    broken, _ = break_headers(clips["avi"], tmp_path / "tail.avi", "audio", 3.0, 99, offset=4, value=0xFF)
    probe = probe_video(broken)
    result = decode_audio(probe, tmp_path / "a.parquet")
    [(lost_from, lost_to)] = result.damage.lost
    assert lost_from == pytest.approx(3.0, abs=0.05) and lost_to >= 5.99
    _, lost = audio_states(tmp_path / "a.parquet")
    assert [round(x) for x in lost[:6]] == [0, 0, 0, 1, 1, 1]
    timeline = build_timeline("v", probe.duration_s, _events(probe, tmp_path, audio_path=tmp_path / "a.parquet"))
    assert timeline["speech"].notna().tolist()[:6] == [True, True, True, False, False, False]
    assert timeline["loudness_db"].notna().tolist()[:6] == [True, True, True, False, False, False]


def test_aac_packets_scrambled_in_an_mp4(clips, tmp_path):
    broken, damaged = damage_packets(clips["mp4"], tmp_path / "aac.mp4", "audio", 2.0, 4.0)
    result = decode_audio(probe_video(broken), tmp_path / "a.parquet")
    assert result.damage.failed_packets >= damaged // 2
    assert [round(x) for x in audio_states(tmp_path / "a.parquet")[1][:6]] == [0, 0, 1, 1, 0, 0]


def _events(probe, tmp_path, audio_path=None, video=None):
    events = analyze_audio(audio_path, probe.duration_s) if audio_path else []
    if video is not None:
        events += video_quality_events(video, probe.duration_s)
    return events_frame(events, "v")


def test_corrupt_video_packets_in_the_middle_drop_those_frames_only(clips, tmp_path):
    # H.264 packets of 2-4 s hold garbage after their 4-byte length: the decoder rejects them and picks up
    # at the keyframe at 4 s.
    broken, damaged = damage_packets(clips["mp4"], tmp_path / "broken video.mp4", "video", 2.0, 4.0, keep=4)
    probe = probe_video(broken)
    result = decode_video(probe, tmp_path / "f.parquet")
    # every frame of 2-4 s is lost; the decoder rejects nearly all of their packets (it may drop one silently)
    assert result.decoded == 60 - damaged and damaged - 2 <= result.damage.failed_packets <= damaged
    assert result.damage.lost == [pytest.approx((2.0, 4.0), abs=0.01)]
    assert result.decoded_share(probe.duration_s) == pytest.approx([1, 1, 0, 0, 1, 1], abs=0.01)
    warning = result.damage.warning(broken, "frames")
    assert warning.startswith(f"{broken}: video stream #0 (h264): ") and "frames lost at 2.00-4.00 s" in warning
    t = result.signals["t"].to_numpy()
    assert not ((t >= 2.0) & (t < 4.0)).any() and t.max() == pytest.approx(5.9)
    # not analysed where lost: the timeline leaves the visual aspects of seconds 2 and 3 null
    events = _events(probe, tmp_path, video=result)
    shots = [Event(s, s + 1, a, v) for s in range(6) for a, v in (("shot", 0), ("cut", False))]
    timeline = build_timeline("v", probe.duration_s, pd.concat([events, events_frame(shots, "v")]))
    assert timeline["shot"].notna().tolist() == [True, True, False, False, True, True]
    assert timeline["visibility"].notna().tolist() == [True, True, False, False, True, True]


def test_a_damaged_middle_is_not_a_truncation_but_a_cut_file_is(clips, tmp_path):
    broken, _ = damage_packets(clips["mp4"], tmp_path / "middle.mp4", "video", 2.0, 4.0, keep=4)
    damage = decode_video(probe_video(broken), tmp_path / "f.parquet").damage
    assert damage is not None and damage.ends_early is None
    cut = truncated_copy(pattern_video(tmp_path / "whole.mkv", 4, 160, 96, 25), tmp_path / "cut.mkv", 0.5)
    assert decode_video(probe_video(cut), tmp_path / "g.parquet").damage.ends_early.startswith("the file is truncated")


def test_only_a_video_stream_of_which_nothing_decodes_fails(clips, tmp_path):
    broken, _ = damage_packets(clips["mp4"], tmp_path / "no video.mp4", "video", 0.0, 99, keep=4)
    with pytest.raises(MediaError, match=r"no video\.mp4: the video stream does not decode \(.*Invalid data"):
        probe_video(broken)


def test_a_stream_that_begins_mid_file_is_passed_over_and_the_rest_analysed(tmp_path):
    """A broadcast recording where another programme begins after 8 s (its streams unknown at the start): PyAV
    raised IndexError when it drained the streams at the end, so the whole analysis failed."""
    from support.media_factory import ffmpeg

    first, second = tmp_path / "first.ts", tmp_path / "second.ts"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x90:rate=10:duration=8", "-c:v", "libx264", str(first))
    ffmpeg(
        *("-f", "lavfi", "-i", "testsrc2=size=160x90:rate=10:duration=2", "-f", "lavfi", "-i", "sine=duration=2"),
        *("-c:v", "libx264", "-c:a", "mp2", "-mpegts_service_id", "7", "-mpegts_pmt_start_pid", "0x1500"),
        *("-mpegts_start_pid", "0x300", str(second)),
    )
    path = tmp_path / "recording.ts"
    path.write_bytes(first.read_bytes() + second.read_bytes())
    probe = probe_video(path)
    result = decode_video(probe, tmp_path / "frames.parquet")
    assert result.decoded == 80 and result.damage is None


def _packet(pts, dts):
    from fractions import Fraction

    packet = av.Packet(b"\0")
    packet.time_base = Fraction(1, 100)
    packet.pts, packet.dts = pts, dts
    return packet


@pytest.mark.parametrize(
    "times, dropped",
    [
        ([0.0, 0.04, 39.1, 0.12, 0.16], [2]),  # one header thrown far ahead
        ([5.0, 5.04, -2268.0, 5.12, 5.16], [2]),  # or far back
        ([0.0, 0.04, 1.0, 0.12], []),  # within 1 s of a neighbour: B-frame order, jitter
        ([0.0, 2.0, 4.0, 6.0], []),  # a slide every 2 s: the neighbours disagree as much
        ([48.0, 48.04, 1.4, 1.44, 1.48], []),  # a clock that starts again stays (TimestampMender's work)
        ([0.0, 39.1], []),  # the last packet has no neighbour after it to agree with
    ],
)
def test_a_lone_damaged_timestamp_is_dropped(times, dropped):
    from analyzers.packets import without_lone_timestamps

    packets = [_packet(round(t * 100), round(t * 100) - 2) for t in times]
    out = list(without_lone_timestamps(iter(packets)))
    assert out == packets
    assert [i for i, p in enumerate(out) if p.pts is None] == dropped
    assert [i for i, p in enumerate(out) if p.dts is None] == dropped
