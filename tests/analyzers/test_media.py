import errno
import itertools
import math
import re
import threading
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest

from analyzers.audio import analyze_audio
from analyzers.audio_store import AUDIO_RATE, read_audio
from analyzers.decode import decode_audio, decode_video
from analyzers.frames import FrameStoreWriter, frame_times, iter_frames
from analyzers.probe import MediaError, probe_video
from analyzers.records import events_frame
from analyzers.timeline import build_timeline
from analyzers.visual_stats import analyze_visual_stats
from support.media_factory import FAST_H264, Shot, ffmpeg, render_shots, tone, tone_tracks, write_video


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
    assert all(0 <= b - a < 0.6 for a, b in itertools.pairwise(times))
    frames = list(iter_frames(tmp_path / "frames.parquet", start_s=3.0, end_s=4.0))
    assert [round(f.t, 2) for f in frames] == [3.0, 3.53]
    assert frames[0].image.shape == (180, 320, 3)
    # motion is measured about MOTION_RATE times a second, each over ~0.25 s
    assert result.signals["motion_span"].notna().sum() == pytest.approx(4 * 11, abs=3)


def test_visibility_without_a_frame_store_measures_the_same_sampled_frames_and_stores_none(clip, tmp_path):
    stored = decode_video(probe_video(clip), tmp_path / "frames.parquet")
    alone = decode_video(probe_video(clip), None, visibility=True)
    assert alone.sampled == 0 and stored.sampled == len(alone.visibility) == 22
    assert alone.visibility == stored.visibility and any(v > 0 for _, v in alone.visibility)
    assert list(tmp_path.iterdir()) == [tmp_path / "frames.parquet"]
    assert decode_video(probe_video(clip), None).visibility == []  # the cut list's pass samples nothing


def test_stored_frames_read_back_in_rgb_as_a_channel_swap_of_the_decoded_jpeg_gives_them(clip, tmp_path):
    decode_video(probe_video(clip), tmp_path / "frames.parquet")
    table = pq.read_table(tmp_path / "frames.parquet")
    frames = list(iter_frames(tmp_path / "frames.parquet"))
    for frame, jpeg in zip(frames, table.column("jpeg").to_pylist(), strict=True):
        bgr = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert np.array_equal(frame.image, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    assert any(abs(f.image[..., 0].mean() - f.image[..., 2].mean()) > 5 for f in frames)  # colour: a swap would show


def test_a_frame_store_failure_on_its_thread_fails_the_pass_with_its_own_error(clip, tmp_path, monkeypatch):
    real_add, added = FrameStoreWriter.add, []

    def full_after_three(self, frame):
        if len(added) == 3:
            raise OSError(errno.ENOSPC, "No space left on device (injected)")
        added.append(frame.t)
        real_add(self, frame)

    monkeypatch.setattr(FrameStoreWriter, "add", full_after_three)
    with pytest.raises(OSError, match="No space left on device"):
        decode_video(probe_video(clip), tmp_path / "frames.parquet")
    assert len(added) == 3
    # the decoding and frame-store threads ended with the pass
    assert not [t for t in threading.enumerate() if t.name == "decode" or t.name.startswith("frame-store")]


def test_sampled_frames_are_capped_in_size(clip, tmp_path):
    decode_video(probe_video(clip), tmp_path / "f.parquet", max_side=160)
    frame = next(iter_frames(tmp_path / "f.parquet"))
    assert frame.image.shape == (90, 160, 3)


def test_audio_pass_is_16k_mono_aligned_to_the_video(tmp_path):
    path = write_video(
        tmp_path / "t.mp4",
        render_shots([Shot(2.5, 1)], 96, 64, 10),
        10,
        audio=tone(2.5, rate=44_100),
        audio_rate=44_100,
    )
    probe = probe_video(path)
    assert decode_audio(probe, tmp_path / "a.parquet").seconds == 3
    pcm = read_audio(tmp_path / "a.parquet")
    assert len(pcm) == pytest.approx(2.5 * AUDIO_RATE, abs=AUDIO_RATE * 0.05)
    rms = math.sqrt(float((pcm[AUDIO_RATE // 2 : AUDIO_RATE * 2] ** 2).mean()))
    assert rms == pytest.approx(0.3 / math.sqrt(2), rel=0.1)


def test_a_clip_a_few_ms_past_its_last_whole_second_gets_no_almost_empty_row(tmp_path):
    """60 frames at 29.97 fps last 2.002 s (players show 0:02): two rows, the last one running to the end."""
    path = tmp_path / "ntsc.mp4"
    ffmpeg(
        *("-f", "lavfi", "-i", "testsrc2=size=160x90:rate=30000/1001"),
        *("-f", "lavfi", "-i", "sine=frequency=300:sample_rate=44100"),
        *("-frames:v", "60", "-t", "2.002", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", str(path)),
    )
    probe = probe_video(path)
    assert probe.duration_s > 2.0 and probe.seconds == 2
    signals = decode_video(probe, tmp_path / "frames.parquet").signals
    assert decode_audio(probe, tmp_path / "a.parquet").seconds == 2
    events = analyze_visual_stats(signals, probe.duration_s) + analyze_audio(tmp_path / "a.parquet", probe.duration_s)
    timeline = build_timeline("ntsc", probe.duration_s, events_frame(events, "ntsc"))
    assert timeline["second"].tolist() == [0, 1]
    assert timeline["end_s"].iloc[-1] == probe.duration_s
    assert timeline["brightness"].notna().all() and timeline["loudness_db"].notna().all()


def test_six_channel_audio_is_downmixed(tmp_path):
    import numpy as np

    six = np.stack([tone(2.0, rate=48_000, level=0.2)] + [np.zeros(96_000, np.float32)] * 5)
    path = write_video(
        tmp_path / "51.mp4",
        render_shots([Shot(2, 1)], 96, 64, 10),
        10,
        audio=six,
        audio_rate=48_000,
        audio_layout="5.1",
    )
    probe = probe_video(path)
    assert probe.audio_streams[0]["channels"] == 6
    decode_audio(probe, tmp_path / "a.parquet")
    assert abs(read_audio(tmp_path / "a.parquet")).max() > 0.05


@pytest.mark.parametrize(
    "container, tracks, analysed",
    [
        ("mkv", [("0", "eng"), ("default", "deu")], 1),  # the track marked default, not the first
        ("ts", [("visual_impaired", "deu"), ("0", "deu")], 1),  # a broadcast's audio description listed first
        ("mp4", [("visual_impaired", ""), ("0", "")], 1),  # MP4 marks the description default: still left out
        ("mkv", [("comment", ""), ("0", "")], 1),
        ("ts", [("clean_effects", ""), ("0", "")], 1),  # effects without dialogue
        ("mkv", [("0", ""), ("0", "")], 0),  # nothing declared: the first
        ("mkv", [("default", ""), ("default", "")], 0),  # every track default (as mkvmerge writes): the first
        ("mkv", [("comment", ""), ("visual_impaired", "")], 0),  # only side tracks: the first
    ],
)
def test_the_audio_track_analysed_is_the_one_a_viewer_hears(tmp_path, container, tracks, analysed):
    import numpy as np

    probe = probe_video(tone_tracks(tmp_path / f"tracks.{container}", tracks))
    assert [a["language"] for a in probe.audio_streams] == [language for _, language in tracks]
    assert probe.audio is probe.audio_streams[analysed]
    decode_audio(probe, tmp_path / "a.parquet")
    pcm = read_audio(tmp_path / "a.parquet")[: AUDIO_RATE // 2]
    heard_hz = np.argmax(np.abs(np.fft.rfft(pcm))) * AUDIO_RATE / len(pcm)
    assert heard_hz == pytest.approx(300 + 400 * analysed, abs=10)


def test_a_track_is_described_by_its_index_language_and_roles(tmp_path):
    from analyzers.probe import describe_track

    probe = probe_video(tone_tracks(tmp_path / "tracks.ts", [("visual_impaired", "deu"), ("0", "")]))
    assert [describe_track(a) for a in probe.audio_streams] == [
        "#1 (deu, visual_impaired, descriptions)",
        "#2 (language not given)",
    ]


def test_a_track_without_a_decoder_is_passed_over_for_one_that_decodes(tmp_path):
    from analyzers.probe import describe_track
    from support.damage import unknown_codec

    both = tone_tracks(tmp_path / "both.mkv", [("default", "eng"), ("0", "deu")])
    (tmp_path / "first_unknown.mkv").write_bytes(both.read_bytes().replace(b"A_AAC", b"A_QQQ", 1))  # the first only
    probe = probe_video(tmp_path / "first_unknown.mkv")
    assert [a["decodable"] for a in probe.audio_streams] == [False, True]
    assert describe_track(probe.audio_streams[0]) == "#1 (eng, default, no decoder for its codec)"
    assert probe.audio is probe.audio_streams[1]

    only = unknown_codec(tone_tracks(tmp_path / "one.mkv", [("0", "")]), tmp_path / "only_unknown.mkv", b"A_AAC")
    probe = probe_video(only)
    result = decode_audio(probe, tmp_path / "a.parquet")
    assert result.decoded_s == 0 and result.damage.lost == [(0.0, pytest.approx(probe.duration_s, abs=0.05))]
    warning = result.damage.warning(only, "audio")
    assert warning.startswith(f"{only}: audio stream #1 (no decoder for its codec): ")
    assert "(Decoder not found); audio lost at 0.00-" in warning and "Errno" not in warning


def test_a_video_codec_without_a_decoder_is_a_clear_error(tmp_path):
    from support.damage import unknown_codec

    path = unknown_codec(tone_tracks(tmp_path / "v.mkv", [("0", "")]), tmp_path / "unknown.mkv", b"V_MPEG4/ISO/AVC")
    with pytest.raises(MediaError, match="the video stream's codec has no decoder in this build of ffmpeg") as err:
        probe_video(path)
    assert str(err.value).startswith(f"{path}: ")


def test_an_audio_track_that_holds_nothing_is_lost_not_silence(tmp_path):
    path = tmp_path / "empty track.mkv"
    ffmpeg(
        *("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10:duration=3", "-f", "lavfi", "-i", "sine=sample_rate=16000"),
        *("-map", "0", "-map", "1", *FAST_H264, "-c:a", "aac", "-frames:a", "0", "-t", "3", str(path)),
    )
    probe = probe_video(path)
    result = decode_audio(probe, tmp_path / "a.parquet")
    assert result.decoded_s == 0 and result.damage.lost == [(0.0, pytest.approx(3.0, abs=0.05))]
    assert result.damage.warning(path, "audio") == (
        f"{path}: audio stream #1 (aac): the audio stream holds no data though it declares 3.0 s; "
        "audio lost at 0.00-3.00 s, left unanalysed there"
    )


@pytest.mark.parametrize(
    ("dispositions", "shown"),
    [(("0", "default"), (640, 360, 75)), (("0", "0"), (160, 90, 30)), (("default", "0"), (160, 90, 30))],
)
def test_the_video_stream_analysed_is_the_one_a_player_shows(tmp_path, dispositions, shown):
    """A 160x90 10 fps stream and a 640x360 25 fps one in one file: the one marked default, else the first."""
    path = tmp_path / "two pictures.mkv"
    ffmpeg(
        *("-f", "lavfi", "-i", "testsrc2=size=160x90:rate=10:duration=3"),
        *("-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=3"),
        *("-map", "0", "-map", "1", *FAST_H264),
        *(x for k, d in enumerate(dispositions) for x in (f"-disposition:v:{k}", d)),
        str(path),
    )
    probe = probe_video(path)
    assert (probe.width, probe.height, decode_video(probe, None).decoded) == shown


def _woven_and_progressive(folder):
    """ffmpeg's moving test pattern at 50 pictures a second, woven into 25 interlaced frames (top field first, as
    TV is broadcast) and as the 25 progressive frames of every other picture."""
    source = ("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=50:duration=2")
    woven, progressive = folder / "woven.mp4", folder / "progressive.mp4"
    ffmpeg(
        *source, "-vf", "tinterlace=mode=interleave_top,setfield=tff", *FAST_H264, "-flags", "+ildct+ilme", str(woven)
    )
    ffmpeg(*source, "-vf", "select='not(mod(n,2))',setpts=N/25/TB", "-r", "25", *FAST_H264, str(progressive))
    return woven, progressive


def _combing(frames_path) -> float:
    """How far each row is from the mean of the rows above and below it: woven fields of a moving picture
    alternate row by row."""
    grey = [f.image.astype(np.float32).mean(axis=2) for f in iter_frames(frames_path)]
    return float(np.mean([np.abs(g[1:-1] - (g[:-2] + g[2:]) / 2).mean() for g in grey]))


def test_interlaced_frames_are_deinterlaced_as_a_player_shows_them(tmp_path, monkeypatch):
    from analyzers import decode as decode_module

    woven, progressive = _woven_and_progressive(tmp_path)
    result = decode_video(probe_video(woven), tmp_path / "shown.parquet")
    assert result.decoded == 50 and result.signals["t"].tolist() == pytest.approx([i / 25 for i in range(50)])
    decode_video(probe_video(progressive), tmp_path / "progressive.parquet")
    monkeypatch.setattr(decode_module, "deinterlaced", lambda frames, stream: frames)
    decode_video(probe_video(woven), tmp_path / "woven.parquet")
    shown, combed, reference = (_combing(tmp_path / f"{n}.parquet") for n in ("shown", "woven", "progressive"))
    assert shown < 0.7 * combed and shown < 1.3 * reference, (shown, combed, reference)


def test_a_change_of_picture_size_mid_stream_loses_and_repeats_no_frame(tmp_path):
    """Two interlaced MPEG-TS recordings of different sizes joined: the deinterlacer refuses the first frame of
    the new size; every frame still comes out once, in order."""
    import av

    from analyzers.decode import deinterlaced

    interlaced = ("-vf", "tinterlace=mode=interleave_top,setfield=tff", *FAST_H264, "-flags", "+ildct+ilme")
    recordings = [
        (f"testsrc2=size={size}:rate=50:duration=2", None, start) for size, start in (("640x360", None), ("320x240", 2))
    ]
    joined = joined_ts(tmp_path, recordings, video=interlaced)
    with av.open(str(joined)) as container:
        raw = [(f.time, f.width) for f in container.decode(video=0)]
    with av.open(str(joined)) as container:
        stream = container.streams.video[0]
        shown = [(f.time, f.width) for f in deinterlaced(container.decode(stream), stream)]
    assert shown == raw and {w for _, w in raw} == {640, 320} and len(raw) == 100


def test_a_progressive_stream_passes_the_deinterlacer_untouched(clip):
    import av

    from analyzers.decode import deinterlaced

    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        frames = [f for _, f in zip(range(10), container.decode(stream))]
        assert not any(f.interlaced_frame for f in frames)
        assert all(a is b for a, b in zip(deinterlaced(iter(frames), stream), frames, strict=True))


def test_video_without_audio_writes_no_audio(silent_clip, tmp_path):
    probe = probe_video(silent_clip)
    assert probe.audio_streams == [] and probe.seconds == 4
    assert decode_audio(probe, tmp_path / "a.parquet").seconds == 0
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


@pytest.mark.parametrize("fraction", [0.5, 0.02])
def test_a_file_cut_before_its_index_is_called_truncated_not_an_errno(tmp_path, fraction):
    from support.media_factory import pattern_video, truncated_copy

    cut = truncated_copy(pattern_video(tmp_path / "whole.mp4", 2, 160, 96, 10), tmp_path / "cut.mp4", fraction)
    with pytest.raises(MediaError) as err:
        probe_video(cut)
    message = str(err.value)
    assert message.startswith(f"{cut}: not a readable media file: it looks truncated")
    assert f"the file ends at {cut.stat().st_size}" in message and "Errno" not in message
    text = tmp_path / "notes.mp4"
    text.write_bytes(b"plain text\n" * 50)
    with pytest.raises(MediaError, match="not a readable media file: ffmpeg: Invalid data") as err:
        probe_video(text)
    assert "truncated" not in str(err.value) and "Errno" not in str(err.value)


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


@pytest.mark.parametrize("suffix", [".mp3", ".m4a"])
def test_an_audio_file_with_a_cover_picture_is_refused_as_audio_not_read_as_a_video(tmp_path, suffix):
    """Album art is a video stream of one still frame marked attached_pic: it was probed as a 3 s video at
    90,000 fps, then failed as "truncated"."""
    cover = tmp_path / "cover.png"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x64:rate=1", "-frames:v", "1", str(cover))
    path = tmp_path / f"song{suffix}"
    ffmpeg(
        *("-f", "lavfi", "-i", "sine=frequency=440:duration=3", "-i", str(cover), "-map", "0:a", "-map", "1:v"),
        *("-c:v", "mjpeg" if suffix == ".mp3" else "png", "-disposition:v", "attached_pic", str(path)),
    )
    with pytest.raises(MediaError, match=r"no video stream \(the file holds a cover picture and audio\)"):
        probe_video(path)


@pytest.mark.parametrize(
    "name, frames, still",
    [
        ("photo.png", 1, "png"),
        ("photo.jpg", 1, "jpe?g"),  # ffmpeg's probe takes it as jpeg_pipe or as image2 (then the suffix names it)
        ("photo.webp", 1, "webp"),
        ("photo.gif", 1, "gif"),
        ("photo named.mp4", 1, "png"),  # the content decides, not the name
        ("animation.gif", 5, None),
        ("stream.mjpeg", 5, None),  # a raw MJPEG stream reads as a picture format holding frames one after another
    ],
)
def test_a_still_picture_is_refused_and_a_picture_format_holding_frames_is_a_video(tmp_path, name, frames, still):
    """A photo was analysed as a one-second video of one frame."""
    path = tmp_path / name
    fmt = ("-f", "image2", "-c:v", "png") if name.endswith(".mp4") else ("-f", "mjpeg") if "mjpeg" in name else ()
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10", "-frames:v", str(frames), *fmt, str(path))
    before = path.read_bytes()
    if still:
        with pytest.raises(MediaError) as err:
            probe_video(path)
        assert re.fullmatch(rf"{re.escape(str(path))}: a still picture \({still}\), not a video: .*", str(err.value))
    else:
        assert probe_video(path).frame_count == frames
    assert path.read_bytes() == before


@pytest.mark.parametrize("degrees, tag", [(90, True), (180, True), (270, True), (90, False), (270, False)])
def test_rotated_phone_video_comes_out_upright(tmp_path, degrees, tag):
    import cv2
    import numpy as np

    from support.media_factory import ffmpeg, phone_video, portrait_picture

    picture = portrait_picture()
    path = phone_video(tmp_path / "phone.mp4", picture, degrees, tag=tag)
    ffmpeg("-i", str(path), "-frames:v", "1", str(tmp_path / "played.png"))  # ffmpeg turns it as players do
    played = cv2.cvtColor(cv2.imread(str(tmp_path / "played.png")), cv2.COLOR_BGR2RGB)
    probe = probe_video(path)
    assert (probe.width, probe.height) == (96, 160)
    decode_video(probe, tmp_path / "f.parquet")
    frames = list(iter_frames(tmp_path / "f.parquet"))
    assert {f.image.shape for f in frames} == {(160, 96, 3)}
    first = frames[0].image.astype(float)
    assert np.abs(first - played).mean() < 12 and np.abs(first - picture).mean() < 12
    assert np.abs(first - np.rot90(picture, 2)).mean() > 40


def test_raw_h264_takes_its_rate_from_the_bitstream(tmp_path):
    from support.media_factory import pattern_video, remux

    raw = remux(pattern_video(tmp_path / "ten.mp4", 3, 160, 96, 10), tmp_path / "ten.h264")
    probe = probe_video(raw)  # the raw demuxer alone would say 25 fps and no duration
    assert (probe.fps, probe.duration_s, probe.frame_count, probe.timing) == (10.0, 3.0, 30, "stream")
    result = decode_video(probe, tmp_path / "f.parquet")
    assert result.signals["t"].tolist() == pytest.approx([i / 10 for i in range(30)])
    assert frame_times(tmp_path / "f.parquet") == pytest.approx([i / 2 for i in range(6)])


def test_a_stream_without_any_rate_is_timed_at_25_fps_and_marked(tmp_path):
    from support.media_factory import ffmpeg

    raw = tmp_path / "frames.mjpeg"
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=64x48:rate=10",
        "-frames:v",
        "30",
        "-c:v",
        "mjpeg",
        "-pix_fmt",
        "yuvj420p",
        str(raw),
    )
    probe = probe_video(raw)
    assert (probe.fps, probe.duration_s, probe.timing, probe.seconds) == (25.0, 1.2, "stream", 2)
    assert decode_video(probe, tmp_path / "f.parquet").decoded == 30


# Matroska with a second stream: its length may be that stream's; the video track's DURATION tag says where it ends
@pytest.mark.parametrize(("suffix", "audio_rate"), [(".mp4", None), (".mkv", None), (".mkv", 16_000)])
def test_a_file_cut_mid_stream_is_analysed_up_to_the_cut_and_its_end_is_lost(tmp_path, suffix, audio_rate):
    from support.media_factory import pattern_video, truncated_copy

    # faststart: the MP4 index comes first, so the cut file still opens and probes as 4 s long
    faststart = ["-movflags", "+faststart"] if suffix == ".mp4" else []
    whole = pattern_video(tmp_path / f"whole{suffix}", 4, 160, 96, 25, audio_rate=audio_rate, codec_args=faststart)
    assert decode_video(probe_video(whole), None).decoded == 100
    cut = truncated_copy(whole, tmp_path / f"cut{suffix}", 0.5)
    before = cut.read_bytes()
    probe = probe_video(cut)
    assert probe.duration_s == pytest.approx(4.0)
    result = decode_video(probe, tmp_path / "f.parquet")
    assert 25 <= result.decoded < 75 and result.picture[1] == pytest.approx(4.0, abs=0.05)
    damage = result.damage
    assert re.fullmatch(
        r"the file is truncated: its video stream declares 4\.0 s but its data ends at [\d.]+ s", damage.ends_early
    )
    (start, end), cut_at = damage.lost[-1], result.signals["t"].iloc[-1]
    assert start == pytest.approx(cut_at, abs=0.1) and end == pytest.approx(4.0, abs=0.05)
    assert damage.warning(cut, "frames").startswith(
        f"{cut}: video stream #0 (h264): {damage.ends_early}; frames lost at"
    )
    decoded_share = result.decoded_share(probe.duration_s)
    assert decoded_share[0] == 1.0 and decoded_share[3] == 0.0
    if audio_rate:
        audio = decode_audio(probe, tmp_path / "a.parquet")
        assert audio.damage.ends_early.startswith("the file is truncated: its audio stream declares")
        assert audio.damage.lost[-1][1] == pytest.approx(4.0, abs=0.05) and 0.5 < audio.decoded_s < 3.5
    assert cut.read_bytes() == before


def test_variable_frame_rate_keeps_each_frames_own_time(tmp_path):
    from support.media_factory import ffmpeg

    path = tmp_path / "vfr.mp4"  # 30 frames 1/15 s apart, then 60 frames 1/30 s apart
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=96x64:rate=30", "-frames:v", "90",
           "-vf", "setpts='if(lt(N,30),N*2,N+30)/30/TB'",
           "-fps_mode", "vfr", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path))  # fmt: skip
    probe = probe_video(path)
    assert probe.duration_s == pytest.approx(4.0)
    result = decode_video(probe, tmp_path / "f.parquet")
    expected = [i * 2 / 30 for i in range(30)] + [(i + 30) / 30 for i in range(30, 90)]
    assert result.signals["t"].tolist() == pytest.approx(expected, abs=2e-3)
    assert [int(t) for t in frame_times(tmp_path / "f.parquet")] == [0, 0, 1, 1, 2, 2, 3, 3]


@pytest.mark.parametrize("width, height", [(16, 16), (8, 8), (2, 2), (34, 18)])
def test_tiny_frames_decode_and_get_a_camera_label_not_a_crash(tmp_path, width, height):
    import numpy as np

    from analyzers import camera_motion, shots

    path = write_video(tmp_path / "tiny.mp4", render_shots([Shot(2, 8, pan_px_s=4)], width, height, 10), 10)
    probe = probe_video(path)
    result = decode_video(probe, tmp_path / "f.parquet")
    assert result.decoded == 20 and next(iter_frames(tmp_path / "f.parquet")).image.shape == (height, width, 3)
    assert not np.isinf(result.signals.select_dtypes("number").to_numpy()).any()
    cuts = shots.boundaries(shots.analyze_shots(result.signals, probe.fps, probe.duration_s))
    labels = [
        e.value
        for e in camera_motion.analyze_camera_motion(result.signals, probe.duration_s, cuts)
        if e.aspect == "camera"
    ]
    assert len(labels) == 2 and set(labels) <= {"unknown", "pan_right"}  # right, or "too few pixels to track"


@pytest.mark.parametrize("name", [b"caf\xe9 latin-1.mp4", b"json:plain.mp4", "vidéo 日本.mp4".encode()])
def test_the_probe_row_keeps_any_file_name_exactly(tmp_path, silent_clip, name):
    import os

    import pandas as pd

    from analyzers.probe import VideoProbe

    path = Path(os.fsdecode(os.fsencode(tmp_path) + b"/" + name))
    path.write_bytes(silent_clip.read_bytes())
    pd.DataFrame([probe_video(path).as_row()]).to_parquet(tmp_path / "probe.parquet")  # Parquet strings are UTF-8
    probe = VideoProbe.from_row(pd.read_parquet(tmp_path / "probe.parquet").iloc[0].to_dict())
    assert probe.path == str(path) and decode_video(probe, tmp_path / "f.parquet").decoded == 35


@pytest.mark.parametrize(
    "offset_s, picture_s, rate, suffix, pictureless",
    [
        (0, 2, 10, ".mp4", [False, False, True, True]),  # the sound goes on after the picture ends
        (2, 2, 10, ".mkv", [True, True, False, False]),  # the picture starts late
        (0, 4, 0.5, ".mp4", [False, False, False, False]),  # a slide every 2 s is shown for 2 s
        (0, 4, 10, ".mp4", [False, False, False, False]),
    ],
)
def test_seconds_without_a_frame_shown_are_marked_and_nothing_is_seen_there(
    tmp_path, offset_s, picture_s, rate, suffix, pictureless
):
    """A file whose sound runs longer than its picture was described from its last frame on every second after
    the picture had ended, at full confidence; now nothing is seen there and its video aspects are derived."""
    import pandas as pd

    from analyzers.decode import video_quality_events
    from analyzers.records import DERIVED

    path = tmp_path / f"clip{suffix}"
    ffmpeg(
        *(("-itsoffset", str(offset_s)) if offset_s else ()),
        *("-f", "lavfi", "-i", f"testsrc2=size=160x90:rate={rate}:duration={picture_s}"),
        *("-f", "lavfi", "-i", "sine=frequency=300:sample_rate=16000:duration=4"),
        *("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "libopus", str(path)),
    )
    probe = probe_video(path)
    assert probe.seconds == 4
    result = decode_video(probe, tmp_path / "frames.parquet")
    assert result.pictureless(probe.duration_s) == pictureless
    quality = [e for e in video_quality_events(result, probe.duration_s) if e.aspect == "video_decoded"]
    assert [DERIVED in (e.detail or {}) for e in quality] == pictureless
    decode_audio(probe, tmp_path / "a.parquet")
    events = (
        analyze_visual_stats(result.signals, probe.duration_s)
        + analyze_audio(tmp_path / "a.parquet", probe.duration_s)
        + video_quality_events(result, probe.duration_s)
    )
    timeline = build_timeline("clip", probe.duration_s, events_frame(events, "clip"))
    for blank, (_, row) in zip(pictureless, timeline.iterrows()):
        assert pd.isna(row["brightness"]) == blank  # no picture to measure
        assert row["description"].startswith("No picture") == blank
        assert (row["faces"] == 0 and "faces" in row["derived"]) if blank else pd.isna(row["faces"])
        assert "loudness_db" not in row["derived"] and row["loudness_db"] > -60  # the sound is heard throughout


@pytest.mark.parametrize("sar, shown", [("64/45", (1024, 576)), ("16/15", (768, 576)), ("1/1", (720, 576))])
def test_non_square_pixels_are_analysed_as_displayed(tmp_path, sar, shown):
    """PAL DV and anamorphic DVD store 720x576 pixels shown 16:9 or 4:3 wide: faces, text and thumbnails were
    analysed squeezed."""
    path = tmp_path / "dv.mp4"
    ffmpeg(
        *("-f", "lavfi", "-i", "testsrc2=size=720x576:rate=10:duration=1", "-vf", f"setsar={sar}"),
        *("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)),
    )
    probe = probe_video(path)
    assert (probe.width, probe.height) == shown
    decode_video(probe, tmp_path / "f.parquet")
    assert next(iter_frames(tmp_path / "f.parquet")).image.shape == (shown[1], shown[0], 3)


def joined_ts(tmp_path: Path, recordings: list[tuple[str, str | None, float | None]], video=FAST_H264) -> Path:
    """MPEG-TS recordings (lavfi picture, lavfi sound at 16 kHz or None, clock start or None; `video`: the picture's
    ffmpeg arguments) joined as `cat` joins them."""
    parts = []
    for k, (picture, sound, start) in enumerate(recordings):
        part = tmp_path / f"part{k}.ts"
        heard = ("-f", "lavfi", "-i", f"{sound}:sample_rate=16000") if sound else ()
        ffmpeg(
            *("-f", "lavfi", "-i", picture, *heard, *video, *(("-c:a", "mp2") if sound else ())),
            *(("-output_ts_offset", str(start)) if start is not None else ()),
            str(part),
        )
        parts.append(part.read_bytes())
    joined = tmp_path / "joined.ts"
    joined.write_bytes(b"".join(parts))
    return joined


@pytest.mark.parametrize(
    "step_s, seconds, resets",
    [
        (-4.0, 4, 1),  # `cat a.ts b.ts`: both start at the same time; the second is placed after the first
        (-0.2, 4, 1),
        (-0.05, 4, 0),  # a small step back is jitter, not a new start (3.95 s: the last second keeps the rest)
        (5.0, 9, 0),  # a gap of 5 s is kept
        (12.0, 4, 1),  # a jump of more than 10 s is a new start
    ],
)
def test_mpeg_ts_whose_timestamps_start_again_keeps_every_stretch(tmp_path, step_s, seconds, resets):
    """Two recordings joined with `cat` were read on top of each other: half the video and its sound were lost
    without a word. Each stretch now follows the one before, as ffmpeg's command-line tool places them."""
    import numpy as np

    joined = joined_ts(
        tmp_path,
        [
            ("testsrc2=size=160x90:rate=10:duration=2", "sine=frequency=300:duration=2", 10.0),
            ("testsrc2=size=160x90:rate=10:duration=2", "sine=frequency=700:duration=2", 12.0 + step_s),
        ],
    )
    probe = probe_video(joined)
    assert probe.seconds == seconds and len(probe.clock_restarts) == resets
    result = decode_video(probe, tmp_path / "frames.parquet")
    assert result.decoded == 40 and result.resets == resets and result.damage is None
    times = frame_times(tmp_path / "frames.parquet")
    assert all(b > a for a, b in itertools.pairwise(times))  # one clock, running on
    decode_audio(probe, tmp_path / "a.parquet")
    pcm = read_audio(tmp_path / "a.parquet")
    tone_at = [np.argmax(abs(np.fft.rfft(pcm[s * AUDIO_RATE : (s + 1) * AUDIO_RATE]))) for s in (0, seconds - 1)]
    assert tone_at == [300, 700]  # the second recording's sound is heard where its picture is


def test_a_pause_in_the_sound_is_kept_as_silence_so_what_follows_stays_with_its_picture(tmp_path):
    """Audio whose timestamps pause (a dropout) was written on without the pause: everything after it moved up."""
    import numpy as np

    path = tmp_path / "pause.mkv"
    ffmpeg(
        *("-f", "lavfi", "-i", "testsrc2=size=160x90:rate=10:duration=4"),
        *("-f", "lavfi", "-i", "sine=frequency=300:sample_rate=16000:duration=1"),
        *("-f", "lavfi", "-i", "sine=frequency=700:sample_rate=16000:duration=1"),
        *("-filter_complex", "[2]asetpts=PTS+2/TB[b];[1][b]concat=n=2:v=0:a=1[a]", "-map", "0", "-map", "[a]"),
        *("-c:v", "libx264", "-preset", "ultrafast", "-c:a", "libopus", str(path)),
    )
    probe = probe_video(path)
    decode_audio(probe, tmp_path / "a.parquet")
    pcm = read_audio(tmp_path / "a.parquet")
    seconds = [pcm[s * AUDIO_RATE : (s + 1) * AUDIO_RATE] for s in range(4)]
    assert [int(np.argmax(abs(np.fft.rfft(seconds[s])))) for s in (0, 3)] == [300, 700]
    assert max(abs(seconds[1][AUDIO_RATE // 10 :]).max(), abs(seconds[2][: AUDIO_RATE // 2]).max()) < 0.01  # the pause


def test_after_a_clock_restart_the_sound_stays_with_its_picture_when_the_streams_ended_apart(tmp_path):
    """The first recording's sound runs 0.5 s past its picture. Mending each stream on its own put the second
    recording's sound 0.5 s after its picture; one shift for the file's restart keeps them together (the sound
    that overlaps the first recording's is dropped)."""
    import numpy as np

    joined = joined_ts(
        tmp_path,
        [
            ("color=c=black:size=160x90:rate=25:duration=2", "sine=frequency=300:duration=2.5", None),
            # 700 Hz from 1 s into the second recording
            ("color=c=white:size=160x90:rate=25:duration=2", "aevalsrc='if(gte(t,1),0.5*sin(2*PI*700*t),0)':d=2", None),
        ],
    )
    probe = probe_video(joined)
    assert len(probe.clock_restarts) == 1
    signals = decode_video(probe, None).signals
    picture_at = float(signals["t"][np.argmax(signals["brightness"].to_numpy() > 0.5)])
    decode_audio(probe, tmp_path / "a.parquet")
    pcm = read_audio(tmp_path / "a.parquet")
    window = AUDIO_RATE // 50  # 20 ms
    tone = [
        abs(np.fft.rfft(pcm[i : i + window]))[700 * window // AUDIO_RATE] for i in range(0, len(pcm) - window, window)
    ]
    sound_at = next(i for i, v in enumerate(tone) if v > 0.5 * max(tone)) * window / AUDIO_RATE
    assert abs(sound_at - (picture_at + 1.0)) < 0.05, (sound_at, picture_at)  # its tone begins 1 s in
