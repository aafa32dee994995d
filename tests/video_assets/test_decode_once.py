"""Each video is decoded once: one probe open, one pass over the video stream, one over the audio."""

import av
import pytest
from dagster import DagsterInstance

from analyzers.probe import probe_video
from support.decode_counter import DecodeCounts, counting_open
from video_assets.definitions import build_definitions
from video_assets.runs import analyze_file

pytestmark = pytest.mark.slow


def test_the_whole_graph_opens_the_source_three_times_and_decodes_each_stream_once(clip, instance_home, monkeypatch):
    frame_count = probe_video(clip).frame_count
    counts = DecodeCounts()
    monkeypatch.setattr(av, "open", counting_open(av.open, counts))
    defs = build_definitions(data_root=instance_home["VIDEO_TIMELINE_DATA"])
    with DagsterInstance.get() as instance:
        run = analyze_file(defs, instance, clip)
    assert run.success, run.failure
    assert counts.opened == [str(clip)] * 3  # probe, video pass, audio pass
    # the video pass decodes every frame once; the probe decodes only the first
    assert counts.video_frames == frame_count + 1
    assert counts.audio_frames > 0
