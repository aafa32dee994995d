"""Each video is decoded once: one probe open, one pass over the video stream, one over the audio.

The counter (support/decode_counter.py) sees every PyAV open and every frame decoded through any of
PyAV's decoding calls, so a second pass made any other way than the first is counted too."""

import av
import pytest
from dagster import DagsterInstance

from analyzers.probe import probe_video
from support.decode_counter import counting_media_reads
from video_assets.definitions import build_definitions
from video_assets.runs import analyze_file

pytestmark = pytest.mark.slow


def test_the_whole_graph_opens_the_source_three_times_and_decodes_each_stream_once(clip, instance_home):
    frame_count = probe_video(clip).frame_count
    with av.open(str(clip)) as container:  # PyAV itself, before anything is counted
        audio_frames = sum(1 for _ in container.decode(audio=0))
    defs = build_definitions(data_root=instance_home["VIDEO_TIMELINE_DATA"])
    with DagsterInstance.get() as instance, counting_media_reads() as counts:
        run = analyze_file(defs, instance, clip)
    assert run.success, run.failure
    assert counts.opened == [str(clip)] * 3  # probe, video pass, audio pass
    # the video pass decodes every frame once; the probe decodes only the first
    assert counts.video_frames == frame_count + 1
    assert counts.audio_frames == audio_frames > 0 and counts.other_frames == 0  # the audio pass: each frame once
