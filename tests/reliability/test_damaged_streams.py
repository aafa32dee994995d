"""Damaged streams through `video-timeline analyze`, as a user meets them: an AVI whose AC3 audio is broken in
the middle and an MP4 whose H.264 packets are corrupt in the middle each get a timeline (exit 0), with the
lost seconds left unanalysed (null), a warning naming the file, stream and time, and the decoded seconds in
the metadata."""

import re

import pyarrow.parquet as pq
import pytest
from dagster import AssetKey, AssetRecordsFilter, DagsterInstance

from analyzers.keys import partition_key
from support.damage import av_clip, break_headers, damage_packets
from support.instance import digest, run_cli

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def analysed(workspace):
    folder = workspace.root / "damaged"
    folder.mkdir()
    audio, _ = break_headers(av_clip(folder / "ok.avi"), folder / "broken audio.avi", "audio", 2.0, 4.0, 4, 0xFF)
    video, _ = damage_packets(
        av_clip(folder / "ok.mp4", audio="aac"), folder / "broken video.mp4", "video", 2.0, 4.0, keep=4
    )
    before = {p: digest(p) for p in (audio, video)}
    proc = run_cli(workspace, "analyze", str(audio), str(video))
    return workspace, audio, video, before, proc


def metadata(workspace, asset: str, source) -> dict:
    with DagsterInstance.get() as instance:
        records = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=[partition_key(source)]), limit=1
        ).records
        return {k: v.value for k, v in records[0].asset_materialization.metadata.items()}


def test_both_get_a_timeline_and_the_command_succeeds(analysed):
    ws, audio, video, before, proc = analysed
    assert proc.returncode == 0, proc.stderr[-3000:]
    for source in (audio, video):
        seconds = re.search(rf"^{re.escape(str(source))}: (\d+) seconds in .* reconstruction score", proc.stdout, re.M)
        assert seconds and int(seconds.group(1)) == len(ws.timeline(source)) >= 6
        assert digest(source) == before[source]  # sources are only read


def test_audio_lost_in_the_middle_is_null_there_with_a_warning(analysed, monkeypatch):
    ws, audio, _, _, proc = analysed
    timeline = ws.timeline(audio)
    for aspect in ("speech", "loudness_db", "transcript"):
        assert timeline[aspect].isna().tolist()[:6] == [False, False, True, True, False, False], aspect
    assert timeline[["shot", "camera", "faces"]].notna().all().all()  # the video is whole
    assert re.search(
        rf"warning +audio_pcm: {re.escape(str(audio))}: audio stream #1 \(ac3\): .* audio lost at 1\.98-4\.00 s",
        proc.stderr,
    )
    monkeypatch.setenv("DAGSTER_HOME", ws.env["DAGSTER_HOME"])
    pcm = metadata(ws, "audio_pcm", audio)
    assert pcm["seconds_decoded"] == pytest.approx(4.0, abs=0.1) and pcm["lost_at"] == "1.98-4.00 s"


def test_corrupt_video_packets_drop_those_seconds_only(analysed, monkeypatch):
    ws, _, video, _, proc = analysed
    timeline = ws.timeline(video)
    for aspect in ("shot", "cut", "camera", "faces", "text", "visibility", "brightness"):
        assert timeline[aspect].isna().tolist()[:6] == [False, False, True, True, False, False], aspect
    assert timeline[["speech", "loudness_db"]].notna().all().all()  # the audio is whole
    assert re.search(
        rf"warning +video_decode: {re.escape(str(video))}: video stream #0 \(h264\): \d+ packet\(s\) did not decode"
        r" .*frames lost at 2\.00-4\.00 s",
        proc.stderr,
    )
    monkeypatch.setenv("DAGSTER_HOME", ws.env["DAGSTER_HOME"])
    signals = metadata(ws, "frame_signals", video)
    assert signals["frames_decoded"] == 40 and signals["seconds_decoded"] == pytest.approx(4.0, abs=0.01)
    assert pq.read_metadata(ws.output("frame_signals", video)).num_rows == 40
