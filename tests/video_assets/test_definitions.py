import subprocess
import sys

import pandas as pd
from dagster import AssetCheckSeverity, AssetKey

from analyzers.probe import probe_video
from resources.settings import AnalysisSettings
from video_assets.definitions import ANALYZE_JOB, defs


def test_definitions_load_with_every_asset_partitioned_and_versioned():
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {
        "video_probe",
        "frame_signals",
        "sampled_frames",
        "audio_pcm",
        "shots",
        "camera_motion",
        "visual_stats",
        "audio",
        "timeline",
    } <= keys
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.partitions_def is not None and node.partitions_def.name == "videos"
        assert node.code_version, f"{key.to_user_string()} has no code_version"
    check_names = {c.name for c in graph.asset_check_keys if c.asset_key == AssetKey("timeline")}
    assert check_names == {"reconstruction_score", "timeline_dense"}
    assert defs.resolve_job_def(ANALYZE_JOB).executor_def.name == "in_process"


def test_sampled_frames_and_signals_come_from_one_decode_step():
    graph = defs.resolve_asset_graph()
    decode = graph.get(AssetKey("frame_signals")).assets_def
    assert decode is graph.get(AssetKey("sampled_frames")).assets_def
    assert decode.op.name == "video_decode"


def test_density_check_passes_on_good_data_and_fails_on_a_gap(silent_clip):
    probe = pd.DataFrame([probe_video(silent_clip).as_row()])  # 3.5 s: seconds 0..3
    check = next(c for c in defs.asset_checks if any(k.name == "timeline_dense" for k in c.check_keys))
    good = check(timeline=pd.DataFrame({"second": [0, 1, 2, 3]}), video_probe=probe)
    gap = check(timeline=pd.DataFrame({"second": [0, 1, 3]}), video_probe=probe)
    assert good.passed is True
    assert gap.passed is False and "missing seconds [2]" in gap.metadata["problems"].value


def test_every_heavy_model_asset_is_in_the_gpu_pool_and_nothing_else_is(tmp_path):
    from resources.model_specs import ModelSpec
    from video_assets.definitions import build_definitions

    specs = {name: ModelSpec(name=name, model=str(tmp_path / name)) for name in ("describe", "transcribe", "objects")}
    graph = build_definitions(data_root=str(tmp_path / "data"), model_specs=specs).resolve_asset_graph()
    pools = {}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        pools[key.to_user_string()] = node.assets_def.get_op_def_for_asset_key(key).pool
    heavy = {name for name, pool in pools.items() if pool == "gpu"}
    assert heavy == {"video_descriptions", "transcript", "objects"}
    assert all(pool is None for name, pool in pools.items() if name not in heavy)


def _timeline(*, audio: bool, visibility: float, model_description: bool) -> pd.DataFrame:
    """A 4 s timeline of the default graph's aspects, as the analyzers would leave it."""
    from analyzers.audio import analyze_audio
    from analyzers.records import Event, events_frame
    from analyzers.timeline import build_timeline

    def each(aspect, value, confidence=None):
        return [Event(s, s + 1, aspect, value, confidence, "test") for s in range(4)]

    events = each("shot", 0) + each("cut", False) + each("camera", "static", 0.9) + each("faces", 0) + each("text", [])
    events += each("visibility", visibility) + each("transcript", "")
    events += analyze_audio(None, 4) if not audio else each("speech", 0.0, 0.95) + each("loudness_db", -30.0)
    if model_description:
        events += each("description", "A quiet street.", 0.9)
    return build_timeline("v", 4, events_frame(events, "v"), EXPECTED)


EXPECTED = ("shot", "cut", "camera", "faces", "text", "speech", "transcript", "loudness_db", "description")


def test_the_score_check_warns_below_its_threshold_and_says_why():
    from video_assets.timeline import build_timeline_assets

    graph = {
        "shots": ("shot", "cut"),
        "camera_motion": ("camera",),
        "faces": ("faces",),
        "screen_text": ("text",),
        "audio": ("speech", "loudness_db"),
        "transcript": ("transcript",),
    }
    _, checks = build_timeline_assets(graph)
    check = checks[0]
    good = check(settings=AnalysisSettings(), timeline=_timeline(audio=True, visibility=1.0, model_description=True))
    poor = check(settings=AnalysisSettings(), timeline=_timeline(audio=False, visibility=0.2, model_description=False))
    assert good.passed is True and good.metadata["score"].value > 0.9
    assert poor.passed is False and poor.severity == AssetCheckSeverity.WARN  # a warning: the run still succeeds
    assert poor.metadata["score"].value < AnalysisSettings().score_threshold <= good.metadata["score"].value
    assert poor.metadata["coverage"].value == 1.0  # every cell holds a value: coverage alone would not tell
    why = poor.metadata["below_1"].value
    assert why.startswith("speech 0.00 (derived 100%)") and "description 0.00 (derived 100%)" in why
    assert poor.metadata["score_camera"].value == 0.9 and poor.metadata["coverage_objects"].value == 0.0


def test_loading_the_definitions_imports_no_model_runtime():
    # Every command loads them (a re-analysis of an unchanged file does nothing else): the runtimes load in
    # the steps that use them. cv2 and av are imported: the decode steps' types come from them.
    runtimes = (
        "torch", "transformers", "onnxruntime", "openvino", "ctranslate2", "faster_whisper", "dlib", "scipy",
        "tesserocr", "rapidocr_onnxruntime", "onnx",
    )  # fmt: skip
    code = f"import sys, video_assets.definitions; print(sorted(m for m in {runtimes!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"
