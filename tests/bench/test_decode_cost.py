"""bench.decode_cost tells a revision whose decode pass produces other outputs from one that produces the same."""

import pyarrow.parquet as pq

from analyzers.decode import decode_video
from analyzers.probe import probe_video
from bench.decode_cost import outputs_digest
from support.media_factory import pattern_video


def test_the_outputs_digest_is_stable_and_changes_with_signals_frames_or_visibility(tmp_path):
    probe = probe_video(pattern_video(tmp_path / "clip.mp4", 2, 160, 90, 10))
    first = decode_video(probe, tmp_path / "a.parquet")
    again = decode_video(probe, tmp_path / "b.parquet")
    digest = outputs_digest(first, tmp_path / "a.parquet")
    assert outputs_digest(again, tmp_path / "b.parquet") == digest

    first.signals.loc[3, "diff"] += 1e-6
    assert outputs_digest(first, tmp_path / "a.parquet") != digest

    table = pq.read_table(tmp_path / "b.parquet")
    pq.write_table(table.slice(1), tmp_path / "b.parquet")  # one stored frame fewer
    assert outputs_digest(again, tmp_path / "b.parquet") != digest

    other = decode_video(probe, tmp_path / "c.parquet")
    other.visibility[0] = (other.visibility[0][0], 0.0)
    assert outputs_digest(other, tmp_path / "c.parquet") != digest
