"""The inbox and retry sensors, evaluated through a real instance (tmp DAGSTER_HOME with the project's dagster.yaml)."""

import json
import os

import pytest
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter, build_sensor_context

from analyzers.keys import partition_key
from resources.settings import OperationsSettings
from resources.storage import TimelineStorage
from support.instance import digest as file_digest
from video_assets.definitions import ANALYZE_JOB, build_definitions
from video_assets.runs import run_partition
from video_assets.sensors import ATTEMPT_TAG, PARTITION_TAG, RETRY_OF_TAG, inbox_sensor, retry_failed_sensor, scan_inbox


def evaluate(sensor, instance, cursor, **resources):
    """One tick: what the daemon does, minus launching (the caller runs the requests)."""
    with build_sensor_context(instance=instance, cursor=cursor, resources=resources) as context:
        result = sensor(context)
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result


def inbox_tick(instance, inbox, data, cursor, settle=0.0):
    operations = OperationsSettings(inbox_folder=str(inbox), inbox_settle_seconds=settle, max_retries=2)
    return evaluate(inbox_sensor, instance, cursor, storage=TimelineStorage(data_root=str(data)), operations=operations)


def test_scan_skips_hidden_temporary_and_foreign_files_and_never_leaves_the_inbox(tmp_path):
    inbox, outside = tmp_path / "inbox", tmp_path / "outside"
    (inbox / "a").mkdir(parents=True)
    (inbox / "b").mkdir()
    (inbox / ".hidden_folder").mkdir()
    outside.mkdir()
    for name in ["a/clip.mp4", "b/clip.mp4", "b/Other Clip.MOV", ".secret.mp4", "c.mp4.part", "d.mp4.crdownload",
                 "~$e.mp4", "notes.txt", "f.mp4~", ".hidden_folder/g.mp4"]:  # fmt: skip
        (inbox / name).write_bytes(b"x")
    (outside / "escape.mp4").write_bytes(b"x")
    (inbox / "link_out.mp4").symlink_to(outside / "escape.mp4")
    (inbox / "linked_folder").symlink_to(outside, target_is_directory=True)
    (inbox / "link_in.mp4").symlink_to(inbox / "a" / "clip.mp4")  # the same file twice: one entry

    found = scan_inbox(inbox, settle_seconds=0)
    assert sorted(f.relative for f in found) == ["a/clip.mp4", "b/Other Clip.MOV", "b/clip.mp4"]
    keys = {partition_key(f.path) for f in found}
    assert len(keys) == 3 and all(k.startswith(("clip-", "other_clip-")) for k in keys)
    assert all(inbox.resolve() in f.path.parents for f in found)
    assert not any(f.settled for f in scan_inbox(inbox, settle_seconds=3600))  # just written: not settled


def test_each_settled_file_becomes_one_partition_and_one_run_request(silent_clip, tmp_path):
    inbox, data = tmp_path / "inbox", tmp_path / "data"
    (inbox / "x").mkdir(parents=True)
    (inbox / "y").mkdir()
    first, second = inbox / "x" / "clip.mp4", inbox / "y" / "clip.mp4"
    first.write_bytes(silent_clip.read_bytes())
    growing = second.open("wb")
    growing.write(silent_clip.read_bytes()[:3000])  # a copy in progress
    growing.flush()
    with DagsterInstance.ephemeral() as instance:
        tick1 = inbox_tick(instance, inbox, data, None)
        assert tick1.run_requests == []  # seen once: maybe still being copied
        growing.write(silent_clip.read_bytes()[3000:6000])
        growing.flush()
        tick2 = inbox_tick(instance, inbox, data, tick1.cursor)
        assert [r.partition_key for r in tick2.run_requests] == [partition_key(first)]  # the other one grew
        growing.write(silent_clip.read_bytes()[6000:])
        growing.close()
        tick3 = inbox_tick(instance, inbox, data, tick2.cursor)
        assert tick3.run_requests == []  # grew again since the last tick
        assert inbox_tick(instance, inbox, data, tick3.cursor, settle=3600).run_requests == []  # modified too recently
        tick4 = inbox_tick(instance, inbox, data, tick3.cursor)
        assert [r.partition_key for r in tick4.run_requests] == [partition_key(second)]
        assert inbox_tick(instance, inbox, data, tick4.cursor).run_requests == []  # idempotent

        assert set(instance.get_dynamic_partitions("videos")) == {partition_key(first), partition_key(second)}
        storage = TimelineStorage(data_root=str(data))
        assert storage.source_path(partition_key(second)) == second.resolve()
        # Each request carries a run key of its file and content, so a lost cursor gives the same keys again,
        # and the sensor daemon never launches a run key twice.
        requested = tick2.run_requests + tick4.run_requests
        keys = [r.run_key for r in requested]
        assert all(isinstance(k, str) and k for k in keys) and len(set(keys)) == len(keys) == 2
        assert all(r.partition_key in r.run_key for r in requested)
        replay = inbox_tick(instance, inbox, data, inbox_tick(instance, inbox, data, None).cursor)
        assert sorted(r.run_key for r in replay.run_requests) == sorted(keys)
        assert file_digest(second) == file_digest(silent_clip)


def test_inbox_without_its_folder_skips_with_the_reason(tmp_path):
    with DagsterInstance.ephemeral() as instance:
        operations = OperationsSettings(inbox_folder=str(tmp_path / "nowhere"))
        with build_sensor_context(
            instance=instance, resources={"storage": TimelineStorage(data_root=str(tmp_path)), "operations": operations}
        ) as context:
            result = inbox_sensor(context)
    assert "nowhere does not exist" in result.skip_message


@pytest.mark.slow
def test_inbox_to_runs_on_a_real_instance_with_one_clear_failure_and_bounded_retries(
    silent_clip, instance_home, tmp_path
):
    inbox, data = tmp_path / "inbox", tmp_path / "data"
    inbox.mkdir(exist_ok=True)  # instance_home made it empty
    good, corrupt = inbox / "good.mp4", inbox / "corrupt.mp4"
    good.write_bytes(silent_clip.read_bytes())
    corrupt.write_bytes(silent_clip.read_bytes()[:2000])  # a truncated upload
    digests = {p: (file_digest(p), os.stat(p).st_mtime_ns) for p in (good, corrupt)}
    defs = build_definitions(model_specs={})
    job = defs.resolve_job_def(ANALYZE_JOB)
    ops = OperationsSettings(inbox_folder=str(inbox), inbox_settle_seconds=0, max_retries=1)
    with DagsterInstance.get() as instance:
        tick = inbox_tick(instance, inbox, data, inbox_tick(instance, inbox, data, None).cursor)
        assert inbox_tick(instance, inbox, data, tick.cursor).run_requests == []
        for request in tick.run_requests:  # launched as the daemon would: the job, the partition, the tags
            run_partition(defs, instance, request.partition_key, tags=request.tags)

        runs = {
            key: instance.get_runs(RunsFilter(tags={PARTITION_TAG: key})) for key in map(partition_key, (good, corrupt))
        }
        assert [r.status for r in runs[partition_key(good)]] == [DagsterRunStatus.SUCCESS]
        assert [r.status for r in runs[partition_key(corrupt)]] == [DagsterRunStatus.FAILURE]
        assert (data / "timeline" / f"video={partition_key(good)}" / "timeline.parquet").is_file()

        # The corrupt file: reported once with the file and the reason, never retried.
        retry1 = evaluate(retry_failed_sensor, instance, None, operations=ops)
        assert retry1.run_requests == []
        corrupt_run = runs[partition_key(corrupt)][0].run_id
        failures = [e for e in instance.all_logs(corrupt_run) if e.is_dagster_event and e.dagster_event.is_step_failure]
        assert [e.dagster_event.step_key for e in failures] == ["video_probe"]
        reason = failures[0].dagster_event.step_failure_data.user_failure_data.description
        assert reason.startswith(f"{corrupt.resolve()}: not a readable media file")

        # A run marked failed without a step failure (its worker died, it never started) is retried,
        # a bounded number of times.
        died = instance.create_run_for_job(
            job, tags={PARTITION_TAG: partition_key(good)}, status=DagsterRunStatus.STARTED
        )
        instance.report_run_failed(died)
        retry2 = evaluate(retry_failed_sensor, instance, retry1.cursor, operations=ops)
        assert [(r.partition_key, r.tags[ATTEMPT_TAG], r.tags[RETRY_OF_TAG]) for r in retry2.run_requests] == [
            (partition_key(good), "1", died.run_id)
        ]
        assert evaluate(retry_failed_sensor, instance, retry2.cursor, operations=ops).run_requests == []  # once
        died_again = instance.create_run_for_job(
            job, tags={PARTITION_TAG: partition_key(good), ATTEMPT_TAG: "1"}, status=DagsterRunStatus.STARTED
        )
        instance.report_run_failed(died_again)
        assert (
            evaluate(retry_failed_sensor, instance, retry2.cursor, operations=ops).run_requests == []
        )  # limit reached
    assert {p: (file_digest(p), os.stat(p).st_mtime_ns) for p in (good, corrupt)} == digests  # sources untouched
    assert json.loads(tick.cursor)["submitted"].keys() == {"good.mp4", "corrupt.mp4"}


def test_the_code_location_runs_the_operations_sensors_on_the_analyze_job():
    defs = build_definitions(model_specs={})
    for name in ("inbox_sensor", "retry_failed_sensor", "rebuild_stale_sensor"):
        assert defs.resolve_sensor_def(name).job_name == ANALYZE_JOB
    assert defs.resolve_sensor_def("inbox_sensor").default_status.value == "RUNNING"
    assert defs.resolve_sensor_def("rebuild_stale_sensor").default_status.value == "STOPPED"  # started from the UI


def test_operations_settings_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("VIDEO_TIMELINE_INBOX", str(tmp_path))
    monkeypatch.setenv("VIDEO_TIMELINE_MAX_RETRIES", "5")
    settings = OperationsSettings()
    assert (
        settings.inbox_folder == str(tmp_path) and settings.max_retries == 5 and settings.inbox_settle_seconds == 10.0
    )
    monkeypatch.setenv("VIDEO_TIMELINE_MAX_RETRIES", "many")
    with pytest.raises(ValueError, match=r"\$VIDEO_TIMELINE_MAX_RETRIES='many' is not a int"):
        OperationsSettings()
