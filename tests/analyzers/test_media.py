import math

import pytest

from analyzers.audio_store import AUDIO_RATE, read_audio
from analyzers.frames import frame_times, iter_frames
from analyzers.media import MediaError, probe_video, decode_audio, decode_video
from tests.media_factory import Shot, render_shots, tone, write_video


def test_probe_reports_container_facts(clip):
    probe = probe_video(clip)
    assert probe.duration_s == pytest.approx(11.0, abs=0.1)
    assert probe.fps == pytest.approx(15.0)
    assert (probe.width, probe.height, probe.rotation) == (320, 180, 0)
    assert probe.video_codec == "h264"
    assert probe.audio_streams and probe.audio_streams[0]["codec"] == "aac"
    assert probe.seconds == 11


def test_one_decode_pass_yields_signals_and_sampled_frames(clip, tmp_path):
    probe = probe_video(clip)
    result = decode_video(probe, tmp_path / "frames.parquet", sample_fps=2.0)
    assert result.decoded == 165 and len(result.signals) == 165
    times = frame_times(tmp_path / "frames.parquet")
    assert result.sampled == len(times) == 22  # 2 per second
    assert all(0 <= b - a < 0.6 for a, b in zip(times, times[1:]))
    frames = list(iter_frames(tmp_path / "frames.parquet", start_s=3.0, end_s=4.0))
    assert [round(f.t, 2) for f in frames] == [3.0, 3.53]
    assert frames[0].image.shape == (180, 320, 3)
    # motion is measured about MOTION_RATE times a second, each over ~0.25 s
    assert result.signals["motion_span"].notna().sum() == pytest.approx(4 * 11, abs=3)


def test_sampled_frames_are_capped_in_size(clip, tmp_path):
    decode_video(probe_video(clip), tmp_path / "f.parquet", max_side=160)
    frame = next(iter_frames(tmp_path / "f.parquet"))
    assert frame.image.shape == (90, 160, 3)


def test_audio_pass_is_16k_mono_aligned_to_the_video(tmp_path):
    path = write_video(tmp_path / "t.mp4", render_shots([Shot(2.5, 1)], 96, 64, 10), 10, audio=tone(2.5, rate=44_100), audio_rate=44_100)
    probe = probe_video(path)
    assert decode_audio(probe, tmp_path / "a.parquet") == 3
    pcm = read_audio(tmp_path / "a.parquet")
    assert len(pcm) == pytest.approx(2.5 * AUDIO_RATE, abs=AUDIO_RATE * 0.05)
    rms = math.sqrt(float((pcm[AUDIO_RATE // 2 : AUDIO_RATE * 2] ** 2).mean()))
    assert rms == pytest.approx(0.3 / math.sqrt(2), rel=0.1)


def test_six_channel_audio_is_downmixed(tmp_path):
    import numpy as np

    six = np.stack([tone(2.0, rate=48_000, level=0.2)] + [np.zeros(96_000, np.float32)] * 5)
    path = write_video(tmp_path / "51.mp4", render_shots([Shot(2, 1)], 96, 64, 10), 10, audio=six, audio_rate=48_000, audio_layout="5.1")
    probe = probe_video(path)
    assert probe.audio_streams[0]["channels"] == 6
    decode_audio(probe, tmp_path / "a.parquet")
    assert abs(read_audio(tmp_path / "a.parquet")).max() > 0.05


def test_video_without_audio_writes_no_audio(silent_clip, tmp_path):
    probe = probe_video(silent_clip)
    assert probe.audio_streams == [] and probe.seconds == 4
    assert decode_audio(probe, tmp_path / "a.parquet") == 0
    assert not (tmp_path / "a.parquet").exists()


@pytest.mark.parametrize(
    "content, reason",
    [(b"", "empty"), (b"this is a text file, not a video\n" * 20, "not a readable media file")],
)
def test_bad_files_raise_a_clear_error_naming_the_file(tmp_path, content, reason):
    path = tmp_path / "bad video.mp4"
    path.write_bytes(content)
    with pytest.raises(MediaError, match=reason) as err:
        probe_video(path)
    assert str(path) in str(err.value)
    assert path.read_bytes() == content


def test_audio_only_file_is_refused(tmp_path):
    import av

    path = tmp_path / "voice.m4a"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=16_000, layout="mono")
        frame = av.AudioFrame.from_ndarray(tone(1.0).reshape(1, -1), format="fltp", layout="mono")
        frame.sample_rate = 16_000
        for packet in [*stream.encode(frame), *stream.encode()]:
            out.mux(packet)
    with pytest.raises(MediaError, match="no video stream"):
        probe_video(path)
