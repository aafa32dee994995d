"""`video-timeline`: analyse files through the Dagster graph on the local instance, show timelines, open the UI."""

import argparse
import contextlib
import errno
import gc
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

FORMATS = ("table", "csv", "json")  # video_assets.table_view.FORMATS (not imported: it pulls pandas at start-up)


def _use_local_instance() -> Path:
    """The instance the UI shows too: $DAGSTER_HOME, else the project's dagster_home/."""
    from resources.storage import PROJECT_ROOT  # imports Dagster: here, not at the top, for console_main

    home = Path(os.environ.setdefault("DAGSTER_HOME", str(PROJECT_ROOT / "dagster_home"))).resolve()
    if not (home / "dagster.yaml").is_file():
        sys.exit(f"video-timeline: {home}/dagster.yaml not found; set DAGSTER_HOME to a folder holding one")
    return home


def _start_up_done() -> None:
    """After a command's imports: collect again, never scanning what was loaded (see `console_main`)."""
    if not gc.isenabled():  # disabled by console_main; in-process callers (the tests) keep their own settings
        gc.freeze()
        gc.enable()


def _write_atomically(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def analyze(files: list[str], output: str | None, force: bool = False) -> int:
    _use_local_instance()
    import pyarrow.parquet as pq

    from video_assets.definitions import defs
    from video_assets.gpu_slots import free_dead_gpu_slots, open_local_instance
    from video_assets.runs import (
        analysis_is_current,
        recorded_score,
        recorded_score_metadata,
        register_video,
        run_partition,
    )

    _start_up_done()

    if output and len(files) > 1:
        sys.exit("video-timeline: --output takes one input file")
    storage = defs.resources["storage"]
    failed, unchanged, warm_up = [], 0, None
    with open_local_instance() as instance:
        # No daemon runs here: free the gpu slots of runs killed earlier before running.
        for holder in free_dead_gpu_slots(instance):
            print(f"freed the gpu pool slot of run {holder.run_id}, whose process is gone", file=sys.stderr)
        for name in files:
            path = Path(name)
            if not path.is_file():
                problem = "a folder, not a video file (give the files in it)" if path.is_dir() else "no such file"
                print(f"error: {path}: {problem}", file=sys.stderr)
                failed.append(path)
                continue
            started = time.perf_counter()
            key = register_video(defs, instance, path)
            table_path = storage.asset_path("timeline", key)
            if not force and analysis_is_current(defs, instance, key):
                seconds = pq.ParquetFile(table_path).metadata.num_rows
                print(
                    f"{path}: unchanged since its last analysis ({seconds} seconds, partition {key}), "
                    f"stored reconstruction score {recorded_score(instance, key):.3f}; --force analyses it again"
                )
                unchanged += 1
            else:
                if warm_up is None:  # the frame models load on the second core while the first steps decode
                    warm_up = _warm_up_models(defs)
                print(f"analysing {path} as partition {key} ...", flush=True)
                run = run_partition(defs, instance, key)
                if not run.success:
                    print(f"error: {run.failure}; run {run.run_id}", file=sys.stderr)
                    failed.append(path)
                    continue
                seconds = pq.ParquetFile(table_path).metadata.num_rows
                # The score the reconstruction_score check recorded: the number the UI shows.
                score = recorded_score(instance, key)
                took = time.perf_counter() - started
                print(f"{path}: {seconds} seconds in {took:.1f} s, reconstruction score {score:.3f}")
                recorded = recorded_score_metadata(instance, key)
                print(f"  coverage {recorded['coverage']:.3f}; below 1: {recorded['below_1']}")
            print(f"timeline: {table_path}")
            if output:
                _write_atomically(table_path, Path(output))
                print(f"written: {output}")
    if len(files) > 1:  # a long batch's outcome in one line, the failed files named again
        analysed = len(files) - len(failed) - unchanged
        print(f"{len(files)} files: {analysed} analysed, {unchanged} unchanged, {len(failed)} failed", end="")
        print(f" ({', '.join(map(str, failed))}: see the error lines)" if failed else "")
    return 1 if failed else 0


def _warm_up_models(defs):
    from dagster import AssetKey

    from analyzers import object_detector, persons, warm_up

    graph = defs.resolve_asset_graph()
    keys = graph.get_all_asset_keys()

    def model_of(name: str) -> str | None:  # the `model` an asset's definition names (events.model_metadata)
        key = AssetKey(name)
        return str(graph.get(key).metadata.get("model")) if key in keys else None

    detector = model_of("objects")
    return warm_up.start(
        ocr=AssetKey("screen_text") in keys,
        faces=AssetKey("faces") in keys,
        objects=detector if detector in object_detector.DETECTORS else None,
        persons=model_of("persons") == persons.DEFAULT_EMBEDDER,
        sound=AssetKey("audio") in keys,
    )


@contextlib.contextmanager
def _located(target: str):
    """(instance, storage, key) of a file or partition key on the local instance; exits naming the problem."""
    _use_local_instance()
    from resources.storage import TimelineStorage
    from video_assets.catalog import VideoNotFound, resolve_key
    from video_assets.gpu_slots import open_local_instance

    storage = TimelineStorage()  # the code location's data root, without loading its models (seconds of imports)
    with open_local_instance() as instance:
        try:
            key = resolve_key(target, instance, storage)
        except VideoNotFound as exc:
            sys.exit(f"video-timeline: {exc}")
        yield instance, storage, key


def _stored_timeline(target: str):
    """(storage, key, timeline path) or exit saying why there is no timeline (a failed run: its reason)."""
    from video_assets.catalog import video_state, why_no_timeline

    with _located(target) as (instance, storage, key):
        state = video_state(instance, storage, key)
    path = storage.asset_path("timeline", key)
    if not path.is_file():
        sys.exit(f"video-timeline: {why_no_timeline(state, target)}")
    if state.state == "failed":
        print(
            f"note: the latest analysis failed ({state.reason}); this is the timeline of an earlier run",
            file=sys.stderr,
        )
    return storage, key, path


def show(target: str, rows: int | None, fmt: str = "table", columns: str | None = None) -> int:
    import pandas as pd

    from video_assets import table_view

    _, _, path = _stored_timeline(target)
    table = pd.read_parquet(path)
    try:
        chosen = table_view.choose_columns(table, columns)
    except ValueError as exc:
        sys.exit(f"video-timeline: --columns: {exc}")
    print(table_view.render(table.head(rows), chosen, fmt, table_view.terminal_width()))
    return 0


def report(target: str, output: str | None) -> int:
    """Renders the video's HTML report from its stored timeline and frames; prints where it is."""
    import pandas as pd

    from analyzers.report import render_report
    from analyzers.timeline import seconds_without_picture
    from resources.storage import UnknownVideoError
    from video_assets.definitions import defs
    from video_assets.names import VIDEO_QUALITY
    from video_assets.report import report_expected_aspects

    _start_up_done()
    storage, key, path = _stored_timeline(target)
    try:
        source = storage.source_path(key)
    except UnknownVideoError:
        source = None
    frames = storage.asset_path("sampled_frames", key)
    quality = storage.asset_path(VIDEO_QUALITY, key)
    timeline = pd.read_parquet(path)
    out = Path(output) if output else storage.report_path(key)
    summary = render_report(
        timeline,
        out,
        frames_path=frames if frames.is_file() else None,
        video_path=source,
        title=source.name if source else key,
        expected=report_expected_aspects(defs),
        without_picture=seconds_without_picture(pd.read_parquet(quality), len(timeline)) if quality.is_file() else (),
    )
    print(summary.path)
    return 0


def cuts(files: list[str], fmt: str) -> int:
    """The shot boundaries of each file, found without Dagster, the instance or pandas (analyzers.cut_list):
    a file's lines are printed as soon as it is done (JSON, one array, at the end); a long file's progress
    goes to stderr every few seconds."""
    import csv
    import json

    from analyzers.cut_list import find_cuts
    from analyzers.probe import MediaError

    _start_up_done()
    found, failures = [], 0  # found: the JSON array's entries
    writer = csv.writer(sys.stdout, lineterminator="\n")
    if fmt == "csv":
        writer.writerow(["file", "time_s", "kind", "confidence"])
    for name in files:
        try:
            cut_list = find_cuts(Path(name), progress=lambda line: print(line, file=sys.stderr, flush=True))
        except MediaError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failures += 1
            continue
        if cut_list.damage:
            print(f"warning: {cut_list.damage}", file=sys.stderr)
        boundaries = [(round(b.t, 3), b.kind, round(b.confidence, 3)) for b in cut_list.boundaries]
        if fmt == "table":
            print(f"{name}: {len(boundaries)} shot boundaries in {cut_list.duration_s:.2f} s")
            for t, kind, confidence in boundaries:
                print(f"  {t:10.3f} s  {kind:<11}  confidence {confidence:.2f}")
        elif fmt == "csv":
            writer.writerows((name, *b) for b in boundaries)
        else:
            keys = ("time_s", "kind", "confidence")
            entry = {
                "file": name,
                "duration_s": cut_list.duration_s,
                "boundaries": [dict(zip(keys, b)) for b in boundaries],
            }
            found.append(entry)
        sys.stdout.flush()
    if fmt == "json":
        print(json.dumps(found, ensure_ascii=False, indent=1))
    return 1 if failures else 0


def list_videos(fmt: str) -> int:
    """Every video of the instance: state, score, duration, source, last run."""
    import pandas as pd

    from resources.storage import TimelineStorage
    from video_assets import table_view
    from video_assets.catalog import video_states
    from video_assets.gpu_slots import open_local_instance

    _use_local_instance()
    with open_local_instance() as instance:
        states = video_states(instance, TimelineStorage())
    frame = pd.DataFrame(
        {
            "video": [v.key for v in states],
            "state": [v.state for v in states],
            "score": [v.score for v in states],
            "duration_s": [None if v.duration_s is None else round(v.duration_s, 1) for v in states],
            "last_run": [v.last_run.strftime("%Y-%m-%d %H:%M") if v.last_run else None for v in states],
            "source": [v.source for v in states],
            "reason": [v.reason for v in states],
        },
        columns=["video", "state", "score", "duration_s", "last_run", "source", "reason"],
    )
    if fmt == "table":
        frame = frame.drop(columns="reason")  # `show` says why; the table stays one line per video
    print(table_view.render(frame, list(frame.columns), fmt, table_view.terminal_width()))
    if fmt == "table":
        print(f"{len(states)} video(s)", file=sys.stderr)
    return 0


def forget_video(target: str) -> int:
    """Removes a video's partition and outputs; the source file is never touched."""
    from video_assets.catalog import forget

    with _located(target) as (instance, storage, key):
        try:
            removed = forget(instance, storage, key)
        except RuntimeError as exc:
            sys.exit(f"video-timeline: {exc}")
    print(f"forgot {key}: removed the partition and {len(removed)} output folder(s)/file(s) under {storage.root}")
    return 0


def backfill_stale(dry_run: bool) -> int:
    """Rebuilds, for every video, exactly the assets Dagster reports stale (e.g. after a model spec changed)."""
    _use_local_instance()
    from dagster import DagsterInstance

    from video_assets.backfill import backfill_plan
    from video_assets.backfill import backfill_stale as run_backfill
    from video_assets.definitions import defs

    _start_up_done()

    def announce(partition, keys):
        print(f"{partition}: {', '.join(k.to_user_string() for k in keys)}", flush=True)

    with DagsterInstance.get() as instance:
        stale, skipped = backfill_plan(defs.resolve_asset_graph(), instance)
        for partition, lacking in skipped.items():
            names = ", ".join(k.to_user_string() for k in lacking)
            print(f"skipped {partition}: its analysis never stored {names} (run `video-timeline analyze` on it)")
        if dry_run:
            for partition, keys in stale.items():
                announce(partition, keys)
            print(f"{len(stale)} video(s) with stale assets")
            return 0
        outcome = run_backfill(defs, instance, on_start=announce)
    failed = [p for p, ok in outcome.items() if not ok]
    print(
        f"rebuilt {len(outcome) - len(failed)} video(s), {len(failed)} failed"
        f"{': ' + ', '.join(failed) if failed else ''}"
    )
    return 1 if failed else 0


def _port_problem(host: str, port: int) -> str | None:
    """Why the web server could not listen on host:port (in use, no such address), or None when it can."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        return f"{host}: not an address of this machine ({exc.strerror})"
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the web server binds
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return f"port {port} on {host} is already in use (another `video-timeline ui`?); stop it or use --port"
            return f"cannot listen on {host}:{port}: {exc.strerror}"
    return None


def _child_signal_defaults() -> None:
    """In the `dagster dev` child: default signal handling, its own process group.

    A shell starts a background job with SIGINT ignored, and an ignored signal stays ignored across exec;
    `dagster dev` then copies SIGINT's handler onto SIGTERM, so it would ignore SIGTERM too. Its own group
    lets us signal it and its web server, daemon and code server together.
    """
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    os.setpgid(0, 0)


def _stop_group(pgid: int, grace: float = 15.0) -> None:
    """SIGTERM to what is left of the group, then SIGKILL for whatever outlives the grace period."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)


def ui(port: int, host: str) -> int:
    _use_local_instance()
    from resources.storage import PROJECT_ROOT

    _start_up_done()  # this process lives as long as the server
    problem = _port_problem(host, port)
    if problem:
        sys.exit(f"video-timeline: {problem}")
    cmd = [
        str(Path(sys.executable).with_name("dagster")),
        "dev",
        "-m",
        "video_assets.definitions",
        "-h",
        host,
        "-p",
        str(port),
    ]
    print(f"Dagster UI on http://{host}:{port} (instance {os.environ['DAGSTER_HOME']})", flush=True)
    server = subprocess.Popen(cmd, cwd=PROJECT_ROOT, preexec_fn=_child_signal_defaults)

    # Ctrl-C, `kill` or a closed terminal aimed at this process reaches the whole server: its group.
    def forward(signum, _frame):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGINT if signum == signal.SIGINT else signal.SIGTERM)

    handlers = {signal.SIGTERM: forward, signal.SIGHUP: forward, signal.SIGINT: forward}
    previous = {signum: signal.signal(signum, handler) for signum, handler in handlers.items()}
    try:
        return server.wait()
    finally:
        _stop_group(server.pid)  # a code server still shutting down when `dagster dev` itself has exited
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give a whole number of seconds, 1 or more")
    return int(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="video-timeline", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("analyze", help="register files as partitions and materialize the whole graph for each")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--output", metavar="PATH", help="also write the timeline Parquet here (one input file)")
    p.add_argument("--force", action="store_true", help="analyse again even when the file and the graph are unchanged")
    p = sub.add_parser("show", help="print a timeline (a table fitted to the terminal, CSV or JSON)")
    p.add_argument("target", metavar="FILE_OR_KEY")
    p.add_argument("--rows", type=_positive, default=None, help="only the first N seconds")
    p.add_argument("--format", choices=FORMATS, default="table", help="table (default), csv or json")
    p.add_argument("--columns", metavar="A,B,...", help="these timeline columns, in this order")
    p = sub.add_parser("report", help="write the video's HTML report (filmstrip, lanes, player) and print its path")
    p.add_argument("target", metavar="FILE_OR_KEY")
    p.add_argument("--output", metavar="PATH", help="write it here (default: beside the stored outputs)")
    p = sub.add_parser("cuts", help="print the shot boundaries of files (quick: no instance, no other analyzer)")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--format", choices=FORMATS, default="table", help="table (default), csv or json")
    p = sub.add_parser("list", help="the analysed videos: state, score, duration, last run, source")
    p.add_argument("--format", choices=FORMATS, default="table")
    p = sub.add_parser("forget", help="remove a video's partition and outputs (never the source file)")
    p.add_argument("target", metavar="FILE_OR_KEY")
    p = sub.add_parser(
        "backfill-stale", help="rebuild exactly the stale assets of every video (after a model or code change)"
    )
    p.add_argument("--dry-run", action="store_true", help="only list the stale assets per video")
    p = sub.add_parser("ui", help="start the Dagster UI (localhost by default)")
    p.add_argument("--port", type=int, default=3000)
    p.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except BrokenPipeError:  # `show ... | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _run(args) -> int:
    if args.command == "analyze":
        return analyze(args.files, args.output, args.force)
    if args.command == "show":
        return show(args.target, args.rows, args.format, args.columns)
    if args.command == "report":
        return report(args.target, args.output)
    if args.command == "cuts":
        return cuts(args.files, args.format)
    if args.command == "list":
        return list_videos(args.format)
    if args.command == "forget":
        return forget_video(args.target)
    if args.command == "backfill-stale":
        return backfill_stale(args.dry_run)
    return ui(args.port, args.host)


def console_main() -> int:
    """The `video-timeline` command: `main`, with the cyclic garbage collector kept off the objects that live
    from start-up to exit (Dagster, the definitions, the libraries: about a million). Collecting while they
    load, and once more over all of them at exit, cost 0.8 s of a 2 s `analyze` of an unchanged file. So this
    module imports nothing heavy at its top; `analyze`, `cuts`, `report`, `backfill-stale` and `ui` turn the
    collector back on after their imports (`_start_up_done`); `show`, `list` and `forget` end soon after theirs."""
    gc.disable()
    try:
        return main()
    finally:
        gc.freeze()


if __name__ == "__main__":
    sys.exit(console_main())
