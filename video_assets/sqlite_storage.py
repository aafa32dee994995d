"""The local instance's SQLite storage, with the per-event cost taken out.

Dagster's SQLite storages open a new SQLAlchemy engine and connection for every statement block and
close it again (`NullPool`): a run of the default graph stores ~150 events and reads ~600 times from
the index database, so a run paid ~770 engine set-ups, connects and closes, and every commit waited
for an fsync (journal_mode=WAL with SQLite's default synchronous=FULL). These subclasses keep the
same files, tables and layout under the instance folder (history/runs.db, history/runs/<run>.db and
history/runs/index.db, schedules/schedules.db), so an existing instance keeps its history, and change
only how they connect:

- one engine per database file per process, its connection kept open between statements (at most
  `OPEN_DATABASES` event-log databases per process: the oldest is closed when another is opened);
  a forked process opens its own and never touches its parent's;
- WAL journal (as Dagster already sets) with synchronous=NORMAL: a commit no longer waits for the disk.
  In WAL mode that keeps the database consistent after a crash of the process or the machine; a power
  cut may lose the last commits, never corrupt the file;
- writers in other processes (the daemon, the web server, several `video-timeline analyze`) wait for
  the write lock up to Dagster's busy timeout, as before;
- a new run's database is a copy of an empty one Dagster made (`history/runs/.new-run-<dagster version>`,
  made once per instance and Dagster release), and a database Dagster set up before is opened as it is:
  Dagster creates each run's tables and stamps their migration revision through alembic, which reads its
  89 migration scripts every time (0.11 s of every run before its first step), and reads them again
  for every database it opens only to find that revision there (0.05 s of every command).

With its connection open, a run's database takes new events in its WAL file (`<run>.db-wal`) and is
only checkpointed into `<run>.db` from time to time; Dagster's file watcher (the UI's live run log)
watches `<run>.db`, so `watch` also reacts to the WAL file.

dagster.yaml selects them with `base_dir: {env: DAGSTER_HOME}`: the instance folder.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import closing, contextmanager

import sqlalchemy as db
from dagster import StringSource
from dagster.version import __version__ as DAGSTER_VERSION
from sqlalchemy.pool import QueuePool
from watchdog.events import PatternMatchingEventHandler

from video_assets.dagster_private import (
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
    SqliteEventLogStorageWatchdog,
    SqliteRunStorage,
    SqliteScheduleStorage,
    create_db_conn_string,
)

INDEX_SHARD = "index"  # Dagster's name of the index database (history/runs/index.db)
OPEN_DATABASES = 8  # event-log databases (the index and recent runs) a process keeps open


def _engine(url: str) -> db.engine.Engine:
    """An engine whose one pooled connection stays open; more are opened (and closed) only when threads
    use the database at the same time."""
    engine = db.create_engine(
        url,
        poolclass=QueuePool,
        pool_size=1,
        max_overflow=-1,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
    )

    @db.event.listens_for(engine, "connect")
    def _fast_commits(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        # WAL before anything is written: a new run's database is then created in WAL mode too (Dagster sets
        # it after creating its tables, each CREATE in a journal transaction of its own: 0.35 s a run).
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return engine


class _Engines:
    """Engines by database URL for this process, the least recently used closed beyond `limit`."""

    def __init__(self, limit: int):
        self._limit = limit
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._engines: OrderedDict[str, db.engine.Engine] = OrderedDict()

    def get(self, url: str) -> db.engine.Engine:
        with self._lock:
            if self._pid != os.getpid():  # a forked child: its parent's connections are not its own
                self._pid, self._engines = os.getpid(), OrderedDict()
            engine = self._engines.pop(url, None) or _engine(url)
            self._engines[url] = engine
            while len(self._engines) > self._limit:
                self._engines.popitem(last=False)[1].dispose()
            return engine

    def dispose(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                for engine in self._engines.values():
                    engine.dispose()
            self._engines = OrderedDict()


def _runs_directory(home: str) -> str:
    return os.path.join(home, "history")


def _event_logs_directory(home: str) -> str:
    return os.path.join(home, "history", "runs")


def _schedules_directory(home: str) -> str:
    return os.path.join(home, "schedules")


@contextmanager
def _transaction(engine: db.engine.Engine) -> Iterator[db.engine.Connection]:
    with engine.connect() as conn, conn.begin():
        yield conn


def _stamped(path: str, tables: tuple[str, ...] = ()) -> bool:
    """Whether the SQLite file at `path` exists, has its alembic revision stamped and these tables: Dagster's
    set-up of a database, which does nothing more to one that has (`SqliteEventLogStorage._initdb`,
    `SqliteRunStorage.from_local`, `SqliteScheduleStorage.from_local`)."""
    if not os.path.exists(path):
        return False
    try:
        with closing(sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT_SECONDS)) as conn:
            named = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            stamped = "alembic_version" in named and conn.execute("SELECT count(*) FROM alembic_version").fetchone()
            return bool(stamped and stamped[0] == 1) and named.issuperset(tables)
    except sqlite3.Error:
        return False


class _WalModified(PatternMatchingEventHandler):
    """Hands changes of a run's WAL file to Dagster's watcher of that run's database."""

    def __init__(self, watcher: SqliteEventLogStorageWatchdog, wal_path: str):
        super().__init__(patterns=[wal_path])
        self._watcher = watcher

    def on_modified(self, event) -> None:
        self._watcher._process_log()


class SqliteWalEventLogStorage(SqliteEventLogStorage):
    """Dagster's run-sharded SQLite event log (history/runs/), connections kept open, synchronous=NORMAL."""

    def __init__(self, base_dir: str, inst_data=None):
        self._home = base_dir
        self._engines = _Engines(OPEN_DATABASES)
        self._wal_watches: dict[tuple[str, object], tuple[_WalModified, object]] = {}
        self._tables: set[str] = set()
        super().__init__(_event_logs_directory(base_dir), inst_data=inst_data)

    @classmethod
    def config_type(cls):
        return {"base_dir": StringSource}

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls(inst_data=inst_data, **config_value)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[db.engine.Connection]:
        with self._db_lock:
            if shard not in self._initialized_dbs and self._set_up_without_alembic(shard):
                self._initialized_dbs.add(shard)
            engine = self._engines.get(self.conn_string_for_shard(shard))
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with _transaction(engine) as conn:
                yield conn

    def _set_up_without_alembic(self, shard: str) -> bool:
        """Whether the shard's database is ready without Dagster's set-up: it has its revision stamped (Dagster
        would only read its migration scripts to find that out), or it is a run's database that did not exist
        and is now a copy of the empty one (see the module's docstring). False: Dagster's set-up runs."""
        path = self.path_for_shard(shard)
        if os.path.exists(path):
            return _stamped(path)
        if shard == INDEX_SHARD:
            return False
        template = os.path.join(self._base_dir, f".new-run-{DAGSTER_VERSION}")
        try:
            if not _stamped(template):
                self._make_new_run_template(template)
            copy = f"{path}.{uuid.uuid4().hex}.tmp"
            shutil.copyfile(template, copy)
            try:
                os.link(copy, path)  # never over a database another process created meanwhile
            finally:
                os.unlink(copy)
        except OSError:
            return False
        return True

    def _make_new_run_template(self, template: str) -> None:
        made = f"{template}.{uuid.uuid4().hex}.tmp"
        engine = _engine(f"sqlite:///{made}")
        try:
            self._initdb(engine)
            with engine.connect() as conn:  # one file without WAL beside it; each copy turns WAL on when opened
                conn.exec_driver_sql("PRAGMA journal_mode=DELETE")
        finally:
            engine.dispose()
        os.replace(made, template)

    def has_table(self, table_name: str) -> bool:
        """Whether the index database has this table (asked before many statements: once per process is enough,
        tables are never dropped). Asked while a statement block holds the storage's lock (as Dagster's own
        has_table is): so it takes neither that lock nor the block's connection."""
        if table_name not in self._tables:
            engine = self._engines.get(self.conn_string_for_shard(INDEX_SHARD))
            with engine.connect() as conn:
                if conn.dialect.has_table(conn, table_name):
                    self._tables.add(table_name)
        return table_name in self._tables

    def watch(self, run_id, cursor, callback) -> None:
        super().watch(run_id, cursor, callback)
        watcher, _ = self._watchers[run_id][callback]
        wal = _WalModified(watcher, self.path_for_shard(run_id) + "-wal")
        self._wal_watches[(run_id, callback)] = (wal, self._obs.schedule(wal, self._base_dir, recursive=True))

    def end_watch(self, run_id, handler) -> None:
        super().end_watch(run_id, handler)
        if (run_id, handler) in self._wal_watches:
            self._obs.remove_handler_for_watch(*self._wal_watches.pop((run_id, handler)))

    def dispose(self) -> None:
        super().dispose()
        self._engines.dispose()


class _OneKeptConnection:
    """Dagster's SQLite run or schedule storage (one database each) with its connection kept open,
    synchronous=NORMAL; `_directory` maps the instance folder to the storage's own, `_database` names its file
    and `_set_up_tables` the tables Dagster's set-up adds beside its own. A database set up before is opened
    without that set-up, which reads alembic's migration scripts only to find it has nothing to do."""

    _directory: staticmethod
    _database: str
    _set_up_tables: tuple[str, ...] = ()

    def __init__(self, conn_string: str, inst_data=None):
        self._engines = _Engines(1)
        super().__init__(conn_string, inst_data=inst_data)

    @classmethod
    def config_type(cls):
        return {"base_dir": StringSource}

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        directory = cls._directory(config_value["base_dir"])
        if _stamped(os.path.join(directory, f"{cls._database}.db"), cls._set_up_tables):
            return cls(create_db_conn_string(directory, cls._database), inst_data=inst_data)
        return cls.from_local(directory, inst_data=inst_data)

    @contextmanager
    def connect(self) -> Iterator[db.engine.Connection]:
        with _transaction(self._engines.get(self._conn_string)) as conn:
            yield conn

    def dispose(self) -> None:
        super().dispose()
        self._engines.dispose()


class SqliteWalRunStorage(_OneKeptConnection, SqliteRunStorage):
    """Dagster's SQLite run storage (history/runs.db), its connection kept open, synchronous=NORMAL."""

    _directory = staticmethod(_runs_directory)
    _database = "runs"
    _set_up_tables = ("instance_info",)


class SqliteWalScheduleStorage(_OneKeptConnection, SqliteScheduleStorage):
    """Dagster's SQLite schedule storage (schedules/schedules.db), its connection kept open, synchronous=NORMAL."""

    _directory = staticmethod(_schedules_directory)
    _database = "schedules"
