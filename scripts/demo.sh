#!/usr/bin/env bash
# Set up, make a small sample video, analyse it through the Dagster graph, print the timeline.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export DAGSTER_HOME="${DAGSTER_HOME:-$PWD/dagster_home}"
sample=samples/sample.mp4
[ -f "$sample" ] || .venv/bin/python -m scripts.make_sample "$sample"
.venv/bin/video-timeline analyze "$sample" --output out/sample_timeline.parquet
.venv/bin/video-timeline show "$sample" --rows 12
# Who speaks and what is heard, beside the words.
.venv/bin/video-timeline show "$sample" --rows 12 --columns second,speech,speakers,sounds,transcript
# A real clip, when the shared corpus is beside the checkout: objects followed and persons recognised.
real=$(.venv/bin/python -c "from bench.corpus import REAL; print(REAL / 'face_recognition_short_hamilton_clip.mp4')")
if [ -f "$real" ]; then
  .venv/bin/video-timeline analyze "$real"
  .venv/bin/video-timeline show "$real" --columns second,shot,faces,persons,objects,object_tracks
fi
cat <<MSG

Timeline: out/sample_timeline.parquet (one row per second).
Open the Dagster UI on this instance:  .venv/bin/video-timeline ui   (http://127.0.0.1:3000)
MSG
