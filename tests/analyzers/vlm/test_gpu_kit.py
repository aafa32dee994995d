"""The GPU measurement kit's dry run: the whole kit on the CPU with tiny configs, without PyAV or Dagster."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

# The GPU machine has neither package: make both unimportable before the kit starts.
BLOCKED = (
    "import runpy, sys\n"
    "for name in ('av', 'dagster'):\n"
    "    sys.modules[name] = None\n"
    "sys.argv = ['bench.gpu_kit', '--dry-run']\n"
    "runpy.run_module('bench.gpu_kit', run_name='__main__', alter_sys=True)\n"
)


def test_dry_run_prints_the_table_without_pyav_or_dagster():
    proc = subprocess.run(
        [sys.executable, "-c", BLOCKED], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert report["random_weights"] and "memory and speed only" in report["note"]
    rows = {r["row"]: r for r in report["rows"]}
    assert len(rows) == 10
    assert rows["Qwen2-VL-7B 8-bit, 24 GB, batched"]["status"].startswith("skipped: bitsandbytes")
    described = [r for r in rows.values() if r["status"] == "ok" and "window_s" in r]
    assert len(described) == 8
    for r in described:
        assert r["coverage"] == 1.0 and r["tokens_exact"] and r["reasks"] == 0, r
        assert 0 < r["video_s"] <= r["full_video_s"] == 8.0
    batched = rows["Qwen2-VL-7B bf16, 44 GB, batched"]
    assert batched["batch_size"] > 1 and batched["calls"] == 1 and batched["video_s"] == 8.0
    assert rows["Qwen2-VL-7B bf16, 44 GB, unbatched"]["batch_size"] == 1
    old = rows["LLaVA-NeXT-Video-7B bf16, old single call with 16 frames"]
    assert old["status"] == "ok" and old["frames"] == 16 and old["input_tokens_per_window"] > 16 * 144
    # each model is gone before the next is built (a leaked 7B model once sat in the next rows' GPU peaks)
    loads = report["loads"]
    assert [x["model"] for x in loads] == [*dict.fromkeys(r["model"] for r in report["rows"]), "Qwen2-VL-7B-Instruct"]
    assert loads[0]["previous_model_freed"] is None
    assert all(x["previous_model_freed"] is True for x in loads[1:]), loads
