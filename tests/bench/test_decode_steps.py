"""The decode-step bench's dry run: both attentions, padded batches, a profile each, without PyAV or Dagster."""

import json

from support.gpu_machine import run_without_pyav_and_dagster


def test_dry_run_compares_both_attentions_on_padded_batches():
    proc = run_without_pyav_and_dagster("bench.decode_steps", "--dry-run", "--models", "Qwen2-VL-2B-Instruct")
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert report["random_weights"] and "memory and speed only" in report["note"]
    rows = report["rows"]
    assert {(r["attention"], r["batch"]) for r in rows} == {
        (a, b) for a in ("sdpa", "sdpa_grouped_decode") for b in (1, 3)
    }
    for r in rows:
        assert r["rows"] == r["batch"] and r["decode_ms_per_step"] > 0 and r["prefill_s"] > 0
        assert r["padded_input_tokens"] == max(r["input_tokens"])
        if r["batch"] > 1:
            assert len(set(r["input_tokens"])) > 1  # rows of unequal length: the batch is left-padded
    ops = report["attention_ops"]
    assert [(o["model"], o["batch"]) for o in ops] == [("Qwen2-VL-2B-Instruct", 1), ("Qwen2-VL-2B-Instruct", 3)]
    assert all(o["layers"] == 28 and o["copy_per_query_head_ms_per_step"] > 0 < o["grouped_ms_per_step"] for o in ops)
    assert [p["attention"] for p in report["profiles"]] == ["sdpa", "sdpa_grouped_decode"]
    assert all(p["top"] and p["top"][0]["ms"] > 0 for p in report["profiles"])
