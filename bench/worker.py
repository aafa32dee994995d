"""One measured run in a fresh process, so its peak RSS is that run's alone.

  python -m bench.worker direct FILE --scratch DIR      the light analyzers called directly (no Dagster)
  python -m bench.worker graph FILE --data DIR [--graph light|default|without-seen] [--count-decodes]
      the Dagster job, in-process. light: the light analyzers, the timeline over them and what they read (the
      decode steps without the frame store, which only the frame models and the report read); default: every
      configured asset; without-seen: default without objects, persons, sound events and speakers
      (bench.seen_speed). --count-decodes: every PyAV open and decoded frame counted (support/decode_counter.py);
      its proxies cost 2-5 % of a decode pass, so timed runs go without it
  python -m bench.worker peer FILE                      PySceneDetect's ContentDetector and AdaptiveDetector,
                                                        and bare PyAV decoding (the floor of any video pass)

Prints one JSON object as the last line of stdout. Times exclude interpreter start and imports
(reported separately as `import_s`); `graph` needs DAGSTER_HOME set to a folder with a dagster.yaml.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

STARTED = time.perf_counter()


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


def cpu_s() -> float:
    """CPU seconds of this process, all threads (steadier than wall time on a shared machine)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(times: dict, name: str, fn, *args, **kwargs):
    started = time.perf_counter()
    value = fn(*args, **kwargs)
    times[name] = round(time.perf_counter() - started, 4)
    return value


def direct(path: Path, scratch: Path) -> dict:
    """The light graph's analyzers in the graph's order, each timed like its asset (analysis + events table)."""
    from analyzers import audio, camera_motion, shots, visual_stats
    from analyzers.decode import decode_audio, decode_video, video_quality_events
    from analyzers.probe import probe_video
    from analyzers.records import events_frame
    from analyzers.timeline import build_timeline

    imported, cpu_start = time.perf_counter() - STARTED, cpu_s()
    times: dict[str, float] = {}
    probe = timed(times, "probe", probe_video, path)
    # as the light graph's decode step: no frame store (nothing in it reads one), the sampled frames' visibility
    decoded = timed(times, "decode_video", decode_video, probe, None, visibility=True)
    audio_path = scratch / "audio.parquet"
    has_audio = timed(times, "decode_audio", decode_audio, probe, audio_path).seconds > 0
    signals, key = decoded.signals, "bench"

    def analyse_shots():
        events = shots.analyze_shots(signals, probe.fps, probe.duration_s)
        return events, events_frame(events, key)

    shot_events, shots_table = timed(times, "shots", analyse_shots)
    frames = {"shots": shots_table}
    cuts = shots.boundaries(shot_events)
    analyses = {
        "video_quality": lambda: video_quality_events(decoded, probe.duration_s),
        "camera_motion": lambda: camera_motion.analyze_camera_motion(signals, probe.duration_s, cuts),
        "visual_stats": lambda: visual_stats.analyze_visual_stats(signals, probe.duration_s),
        "audio": lambda: audio.analyze_audio(audio_path if has_audio else None, probe.duration_s),
    }
    for name, analyse in analyses.items():
        frames[name] = timed(times, name, lambda analyse=analyse: events_frame(analyse(), key))
    import pandas as pd

    timed(
        times, "timeline", lambda: build_timeline(key, probe.duration_s, pd.concat(frames.values(), ignore_index=True))
    )
    return {
        "duration_s": probe.duration_s,
        "fps": probe.fps,
        "frames": decoded.decoded,
        "times": times,
        "total_s": round(sum(times.values()), 4),
        "cpu_s": round(cpu_s() - cpu_start, 3),
        "cuts": cuts,
        "import_s": round(imported, 3),
    }


# The analyzers issue 19 added to the default graph (objects followed, persons, sound events, speakers).
SEEN_AND_HEARD = ("objects", "persons", "sound_events", "speakers")


def light_definitions(defs):
    """The light graph alone (light analyzers, the timeline over them and what they read) with the project's
    resources and job."""
    from video_assets import audio, decode, visual

    # the analyzers without a model: `objects` (a detector, in the visual stage since issue 19) is not light
    light = [*decode.stage_assets({}), visual.shots, visual.camera_motion, visual.visual_stats, audio.audio]
    return _graph_of(defs, light, report=False)


def definitions_without(defs, names: tuple[str, ...]):
    """The project's graph without the named event assets: the timeline, its checks and the report rebuilt
    over the rest (an asset that reads one of them as an optional input runs without it)."""
    from resources.model_specs import load_model_specs
    from video_assets import audio

    def keys(a) -> set[str]:
        return {k.to_user_string() for k in a.keys}

    dropped = {*names, "timeline", "report"}
    kept = [a for a in defs.assets if not keys(a) & dropped]
    if "speakers" in names:  # the transcript as it is built when the speaker model is not installed
        spec = audio.transcribe_spec(load_model_specs())
        kept = [a for a in kept if audio.TRANSCRIPT_ASSET not in keys(a)]
        kept += [audio.build_transcript_asset(spec)] if spec else []
    return _graph_of(defs, kept, report=True)


def _graph_of(defs, assets: list, report: bool):
    from dagster import AssetSelection, Definitions, define_asset_job

    from video_assets.events import aspects_by_asset
    from video_assets.names import ANALYZE_JOB
    from video_assets.report import build_report_asset
    from video_assets.timeline import build_timeline_assets, expected_aspects

    event_assets = aspects_by_asset(assets)
    timeline, checks = build_timeline_assets(event_assets)
    extra = [build_report_asset(expected_aspects(event_assets))] if report else []
    # Without the report, the timeline and what it reads: no sampled frame is stored where no asset reads them.
    selection = AssetSelection.all() if report else AssetSelection.assets(timeline).upstream()
    job = define_asset_job(
        ANALYZE_JOB, selection=selection, executor_def=defs.resolve_job_def(ANALYZE_JOB).executor_def
    )
    return Definitions(assets=[*assets, timeline, *extra], asset_checks=checks, jobs=[job], resources=defs.resources)


def graph(path: Path, data_root: Path, which: str, count_decodes: bool = False) -> dict:
    import av
    from dagster import DagsterInstance

    from analyzers.probe import probe_video
    from video_assets.definitions import build_definitions
    from video_assets.runs import analyze_file

    imported = time.perf_counter() - STARTED
    probe = probe_video(path)  # before counting: the run's own opens and frames are counted
    counts = None
    if count_decodes:
        from support.decode_counter import DecodeCounts, counting_open

        counts = DecodeCounts()
        av.open = counting_open(av.open, counts)
    defs = build_definitions(data_root=str(data_root))
    if which == "light":
        defs = light_definitions(defs)
    elif which == "without-seen":
        defs = definitions_without(defs, SEEN_AND_HEARD)
    with DagsterInstance.get() as instance:
        started, cpu_start = time.perf_counter(), cpu_s()
        run = analyze_file(defs, instance, path, run_config={})
        wall, cpu = time.perf_counter() - started, cpu_s() - cpu_start
    steps, decode_passes = {}, {}
    for event in run.result.all_events:
        if event.event_type_value == "STEP_SUCCESS":
            steps[event.step_key] = round(event.event_specific_data.duration_ms / 1000, 4)
        elif event.is_step_materialization:
            materialization = event.step_materialization_data.materialization
            if "decode_passes" in materialization.metadata:
                decode_passes[materialization.asset_key.to_user_string()] = materialization.metadata[
                    "decode_passes"
                ].value
    out = {
        "success": run.success,
        "failure": run.failure,
        "duration_s": probe.duration_s,
        "frame_count": probe.frame_count,
        "wall_s": round(wall, 4),
        "cpu_s": round(cpu, 3),
        "steps": steps,
        "decode_passes": decode_passes,
        "partition": run.key,
        "timeline": str(defs.resources["storage"].asset_path("timeline", run.key)),
        "shots": str(defs.resources["storage"].asset_path("shots", run.key)),
        "import_s": round(imported, 3),
    }
    if counts is not None:
        out["decoding"] = {
            "opens": len(counts.opened),
            "video_frames": counts.video_frames,
            "audio_frames": counts.audio_frames,
        }
    return out


def decode_floor(path: Path) -> float:
    """Seconds to decode every video frame with PyAV (threaded, no conversion): the floor of any video pass."""
    import av

    started = time.perf_counter()
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for _ in container.decode(stream):
            pass
    return round(time.perf_counter() - started, 4)


def peer(path: Path) -> dict:
    """The reference points for cut detection: PySceneDetect's two detectors and bare decoding; then, in the same
    process, our cut list alone (what `video-timeline cuts` runs)."""
    from scenedetect import AdaptiveDetector, ContentDetector, detect

    from analyzers.cut_list import find_cuts

    imported = time.perf_counter() - STARTED
    out = {
        "import_s": round(imported, 3),
        "scenedetect": __import__("scenedetect").__version__,
        "decode_floor_s": decode_floor(path),
    }
    for detector in (ContentDetector, AdaptiveDetector):
        started = time.perf_counter()
        scenes = detect(str(path), detector())  # defaults, as a user calls it
        took = time.perf_counter() - started
        out[detector.__name__] = {"seconds": round(took, 4), "cuts": [start.seconds for start, _ in scenes[1:]]}
    started = time.perf_counter()
    found = find_cuts(path)
    out["cut_list"] = {"seconds": round(time.perf_counter() - started, 4), "cuts": [b.t for b in found.boundaries]}
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["direct", "graph", "peer"])
    parser.add_argument("file", type=Path)
    parser.add_argument("--scratch", type=Path)
    parser.add_argument("--data", type=Path)
    parser.add_argument("--graph", choices=["light", "default", "without-seen"], default="light")
    parser.add_argument("--count-decodes", action="store_true", help="count PyAV's opens and decoded frames")
    args = parser.parse_args()
    folder = {"direct": "scratch", "graph": "data"}.get(args.mode)
    if folder and getattr(args, folder) is None:  # its outputs would go to a folder named "None"
        parser.error(f"{args.mode} needs --{folder} DIR")
    if args.mode == "direct":
        out = direct(args.file, args.scratch)
    elif args.mode == "graph":
        out = graph(args.file, args.data, args.graph, args.count_decodes)
    else:
        out = peer(args.file)
    out["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(out))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
