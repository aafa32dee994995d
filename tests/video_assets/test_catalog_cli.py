"""`show` formats, `list`, `forget` and `report` against a real private instance, after real analyses."""

import csv
import io
import json

import pytest
from dagster import DagsterInstance

from analyzers.keys import partition_key
from resources.storage import TimelineStorage
from support.instance import digest as file_digest
from support.media_factory import pattern_video, truncated_copy
from video_assets import cli
from video_assets.runs import recorded_score

pytestmark = pytest.mark.slow


@pytest.fixture
def two_videos(instance_home, tmp_path, capsys):
    """A 48 s clip analysed, and a truncated copy whose analysis failed."""
    folder = tmp_path / "videos"
    folder.mkdir()
    good = pattern_video(folder / "long clip.mp4", 48, 160, 96, 5)
    broken = truncated_copy(good, folder / "cut.mp4", 0.5)
    assert cli.main(["analyze", str(good), str(broken)]) == 1  # one of the two failed
    capsys.readouterr()
    return good, broken, TimelineStorage(data_root=instance_home["VIDEO_TIMELINE_DATA"])


def run(capsys, *args) -> tuple[int, str, str]:
    try:
        code = cli.main(list(args))
    except SystemExit as exc:  # the CLI's error exits carry their message
        code, message = 1, str(exc.code)
        printed = capsys.readouterr()
        return code, printed.out, printed.err + message
    printed = capsys.readouterr()
    return code, printed.out, printed.err


def test_show_list_report_and_forget(two_videos, capsys, monkeypatch, tmp_path):
    good, broken, storage = two_videos
    key, broken_key = partition_key(good), partition_key(broken)

    # show --format csv: a header and one line per second
    code, out, _ = run(capsys, "show", str(good), "--format", "csv")
    rows = list(csv.reader(io.StringIO(out)))
    assert code == 0 and rows[0][:4] == ["second", "shot", "cut", "camera"] and len(rows) == 49
    assert [int(r[0]) for r in rows[1:]] == list(range(48))
    code, out, _ = run(capsys, "show", key, "--format", "json", "--columns", "text,second", "--rows", "2")
    shown = json.loads(out)
    assert [list(r) for r in shown] == [["text", "second"]] * 2 and [r["second"] for r in shown] == [0, 1]
    assert all(isinstance(r["text"], list) for r in shown)  # lists stay lists (the test pattern's clock is read)
    code, _, err = run(capsys, "show", key, "--columns", "second,nope")
    assert code == 1 and "unknown column(s) nope" in err and "transcript" in err
    # the table fits the terminal: long descriptions are cut, not wrapped
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = run(capsys, "show", key, "--rows", "5")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 6 and max(map(len, lines)) <= 80 and "…" in out
    assert lines[0].split()[:2] == ["second", "shot"] and lines[1].split()[0] == "0"

    # show on the failed video says why it failed, not "run analyze first"
    code, _, err = run(capsys, "show", str(broken))
    assert code == 1 and f"the analysis of {broken} failed: {broken.resolve()}: not a readable media file" in err
    assert "looks truncated" in err and "run `video-timeline analyze" not in err

    code, out, _ = run(capsys, "list", "--format", "json")
    listed = {v["video"]: v for v in json.loads(out)}
    with DagsterInstance.get() as instance:
        assert listed[key]["score"] == recorded_score(instance, key)  # the check's number, as everywhere
    assert listed[key]["state"] == "analysed" and listed[key]["duration_s"] == 48.0
    assert listed[key]["source"] == str(good.resolve()) and listed[key]["last_run"]
    assert listed[broken_key]["state"] == "failed" and "looks truncated" in listed[broken_key]["reason"]
    code, out, _ = run(capsys, "list")
    assert code == 0 and out.splitlines()[0].split() == ["video", "state", "score", "duration_s", "last_run", "source"]

    # report: rendered from what is stored, to a chosen file
    code, out, _ = run(capsys, "report", str(good), "--output", str(tmp_path / "mine.html"))
    assert code == 0 and out.strip() == str(tmp_path / "mine.html")
    page = (tmp_path / "mine.html").read_text()
    assert '"seconds":48' in page and page.count("data:image/jpeg;base64,") == 1  # 48 thumbnails: one sheet

    # forget: the partition and every output go, the source file stays as it was
    before = file_digest(good), file_digest(broken)
    outputs = list(storage.root.glob(f"*/video={key}"))
    assert {p.parent.name for p in outputs} >= {"timeline", "report", "sampled_frames", "video_probe"}
    for target in (str(broken), key):
        code, out, _ = run(capsys, "forget", target)
        assert code == 0 and out.startswith("forgot ")
    assert not list(storage.root.glob(f"*/video={key}")) and not (storage.root / "sources" / f"{key}.json").exists()
    with DagsterInstance.get() as instance:
        assert instance.get_dynamic_partitions("videos") == []
    assert (file_digest(good), file_digest(broken)) == before
    code, out, _ = run(capsys, "list", "--format", "json")
    assert json.loads(out) == []
    code, _, err = run(capsys, "show", key)
    assert code == 1 and "no video with this partition key" in err
