import pandas as pd
from dagster import AssetKey

from analyzers.probe import probe_video
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
