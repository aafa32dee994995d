"""The `video-timeline` command keeps the cyclic garbage collector off what it loads at start-up, and only that:
after a command's imports the collector runs again; `main` called in-process leaves the caller's settings."""

import gc

import pytest

from video_assets import cli


@pytest.fixture
def collector():
    """The test process's collector settings, restored afterwards (console_main freezes what exists)."""
    enabled, frozen = gc.isenabled(), gc.get_freeze_count()
    yield frozen
    gc.unfreeze()
    (gc.enable if enabled else gc.disable)()


def test_the_command_collects_again_after_start_up_and_never_scans_what_it_loaded(
    instance_home, tmp_path, monkeypatch, collector
):
    seen = {}
    monkeypatch.setattr(cli, "_start_up_done", _recording(cli._start_up_done, seen))
    monkeypatch.setattr("sys.argv", ["video-timeline", "analyze", str(tmp_path / "missing.mp4")])
    assert cli.console_main() == 1  # the file is missing: reported, after the start-up
    assert seen["before"] is False  # off while the definitions loaded
    assert seen["after"] is True  # on again for the work
    assert seen["frozen_after"] > collector  # and what was loaded is out of its scans
    assert gc.isenabled()


def test_main_in_process_leaves_the_callers_collector_as_it_was(instance_home, tmp_path, collector):
    assert cli.main(["analyze", str(tmp_path / "missing.mp4")]) == 1
    assert gc.isenabled() and gc.get_freeze_count() == collector


def _recording(start_up_done, seen):
    def wrapped():
        seen["before"] = gc.isenabled()
        start_up_done()
        seen["after"], seen["frozen_after"] = gc.isenabled(), gc.get_freeze_count()

    return wrapped
