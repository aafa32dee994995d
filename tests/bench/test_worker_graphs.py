"""The bench's graph without the seen-and-heard assets is the default graph minus exactly those four, its
timeline and report counting only what is left (what bench.seen_speed compares against)."""

from bench.worker import SEEN_AND_HEARD, definitions_without
from video_assets.definitions import build_definitions
from video_assets.names import ANALYZE_JOB
from video_assets.report import report_expected_aspects


def _names(defs) -> set[str]:
    return {k.to_user_string() for a in defs.assets for k in a.keys}


def test_the_graph_without_the_four_keeps_everything_else_and_stops_expecting_their_aspects(tmp_path):
    full = build_definitions(data_root=str(tmp_path), model_specs={})
    without = definitions_without(full, SEEN_AND_HEARD)
    assert _names(without) == _names(full) - set(SEEN_AND_HEARD)
    assert set(SEEN_AND_HEARD) <= _names(full)  # the default install has all four
    dropped = {"objects", "object_tracks", "persons", "sounds", "speakers"}
    assert dropped <= set(report_expected_aspects(full))
    assert not dropped & set(report_expected_aspects(without))
    assert without.resolve_job_def(ANALYZE_JOB).executor_def == full.resolve_job_def(ANALYZE_JOB).executor_def
