"""The cut-detection path alone, as its own process: probe, the decode pass, shots.

  python -m bench.cut_path FILE

Prints the cut times (seconds) as a JSON list on the last line. bench/whole_process.py times this whole
process (interpreter start and imports included) beside PySceneDetect's content detector run the same way.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path


def cuts(path: Path) -> list[float]:
    from analyzers import shots
    from analyzers.decode import decode_video
    from analyzers.probe import probe_video

    probe = probe_video(path)
    with tempfile.TemporaryDirectory() as scratch:
        decoded = decode_video(probe, Path(scratch) / "frames.parquet")
    return shots.boundaries(shots.analyze_shots(decoded.signals, probe.fps, probe.duration_s))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    print(json.dumps(cuts(Path(sys.argv[1]))))
