"""The local instance's storage (video_assets/sqlite_storage.py, selected by dagster_home/dagster.yaml): several
processes writing at once lose nothing, a watcher in another process (the UI's live run log) sees events as they
are written, connections stay open, and an instance written by Dagster's default storage keeps its history."""

import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
import uuid

from dagster import AssetKey, AssetMaterialization, AssetRecordsFilter, DagsterInstance, DagsterRun

from support.instance import PROJECT

WRITER = """
import sys
from dagster import AssetMaterialization, DagsterInstance
run_id, count, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with DagsterInstance.get() as instance:
    run = instance.get_run_by_id(run_id)
    for i in range(count):
        instance.report_engine_event(f"{name} {i}", run)
        instance.report_runless_asset_event(AssetMaterialization(asset_key=name, partition=str(i)))
    sys.stdin.read()  # still running, its connections open, until told to stop
"""


def _home(tmp_path, config: str | None = None):
    home = tmp_path / "home"
    home.mkdir(parents=True, exist_ok=True)
    if config is None:
        shutil.copy(PROJECT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    else:
        (home / "dagster.yaml").write_text(config)
    return home


def _new_run(instance: DagsterInstance) -> DagsterRun:
    return instance.add_run(DagsterRun(job_name="writer", run_id=str(uuid.uuid4())))


def test_processes_writing_at_once_lose_nothing_and_a_watcher_sees_their_events_live(tmp_path, monkeypatch):
    home = _home(tmp_path)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    count, names = 40, ["alpha", "beta", "gamma"]
    with DagsterInstance.get() as instance:
        assert type(instance.event_log_storage).__name__ == "SqliteWalEventLogStorage"
        runs = {name: _new_run(instance) for name in names}
        seen: list[str] = []

        def watcher(entry, _cursor):
            seen.append(entry.message)

        instance.watch_event_logs(runs["alpha"].run_id, None, watcher)
        writers = [
            subprocess.Popen(
                [sys.executable, "-c", WRITER, runs[name].run_id, str(count), name], cwd=PROJECT, stdin=subprocess.PIPE
            )
            for name in names
        ]
        # Writing through one kept connection: opening a connection per statement would show here.
        connects = []
        real_connect = sqlite3.connect
        monkeypatch.setattr(sqlite3, "connect", lambda *a, **k: connects.append(a) or real_connect(*a, **k))
        for i in range(count):
            instance.report_runless_asset_event(AssetMaterialization(asset_key="main", partition=str(i)))
        monkeypatch.setattr(sqlite3, "connect", real_connect)
        assert len(connects) <= 1
        # The watcher sees the events while their writer still runs with its connection open (events sit in
        # the run's WAL file, not yet in its database file).
        deadline = time.monotonic() + 60
        while len([m for m in seen if m.startswith("alpha")]) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        assert writers[0].poll() is None
        assert [m for m in seen if m.startswith("alpha")] == [f"alpha {i}" for i in range(count)]
        for writer in writers:
            writer.stdin.close()
        assert all(w.wait(timeout=120) == 0 for w in writers)
        instance.end_watch_event_logs(runs["alpha"].run_id, watcher)

    with DagsterInstance.get() as reader:  # a fresh process's view: everything committed
        for name in names:
            logged = [e.message for e in reader.all_logs(runs[name].run_id) if e.message.startswith(name)]
            assert logged == [f"{name} {i}" for i in range(count)]
        for name in [*names, "main"]:
            stored = reader.fetch_materializations(AssetRecordsFilter(AssetKey(name)), limit=1000).records
            assert sorted(int(r.partition_key) for r in stored) == list(range(count))
    for db in [home / "history" / "runs.db", *sorted((home / "history" / "runs").glob("*.db"))]:
        with sqlite3.connect(db) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_an_instance_written_by_dagsters_default_storage_keeps_its_history(tmp_path, monkeypatch):
    home = _home(tmp_path, config="telemetry:\n  enabled: false\n")  # Dagster's own SQLite storage
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with DagsterInstance.get() as before:
        run = _new_run(before)
        before.report_engine_event("written before", run)
        before.report_runless_asset_event(AssetMaterialization(asset_key="old", partition="0"))
    shutil.copy(PROJECT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    with DagsterInstance.get() as after:
        assert type(after.run_storage).__name__ == "SqliteWalRunStorage"
        assert after.get_run_by_id(run.run_id).job_name == "writer"
        assert "written before" in [e.message for e in after.all_logs(run.run_id)]
        after.report_engine_event("written after", run)
        assert [r.partition_key for r in after.fetch_materializations(AssetKey("old"), limit=5).records] == ["0"]
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with DagsterInstance.get() as back:  # and Dagster's default storage reads what ours wrote
        assert [e.message for e in back.all_logs(run.run_id) if "written" in e.message] == [
            "written before",
            "written after",
        ]


def test_an_asset_event_with_tags_is_stored_while_the_storage_holds_its_lock(tmp_path, monkeypatch):
    """Storing an asset event asks whether the tags table exists while its statement block holds the storage's
    lock; answering that through the same lock would hang every run at its first materialization."""
    monkeypatch.setenv("DAGSTER_HOME", str(_home(tmp_path)))
    with DagsterInstance.get() as instance:
        stored = threading.Event()

        def store() -> None:
            for i in range(2):  # the second asks the remembered answer
                event = AssetMaterialization(asset_key="tagged", partition=str(i), tags={"dagster/data_version": "v1"})
                instance.report_runless_asset_event(event)
            stored.set()

        threading.Thread(target=store, daemon=True).start()
        assert stored.wait(timeout=60)
        records = instance.fetch_materializations(AssetRecordsFilter(AssetKey("tagged")), limit=5).records
        assert sorted(r.partition_key for r in records) == ["0", "1"]
        assert {r.asset_materialization.tags["dagster/data_version"] for r in records} == {"v1"}


def _schema(db) -> tuple[list, list]:
    with sqlite3.connect(db) as conn:
        tables = sorted(conn.execute("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"))
        return tables, conn.execute("SELECT version_num FROM alembic_version").fetchall()


def test_databases_are_dagsters_own_set_up_without_reading_the_migration_scripts_again(tmp_path, monkeypatch):
    """Dagster sets up each run's database by reading 89 alembic migration scripts (0.11 s a run), and reads
    them again for every database it opens; ours copies an empty run database it made once, and opens a
    database set up before as it is. The copy must be what Dagster makes, a damaged copy source is made again,
    and where the file system cannot link the copy into place Dagster's own set-up makes the database."""
    from alembic.script import ScriptDirectory

    dagsters = _home(tmp_path / "dagster", config="telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(dagsters))
    with DagsterInstance.get() as instance:
        reference = _new_run(instance)
        instance.report_engine_event("first", reference)
    expected = _schema(dagsters / "history" / "runs" / f"{reference.run_id}.db")

    home = _home(tmp_path / "ours")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    runs = home / "history" / "runs"
    with DagsterInstance.get() as instance:
        first = _new_run(instance)
        instance.report_engine_event("first", first)
    template = next(runs.glob(".new-run-*"))

    reads = []
    real_from_config = ScriptDirectory.from_config.__func__
    monkeypatch.setattr(
        ScriptDirectory, "from_config", classmethod(lambda cls, *a: reads.append(a) or real_from_config(cls, *a))
    )
    with DagsterInstance.get() as instance:  # a new process's storages: runs, schedules, index and a new run
        assert instance.schedule_storage.all_instigator_state() == []
        second = _new_run(instance)
        instance.report_engine_event("second", second)
        assert [e.message for e in instance.all_logs(second.run_id) if e.message == "second"] == ["second"]
        assert sorted(instance.event_log_storage.get_all_run_ids()) == sorted([first.run_id, second.run_id])
    assert reads == []
    for run in (first, second):
        assert _schema(runs / f"{run.run_id}.db") == expected

    template.write_bytes(b"not a database")
    with DagsterInstance.get() as instance:
        third = _new_run(instance)
        instance.report_engine_event("third", third)
        assert "third" in [e.message for e in instance.all_logs(third.run_id)]
    assert _schema(runs / f"{third.run_id}.db") == expected
    assert _schema(template) == expected
    assert sorted(p.name for p in runs.iterdir() if p.name.startswith(".")) == [template.name]

    def no_hard_links(*_args):  # a file system without them (some network and FAT file systems)
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_hard_links)
    with DagsterInstance.get() as instance:  # Dagster's own set-up makes the run's database then
        fourth = _new_run(instance)
        instance.report_engine_event("fourth", fourth)
        assert "fourth" in [e.message for e in instance.all_logs(fourth.run_id)]
    assert _schema(runs / f"{fourth.run_id}.db") == expected
    assert sorted(p.name for p in runs.iterdir() if p.name.startswith(".")) == [template.name]
