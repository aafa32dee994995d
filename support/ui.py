"""A running `video-timeline ui` for tests and scripts: start it in its own process group, talk GraphQL to
it, stop the whole group."""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from support.instance import PROJECT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def default_signals() -> None:
    # A parent that ignores SIGINT/SIGTERM passes that on to its children; the server must obey them.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, set())


def graphql(port: int, query: str, variables: dict | None = None, timeout: float = 30) -> dict:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        answer = json.loads(response.read())
    if answer.get("errors"):
        raise RuntimeError(f"GraphQL errors: {answer['errors']}")
    return answer["data"]


REPOSITORIES = "{ repositoriesOrError { ... on RepositoryConnection { nodes { name location { name } } } } }"


@contextlib.contextmanager
def running_ui(env: dict[str, str], port: int, log_path: Path, ready_timeout: float = 240, preexec=None):
    """`video-timeline ui` (dagster dev: webserver + daemon) in its own process group; yields the code location
    and the `video-timeline ui` process. `preexec` (default: default signal handling) runs in the child.

    Stopped with SIGTERM to the whole group, then SIGKILL for whatever is left.
    """
    log = open(log_path, "wb")  # noqa: SIM115 - the server writes to it until it stops
    server = subprocess.Popen(
        [sys.executable, "-m", "video_assets.cli", "ui", "--port", str(port)],
        cwd=PROJECT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        preexec_fn=preexec or default_signals, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"the UI exited with {server.returncode}: {log_path.read_text()[-3000:]}")
            try:
                nodes = graphql(port, REPOSITORIES, timeout=5)["repositoriesOrError"]["nodes"]
                if nodes:
                    yield (
                        {"repositoryLocationName": nodes[0]["location"]["name"], "repositoryName": nodes[0]["name"]},
                        server,
                    )
                    break
            except OSError:
                pass  # not listening yet
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"the UI did not load the code location in {ready_timeout} s: {log_path.read_text()[-3000:]}"
                )
            time.sleep(1)
    finally:
        stop_group(server)
        log.close()


def stop_group(process: subprocess.Popen, grace: float = 20) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(grace)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # children that outlived the leader, too
    process.wait(10)


def listening_addresses(port: int) -> set[str]:
    """IPv4/IPv6 addresses with a socket listening on `port` (from /proc/net/tcp*)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError), open(table) as f:
            for line in f.readlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                address, hex_port = local.split(":")
                if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                    found.add(_decode_address(address))
    return found


def _decode_address(hex_address: str) -> str:
    raw = bytes.fromhex(hex_address)
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw[::-1])
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    return socket.inet_ntop(socket.AF_INET6, words)
