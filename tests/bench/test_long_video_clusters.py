"""bench/long_video_clusters.py runs its cases in fresh interpreters and reports what they found."""

from bench import long_video_clusters as bench


def test_each_case_reports_time_memory_and_what_it_found_and_the_two_ways_agree(tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "PERSONS", [(150, 5), (400, 5)])
    monkeypatch.setattr(bench, "ALL_AT_ONCE_MAX", 200)
    monkeypatch.setattr(bench, "SPEAKERS", [60])
    results = bench.run(tmp_path)
    small, large = results["persons"]
    assert small["batches"]["found"] == small["all_at_once"]["found"] == 5 and small["same_persons"]
    assert "all_at_once" not in large and large["batches"]["found"] == 5
    assert all(r["batches"]["peak_rss_mb"] > 50 and r["batches"]["seconds"] >= 0 for r in results["persons"])
    (speakers,) = results["speakers"]
    assert speakers["voiced_seconds"] == 60 and 1 <= speakers["found"] <= 6
    text = bench.markdown({**results, "machine": bench.machine.describe()}, "python -m bench.long_video_clusters")
    assert "| 150 | 5 (found 5) |" in text and "| yes |" in text and "not run" in text
