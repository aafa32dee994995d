"""Each video is decoded once: one probe open, one pass over the video stream, one over the audio."""

import av
import pytest
from dagster import DagsterInstance

from analyzers import media
from video_assets.definitions import ANALYZE_JOB, build_definitions

pytestmark = pytest.mark.slow


def test_the_whole_graph_opens_the_source_three_times_and_decodes_each_stream_once(clip, instance_home, monkeypatch):
    frame_count = media.probe_video(clip).frame_count
    opened, decoded = [], {"video": 0, "audio": 0}
    real_open = av.open

    class CountingContainer:
        def __init__(self, container):
            self._c = container

        def __getattr__(self, name):
            return getattr(self._c, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return self._c.__exit__(*exc)

        def decode(self, *streams, **kw):
            for frame in self._c.decode(*streams, **kw):
                decoded["video" if isinstance(frame, av.VideoFrame) else "audio"] += 1
                yield frame

    def counting_open(path, *args, **kwargs):
        opened.append(str(path))
        return CountingContainer(real_open(path, *args, **kwargs))

    monkeypatch.setattr(media.av, "open", counting_open)
    defs = build_definitions(data_root=instance_home["VIDEO_TIMELINE_DATA"])
    storage = defs.resources["storage"]
    key = storage.register_source(clip)
    with DagsterInstance.get() as instance:
        instance.add_dynamic_partitions("videos", [key])
        result = defs.resolve_job_def(ANALYZE_JOB).execute_in_process(instance=instance, partition_key=key)
    assert result.success
    assert opened == [str(clip)] * 3  # probe, video pass, audio pass
    # the video pass decodes every frame once; the probe decodes only the first
    assert decoded["video"] == frame_count + 1
    assert decoded["audio"] > 0
