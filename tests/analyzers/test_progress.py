"""Long steps say how far they are (the Dagster step log shows it), at most every EVERY_S seconds."""

import re

import pytest

from analyzers import faces, ocr, progress, transcript
from analyzers.cut_list import find_cuts
from analyzers.decode import decode_audio, decode_video
from analyzers.probe import probe_video


def positions(lines: list[str], what: str) -> list[int]:
    found = [re.fullmatch(rf"{what}: (\d+)/11 s of video", line) for line in lines]
    assert all(found), lines
    return [int(m.group(1)) for m in found]


def test_each_long_step_reports_how_far_into_the_video_it_is(clip, tmp_path, monkeypatch):
    monkeypatch.setattr(progress, "EVERY_S", 0.0)  # every chance to report is taken
    probe = probe_video(clip)
    lines: list[str] = []
    decode_video(probe, tmp_path / "frames.parquet", progress=lines.append)
    decoded = positions(lines, "decoding clip.mp4")
    assert len(decoded) == 165 and decoded == sorted(decoded) and decoded[-1] == 11  # one per frame here
    lines = []
    find_cuts(clip, progress=lines.append)  # `video-timeline cuts` prints these to stderr
    assert positions(lines, "decoding clip.mp4") == decoded

    for name, analyse in {
        "reading text": lambda say: ocr.analyze_text(tmp_path / "frames.parquet", probe.duration_s, progress=say),
        "detecting faces": lambda say: faces.analyze_faces(tmp_path / "frames.parquet", probe.duration_s, progress=say),
    }.items():
        lines = []
        analyse(lines.append)
        seen = positions(lines, name)
        assert len(seen) >= 2 and seen == sorted(seen) and seen[-1] == 11, (name, seen)

    decode_audio(probe, tmp_path / "audio.parquet")
    whisper = transcript.load_whisper(transcript.resolve_whisper_folder(transcript.BUNDLED_MODEL))
    lines = []
    transcript.analyze_transcript(
        whisper, tmp_path / "audio.parquet", probe.duration_s, "w", chunk_s=4, progress=lines.append
    )
    # windows of 4 s with 5 s of padding: [0, 4), then the rest, whose padding would reach the end anyway
    assert positions(lines, "transcribing") == [4, 11]


def test_progress_is_quiet_between_intervals(clip, tmp_path):
    assert progress.EVERY_S == 10.0
    lines: list[str] = []
    decode_video(probe_video(clip), tmp_path / "frames.parquet", progress=lines.append)
    assert lines == []  # an 11 s clip decodes well within one interval
    report = progress.Progress(lines.append, "x", 5.0)
    report.at(1.0)
    assert lines == []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(progress, "EVERY_S", 0.0)
        report = progress.Progress(lines.append, "x", 5.0)
        report.at(7.0)  # past the end (a last padded window): clamped to the length
    assert lines == ["x: 5/5 s of video"]
