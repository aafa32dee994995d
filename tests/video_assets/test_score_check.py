"""The reconstruction_score check fails on a timeline below its threshold and on one with an aspect the
graph produces but did not analyse, and passes on a complete one. It warns, it does not block (README:
only the density check blocks): the run succeeds, the timeline is stored, and the check's evaluation
says the score, the threshold and why the score is below 1; the score it records is the one
`video-timeline analyze` prints.

The graph is the real one from the probe to the timeline and its checks (the project's probe asset,
`event_asset`, `events_output`, `build_timeline_assets`, resources and IO manager) over two or three
event assets whose events this test chooses: a shot and a description (as a model would give it) for
every second, faces for the seconds asked, and optionally an objects asset that finds nothing to report.
Expected scores follow from that choice: the mean, over the aspects the graph produces (shot, cut,
faces, [objects,] description), of the share of seconds each is analysed in (every observed cell
counts 1: the events give no confidence, and nothing is derived).
"""

import time

import pytest
from dagster import DagsterInstance, Definitions, define_asset_job, in_process_executor

from analyzers.records import Event
from resources.settings import AnalysisSettings
from resources.storage import TimelineStorage
from video_assets.decode import video_probe
from video_assets.events import event_asset, events_output, probe_of
from video_assets.io_manager import ParquetIOManager
from video_assets.names import SCORE_CHECK
from video_assets.runs import recorded_score, register_video
from video_assets.timeline import build_timeline_assets

pytestmark = pytest.mark.slow

SECONDS = 4  # the silent clip: 3.5 s


def timeline_graph(data_root: str, faces_in: range, objects_asset: bool) -> Definitions:
    def per_second(aspect_values, seconds):
        return [Event(s, s + 1, aspect, value, source="test") for s in seconds for aspect, value in aspect_values]

    @event_asset(group="test", version="1", aspects=("shot", "cut", "description"), name="shots")
    def shots(context, video_probe):
        started, probe = time.perf_counter(), probe_of(video_probe)
        observed = [("shot", 0), ("cut", False), ("description", "A grey picture.")]
        return events_output(context, per_second(observed, range(SECONDS)), probe, started)

    @event_asset(group="test", version="1", aspects=("faces",), name="faces")
    def faces(context, video_probe):
        started, probe = time.perf_counter(), probe_of(video_probe)
        return events_output(context, per_second([("faces", 1)], faces_in), probe, started)

    @event_asset(group="test", version="1", aspects=("objects",), name="objects")
    def objects(context, video_probe):  # configured, but it emits nothing: the aspect stays unanalysed
        started, probe = time.perf_counter(), probe_of(video_probe)
        return events_output(context, [], probe, started)

    events = {"shots": ("shot", "cut", "description"), "faces": ("faces",)} | (
        {"objects": ("objects",)} if objects_asset else {}
    )
    timeline, checks = build_timeline_assets(events)
    storage = TimelineStorage(data_root=data_root)
    return Definitions(
        assets=[video_probe, shots, faces, *([objects] if objects_asset else []), timeline],
        asset_checks=checks,
        jobs=[define_asset_job("timeline_job", executor_def=in_process_executor)],
        resources={"storage": storage, "settings": AnalysisSettings(), "io_manager": ParquetIOManager(storage=storage)},
    )


@pytest.mark.parametrize(
    "faces_in, objects_asset, threshold, score, passed, below_1",
    [
        (range(4), False, 0.9, 1.0, True, "nothing"),
        (range(1), False, 0.9, (1 + 1 + 0.25 + 1) / 4, False, "faces 0.25 (not analysed 75%)"),  # 1 of 4 seconds
        (range(4), True, 0.9, (1 + 1 + 1 + 0 + 1) / 5, False, "objects 0.00 (not analysed 100%)"),  # never analysed
        (range(1), False, 0.8, (1 + 1 + 0.25 + 1) / 4, True, "faces 0.25 (not analysed 75%)"),  # the setting decides
    ],
    ids=["complete", "below_threshold", "unanalysed_aspect", "lower_threshold"],
)
def test_the_score_check_fails_below_its_threshold_and_reports_without_blocking(
    silent_clip, instance_home, faces_in, objects_asset, threshold, score, passed, below_1
):
    defs = timeline_graph(instance_home["VIDEO_TIMELINE_DATA"], faces_in, objects_asset)
    with DagsterInstance.get() as instance:
        key = register_video(defs, instance, silent_clip)
        result = defs.resolve_job_def("timeline_job").execute_in_process(
            instance=instance,
            partition_key=key,
            run_config={"resources": {"settings": {"config": {"score_threshold": threshold}}}},
            raise_on_error=False,
        )
        assert result.success  # a failing score check does not fail the run
        (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.check_name == SCORE_CHECK]
        assert recorded_score(instance, key) == pytest.approx(score, abs=1e-4)  # what `analyze` prints
    meta = {k: v.value for k, v in evaluation.metadata.items()}
    assert evaluation.passed is passed
    assert meta["score"] == pytest.approx(score, abs=1e-4) and meta["threshold"] == threshold
    assert meta["below_1"] == below_1
    assert meta["coverage_faces"] == len(faces_in) / SECONDS and meta["score_faces"] == len(faces_in) / SECONDS
    timeline = result.output_for_node("timeline")
    assert len(timeline) == SECONDS and timeline["faces"].notna().sum() == len(faces_in)
    stored = TimelineStorage(data_root=instance_home["VIDEO_TIMELINE_DATA"]).asset_path("timeline", key)
    assert stored.is_file()  # the timeline is kept whatever its score
