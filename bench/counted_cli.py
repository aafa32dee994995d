"""`video-timeline ARGS` with every PyAV open and decoded frame counted (support/decode_counter.py).

  python -m bench.counted_cli analyze FILE

The CLI's own output and exit status; the counts go to the JSON file named by $BENCH_DECODE_COUNTS (the
whole-process bench shows with it that re-analysing an unchanged file decodes no frame).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from support.decode_counter import counting_media_reads
    from video_assets.cli import main

    with counting_media_reads() as counts:
        status = main(sys.argv[1:])
    Path(os.environ["BENCH_DECODE_COUNTS"]).write_text(
        json.dumps(
            {
                "opened": counts.opened,
                "video_frames": counts.video_frames,
                "audio_frames": counts.audio_frames,
                "other_frames": counts.other_frames,
            }
        )
    )
    sys.exit(status)
