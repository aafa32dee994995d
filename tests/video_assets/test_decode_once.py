"""Each video is decoded once: one probe open, one pass over the video stream, one over the audio.

The counter (support/decode_counter.py) sees every PyAV open and every frame decoded through any of
PyAV's decoding calls, so a second pass made any other way than the first is counted too."""

import json

import av
import pandas as pd
import pytest
from dagster import AssetKey, DagsterInstance
from pandas.testing import assert_frame_equal

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


def test_rebuilding_the_frame_signals_alone_samples_no_frame(clip, instance_home):
    # A backfill after a change of the signals selects frame_signals without sampled_frames: no frame is
    # sampled or encoded, and the sampled frames' folder is never made.
    defs = build_definitions(data_root=instance_home["VIDEO_TIMELINE_DATA"])
    selection = [AssetKey("video_probe"), AssetKey("frame_signals")]
    with DagsterInstance.get() as instance:
        run = analyze_file(defs, instance, clip, asset_selection=selection)
        assert run.success, run.failure
        messages = [e.user_message for e in instance.all_logs(run.run_id)]
        [signals] = instance.fetch_materializations(AssetKey("frame_signals"), limit=1).records
        frames = instance.fetch_materializations(AssetKey("sampled_frames"), limit=1).records
    assert signals.asset_materialization.metadata["frames_decoded"].value == probe_video(clip).frame_count
    assert frames == [] and any(m.endswith(", sampled 0 (0 stored)") for m in messages), messages
    storage = defs.resources["storage"]
    assert storage.asset_path("frame_signals", run.key).is_file()
    assert not storage.asset_path("sampled_frames", run.key).parent.exists()


def test_the_picture_quality_alone_measures_the_sampled_frames_without_storing_them(clip, instance_home, tmp_path):
    # video_quality selected without sampled_frames: the frames are sampled and measured as when they are
    # stored (the same visibility per second), but none is JPEG-encoded and the store's folder is never made.
    def quality(data_root, selection):
        defs = build_definitions(data_root=str(data_root))
        with DagsterInstance.get() as instance:
            run = analyze_file(defs, instance, clip, asset_selection=selection)
            assert run.success, run.failure
            messages = [e.user_message for e in instance.all_logs(run.run_id)]
        storage = defs.resources["storage"]
        table = pd.read_parquet(storage.asset_path("video_quality", run.key))
        return table, messages, storage.asset_path("sampled_frames", run.key).parent.exists()

    probe_and = [AssetKey("video_probe"), AssetKey("video_quality")]
    stored, _, made = quality(tmp_path / "stored", [*probe_and, AssetKey("sampled_frames")])
    alone, messages, made_alone = quality(tmp_path / "alone", probe_and)
    assert made and not made_alone
    visible = alone.loc[alone["aspect"] == "visibility", "value"].map(json.loads)
    assert any(m.endswith(f", sampled {len(visible) * 2} (0 stored)") for m in messages), messages  # 2 per second
    assert len(visible) == probe_video(clip).seconds and visible.between(0, 1).all() and visible.max() > 0
    assert_frame_equal(alone, stored)
