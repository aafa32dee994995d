"""`video-timeline`: analyse files through the Dagster graph on the local instance, show timelines, open the UI."""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from resources.storage import PROJECT_ROOT

DEFAULT_HOME = PROJECT_ROOT / "dagster_home"


def _use_local_instance() -> Path:
    """The instance the UI shows too: $DAGSTER_HOME, else the project's dagster_home/."""
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(DEFAULT_HOME))).resolve()
    if not (home / "dagster.yaml").is_file():
        sys.exit(f"video-timeline: {home}/dagster.yaml not found; set DAGSTER_HOME to a folder holding one")
    return home


def _write_atomically(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def analyze(files: list[str], output: str | None) -> int:
    _use_local_instance()
    import pyarrow.parquet as pq

    from video_assets.definitions import defs
    from video_assets.gpu_slots import free_dead_gpu_slots, open_local_instance
    from video_assets.runs import recorded_score, recorded_score_metadata, register_video, run_partition

    if output and len(files) > 1:
        sys.exit("video-timeline: --output takes one input file")
    storage = defs.resources["storage"]
    failures = 0
    with open_local_instance() as instance:
        # No daemon runs here: free the gpu slots of runs killed earlier before running.
        for holder in free_dead_gpu_slots(instance):
            print(f"freed the gpu pool slot of run {holder.run_id}, whose process is gone", file=sys.stderr)
        for name in files:
            path = Path(name)
            if not path.is_file():
                problem = "a folder, not a video file (give the files in it)" if path.is_dir() else "no such file"
                print(f"error: {path}: {problem}", file=sys.stderr)
                failures += 1
                continue
            key = register_video(defs, instance, path)
            print(f"analysing {path} as partition {key} ...", flush=True)
            run = run_partition(defs, instance, key)
            if not run.success:
                print(f"error: {run.failure}; run {run.run_id}", file=sys.stderr)
                failures += 1
                continue
            table_path = storage.asset_path("timeline", run.key)
            seconds = pq.ParquetFile(table_path).metadata.num_rows
            # The score the reconstruction_score check recorded: the number the UI shows.
            score, recorded = recorded_score(instance, run.key), recorded_score_metadata(instance, run.key)
            print(f"{path}: {seconds} seconds in {run.seconds:.1f} s, reconstruction score {score:.3f}")
            print(f"  coverage {recorded['coverage']:.3f}; below 1: {recorded['below_1']}")
            print(f"timeline: {table_path}")
            if output:
                _write_atomically(table_path, Path(output))
                print(f"written: {output}")
    return 1 if failures else 0


def show(target: str, rows: int | None) -> int:
    import pandas as pd

    from analyzers.keys import partition_key
    from video_assets.definitions import defs

    storage = defs.resources["storage"]
    key = partition_key(target) if Path(target).exists() else target
    try:
        path = storage.asset_path("timeline", key)
    except ValueError as exc:  # neither an existing file nor a partition key
        sys.exit(f"video-timeline: {target}: no such file, and not a partition key ({exc})")
    if not path.is_file():
        sys.exit(
            f"video-timeline: no timeline for {target} (partition {key}); run `video-timeline analyze {target}` first"
        )
    table = pd.read_parquet(path)
    columns = [
        "second",
        "shot",
        "cut",
        "camera",
        "faces",
        "text",
        "speech",
        "loudness_db",
        "transcript",
        "score",
        "description",
    ]
    with pd.option_context("display.max_colwidth", 80, "display.width", 250, "display.max_rows", None):
        print(table[[c for c in columns if c in table]].head(rows).to_string(index=False))
    return 0


def backfill_stale(dry_run: bool) -> int:
    """Rebuilds, for every video, exactly the assets Dagster reports stale (e.g. after a model spec changed)."""
    _use_local_instance()
    from dagster import DagsterInstance

    from video_assets.backfill import backfill_stale as run_backfill
    from video_assets.backfill import stale_assets_by_partition
    from video_assets.definitions import defs

    def announce(partition, keys):
        print(f"{partition}: {', '.join(k.to_user_string() for k in keys)}", flush=True)

    with DagsterInstance.get() as instance:
        if dry_run:
            stale = stale_assets_by_partition(defs.resolve_asset_graph(), instance)
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


def ui(port: int, host: str) -> int:
    _use_local_instance()
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
    server = subprocess.Popen(cmd, cwd=PROJECT_ROOT)

    # `dagster dev` stops its webserver, daemon and code server on SIGTERM; a `kill` aimed at this process
    # alone must reach it, or they would outlive us. Ctrl-C already reaches the whole process group.
    def stop(*_):
        server.send_signal(signal.SIGTERM)

    handlers = {signal.SIGTERM: stop, signal.SIGHUP: stop, signal.SIGINT: signal.SIG_IGN}
    previous = {signum: signal.signal(signum, handler) for signum, handler in handlers.items()}
    try:
        return server.wait()
    finally:
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
    p = sub.add_parser("show", help="print a timeline as a table")
    p.add_argument("target", metavar="FILE_OR_KEY")
    p.add_argument("--rows", type=_positive, default=None, help="only the first N seconds")
    p = sub.add_parser(
        "backfill-stale", help="rebuild exactly the stale assets of every video (after a model or code change)"
    )
    p.add_argument("--dry-run", action="store_true", help="only list the stale assets per video")
    p = sub.add_parser("ui", help="start the Dagster UI (localhost by default)")
    p.add_argument("--port", type=int, default=3000)
    p.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    if args.command == "analyze":
        return analyze(args.files, args.output)
    if args.command == "show":
        return show(args.target, args.rows)
    if args.command == "backfill-stale":
        return backfill_stale(args.dry_run)
    return ui(args.port, args.host)


if __name__ == "__main__":
    sys.exit(main())
