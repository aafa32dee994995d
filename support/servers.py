"""Real Postgres and Redis servers for tests, on 127.0.0.1 and free ports, with their data in a temp folder.

Missing servers are installed from Debian's packages (apt-get, through sudo when not root). Postgres
refuses to run as root, so as root initdb and the server run as the `postgres` system user (the
package creates it) in a folder that user owns. Every process started here is stopped by its
process id, also when a test fails (use the servers as context managers).
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

APT_LOCK_WAIT_S = 300  # another apt run (unattended upgrades, a parallel job) holds the lock


class ServerError(RuntimeError):
    pass


def free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def apt_install(*packages: str) -> None:
    """Installs Debian packages; through sudo (never prompting) when not root."""
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    lock = ["-o", f"DPkg::Lock::Timeout={APT_LOCK_WAIT_S}"]
    steps = [[*sudo, "apt-get", *lock, "update", "-qq"], [*sudo, "apt-get", *lock, "install", "-y", "-qq", *packages]]
    for cmd in steps:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=APT_LOCK_WAIT_S + 300)
        if proc.returncode:
            raise ServerError(f"`{' '.join(cmd)}` failed ({proc.returncode}): {proc.stderr[-2000:]}")


def postgres_bin_dir() -> Path | None:
    """The newest installed server's bin folder (Debian keeps them in /usr/lib/postgresql/<version>/bin)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(Path(p).parts[4]))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("postgres")
    return Path(on_path).resolve().parent if on_path else None


def ensure_postgres() -> Path:
    if postgres_bin_dir() is None:
        apt_install("postgresql")
    found = postgres_bin_dir()
    if found is None:
        raise ServerError("postgresql was installed but no postgres binary was found under /usr/lib/postgresql")
    return found


def ensure_redis() -> Path:
    if shutil.which("redis-server") is None:
        apt_install("redis-server")
    found = shutil.which("redis-server")
    if found is None:
        raise ServerError("redis-server was installed but is not on PATH")
    return Path(found)


def stop_process(process: subprocess.Popen, sig: int = signal.SIGTERM, timeout_s: float = 30) -> None:
    """Sends `sig` to the process by its id, then SIGKILL if it has not exited within the timeout."""
    if process.poll() is not None:
        return
    try:
        os.kill(process.pid, sig)
        process.wait(timeout=timeout_s)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout_s)


def wait_until(
    predicate, timeout_s: float, what: str, process: subprocess.Popen | None = None, log: Path | None = None
):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        if process is not None and process.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            raise ServerError(f"{what}: the process exited with {process.returncode}\n{tail}")
        time.sleep(0.1)
    raise ServerError(f"timed out after {timeout_s} s waiting for {what}")


@dataclass
class _Server:
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="video-timeline-server-")))
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)

    @property
    def log(self) -> Path:
        return self.root / "server.log"


@dataclass
class PostgresServer(_Server):
    """`postgres` on 127.0.0.1:<port>, password authentication, database `dagster` owned by user `dagster`."""

    user: str = "dagster"
    password: str = field(default_factory=lambda: secrets.token_hex(8))
    db_name: str = "dagster"

    def _account(self) -> pwd.struct_passwd | None:
        """Whom the server runs as: the `postgres` system user when we are root, else ourselves."""
        return pwd.getpwnam("postgres") if os.geteuid() == 0 else None

    def _as_owner(self) -> dict:
        account = self._account()
        if account is None:
            return {}
        return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}

    @property
    def data(self) -> Path:
        return self.root / "data"

    def start(self) -> None:
        bin_dir = ensure_postgres()
        if not self.data.exists():
            account = self._account()
            password_file = self.root / "password"
            password_file.write_text(self.password + "\n")
            if account is not None:
                for path in (self.root, password_file):
                    os.chown(path, account.pw_uid, account.pw_gid)
            init = subprocess.run(
                [str(bin_dir / "initdb"), "-D", str(self.data), "-U", self.user, f"--pwfile={password_file}",
                 "--auth=scram-sha-256", "--encoding=UTF8", "--locale=C", "--no-sync"],
                capture_output=True, text=True, timeout=120, cwd=self.root, **self._as_owner(),
            )  # fmt: skip
            password_file.unlink()
            if init.returncode:
                raise ServerError(f"initdb failed: {init.stderr[-2000:]}")
            first_start = True
        else:
            first_start = False
        with open(self.log, "ab") as log:
            # Test settings: no fsync (nothing here must survive a machine crash), a socket only on loopback.
            self.process = subprocess.Popen(
                [str(bin_dir / "postgres"), "-D", str(self.data), "-p", str(self.port),
                 "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.root}",
                 "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                 "-c", "max_connections=300"],
                stdout=log, stderr=subprocess.STDOUT, cwd=self.root, **self._as_owner(),
            )  # fmt: skip
        wait_until(self._accepts_connections, 60, "postgres to accept connections", self.process, self.log)
        if first_start:
            self._execute(f'CREATE DATABASE "{self.db_name}"', db="postgres")

    def _connect(self, db: str):
        import psycopg2

        return psycopg2.connect(
            host="127.0.0.1", port=self.port, user=self.user, password=self.password, dbname=db, connect_timeout=2
        )

    def _accepts_connections(self) -> bool:
        try:
            self._connect("postgres").close()
            return True
        except Exception:
            return False

    def _execute(self, sql: str, db: str | None = None) -> None:
        conn = self._connect(db or self.db_name)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(sql)
        finally:
            conn.close()

    def stop(self, mode: int = signal.SIGINT) -> None:
        """SIGINT: Postgres's fast shutdown (clients are disconnected, no recovery needed at the next start)."""
        if self.process is not None:
            stop_process(self.process, mode)

    def restart(self, pause_s: float = 0.0) -> float:
        """A fast shutdown, `pause_s` down, and a start on the same port and data; returns the seconds it was down."""
        went_down = time.monotonic()
        self.stop()
        time.sleep(pause_s)
        self.start()
        return time.monotonic() - went_down

    def env(self) -> dict[str, str]:
        """What deploy/celery/dagster.yaml reads."""
        return {
            "DAGSTER_PG_HOST": "127.0.0.1",
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_DB": self.db_name,
            "DAGSTER_PG_USER": self.user,
            "DAGSTER_PG_PASSWORD": self.password,
        }


@dataclass
class RedisServer(_Server):
    """`redis-server` on 127.0.0.1:<port>, in memory only (no snapshots, no append-only file)."""

    def start(self) -> None:
        exe = ensure_redis()
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [str(exe), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.root),
                 "--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes"],
                stdout=log, stderr=subprocess.STDOUT, cwd=self.root,
            )  # fmt: skip
        wait_until(lambda: port_open(self.port), 30, "redis-server to listen", self.process, self.log)

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"
