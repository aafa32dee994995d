"""`video-timeline ui` for real: bound to 127.0.0.1, a partition run launched through GraphQL goes through the
run queue (the daemon `dagster dev` starts dequeues it) and its materialization and checks read back."""

import base64
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from analyzers.report import per_aspect_line
from analyzers.timeline import CONTRACT_ASPECTS
from resources.storage import TimelineStorage
from support.instance import PROJECT, private_instance
from support.ui import default_signals, free_port, graphql, listening_addresses, running_ui, stop_group

pytestmark = pytest.mark.slow

LAUNCH = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on Error { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}"""
ADD_PARTITION = """
mutation Add($selector: RepositorySelector!, $key: String!) {
  addDynamicPartition(repositorySelector: $selector, partitionsDefName: "videos", partitionKey: $key) { __typename }
}"""
RUN_STATUS = "query Run($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"
RESULTS = """
query Results($key: String!) {
  assetOrError(assetKey: {path: ["timeline"]}) {
    ... on Asset {
      assetMaterializations(partitions: [$key]) {
        runId partition
        metadataEntries {
          label
          ... on FloatMetadataEntry { floatValue }
          ... on MarkdownMetadataEntry { mdStr }
          ... on UrlMetadataEntry { url }
          ... on TextMetadataEntry { text }
          ... on PathMetadataEntry { path }
        }
      }
    }
  }
  score: assetCheckExecutions(assetKey: {path: ["timeline"]}, checkName: "reconstruction_score",
                              partition: $key, limit: 5) {
    runId status evaluation { success severity metadataEntries { label ... on FloatMetadataEntry { floatValue } } }
  }
  dense: assetCheckExecutions(assetKey: {path: ["timeline"]}, checkName: "timeline_dense", partition: $key, limit: 5) {
    runId status evaluation { success }
  }
}"""


def like_a_background_job() -> None:
    """What `video-timeline ui &` in a script gets: default handling except SIGINT and SIGQUIT ignored."""
    default_signals()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGQUIT, signal.SIG_IGN)


def descendants(pid: int) -> set[int]:
    """Every process below `pid` (from /proc), whatever process group or session it moved to."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def second_ui_on(port: int, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Another `video-timeline ui` on the same port; killed (with its group) if it keeps running."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "video_assets.cli", "ui", "--port", str(port)], env=env, cwd=PROJECT,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_signals, start_new_session=True,
    )  # fmt: skip
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        stop_group(proc, grace=5)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_ui_binds_to_localhost_and_runs_a_partition_launched_through_graphql(silent_clip, tmp_path):
    """Started as a background job of a script would be (SIGINT ignored): `kill` still stops all of it."""
    env = private_instance(tmp_path)
    key = TimelineStorage(data_root=env["VIDEO_TIMELINE_DATA"]).register_source(silent_clip)
    port = free_port()
    with running_ui(env, port, tmp_path / "ui.log", preexec=like_a_background_job) as (location, server):
        assert listening_addresses(port) == {"127.0.0.1"}
        # A second UI on the busy port says so and exits, instead of running a second daemon on the instance.
        second = second_ui_on(port, env)
        assert second.returncode == 1 and f"port {port} on 127.0.0.1 is already in use" in second.stderr
        assert "Dagster UI on" not in second.stdout
        added = graphql(port, ADD_PARTITION, {"selector": location, "key": key})
        assert added["addDynamicPartition"]["__typename"] == "AddDynamicPartitionSuccess"

        params = {
            "selector": {**location, "jobName": "analyze_video"},
            "runConfigData": {},
            "executionMetadata": {"tags": [{"key": "dagster/partition", "value": key}]},
        }
        launched = graphql(port, LAUNCH, {"params": params})["launchRun"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        run_id = launched["run"]["runId"]
        assert launched["run"]["status"] == "QUEUED"  # the run queue of dagster.yaml; the daemon starts it

        deadline, status = time.monotonic() + 240, None
        while time.monotonic() < deadline:
            status = graphql(port, RUN_STATUS, {"id": run_id})["runOrError"]["status"]
            if status in {"SUCCESS", "FAILURE", "CANCELED"}:
                break
            time.sleep(2)
        assert status == "SUCCESS", (tmp_path / "ui.log").read_text()[-3000:]

        results = graphql(port, RESULTS, {"key": key})

        # `kill <pid>` of the command alone stops the whole server (web server, daemon, code server) at once.
        below = descendants(server.pid)
        assert len(below) >= 4, below  # dagster dev, its web server, daemon and code server
        os.kill(server.pid, signal.SIGTERM)
        assert server.wait(60) == 0 or server.returncode < 0
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (group_alive(server.pid) or any(map(alive, below))):
            time.sleep(0.5)
        assert not [pid for pid in below if alive(pid)] and not listening_addresses(port)
        assert not group_alive(server.pid)
    [materialization] = results["assetOrError"]["assetMaterializations"]
    assert materialization["runId"] == run_id and materialization["partition"] == key
    metadata = {e["label"]: e for e in materialization["metadataEntries"]}
    [score_check] = results["score"]
    checked = {e["label"]: e.get("floatValue") for e in score_check["evaluation"]["metadataEntries"]}
    # the UI shows one number: the timeline's metadata, its picture and the check agree
    score = metadata["reconstruction_score"]["floatValue"]
    assert score == checked["score"] and metadata["coverage"]["floatValue"] == checked["coverage"] == 1.0
    assert 0.0 < score < 0.6  # no audio stream (silence derived) and composed descriptions: counted 0
    breakdown = metadata["score_breakdown"]["mdStr"]
    assert f"**Reconstruction score {score:.3f}**" in breakdown and "speech 0.00 (derived 100%)" in breakdown
    png = base64.b64decode(breakdown.split("data:image/png;base64,")[1].split(")")[0])
    picture = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert picture is not None and picture.shape[0] > 16 * len(CONTRACT_ASPECTS)
    # Content, not only status: the first rows, the aspects' scores inline, and where the report is.
    preview = metadata["preview"]["mdStr"].splitlines()
    assert preview[0].startswith("| second | shot | cut | camera |") and preview[2].startswith("| 0 | 0 | False |")
    scores = {a: checked[f"score_{a}"] for a in CONTRACT_ASPECTS}
    assert metadata["score_by_aspect"]["text"] == per_aspect_line(scores, tuple(scores))  # all in the default graph
    report = TimelineStorage(data_root=env["VIDEO_TIMELINE_DATA"]).report_path(key)
    assert metadata["report"]["url"] == report.as_uri() and metadata["report_file"]["path"] == str(report)
    assert report.is_file()
    assert [(e["runId"], e["status"], e["evaluation"]["success"]) for e in results["dense"]] == [
        (run_id, "SUCCEEDED", True)
    ]
    # below the threshold the score check fails as a warning; the run itself succeeded (above)
    assert score < checked["threshold"]
    assert (score_check["runId"], score_check["status"], score_check["evaluation"]["success"]) == (
        run_id,
        "FAILED",
        False,
    )
    assert score_check["evaluation"]["severity"] == "WARN"
