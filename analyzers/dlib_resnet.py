"""dlib's face recognition ResNet (the 128-d face descriptor) run by onnxruntime instead of dlib.

dlib's pip build computes this network without BLAS, on one core, holding the GIL: 75-85 ms a face here.
The same weights as an ONNX graph run in a fraction of that and on every core. `read_network` reads the
layers from dlib's own model file (the one the `face-recognition-models` wheel ships; dlib's serialisation:
each layer's name string, its integers in dlib's packed form, its tensors as raw little-endian float32);
`onnx_model` writes the graph. The graph is made once per content of the model file and kept in the model
cache (analyzers/model_cache.py), because importing the `onnx` package alone takes about 0.7 s.

The network, as the file lays it out from input to output: a 7x7 convolution, affine, ReLU and 3x3 max
pool, then residual blocks (3x3 convolution, affine, ReLU, 3x3 convolution, affine, added to the block's
input, ReLU); a block that halves the size (stride-2 convolution) adds a 2x2 average pool of its input
instead, the smaller of the two counted as zero where it lacks channels, rows or columns (dlib's add_prev);
then a global average pool and a 256 -> 128 linear map. Input: the 150 x 150 RGB chip, each channel less
dlib's stored mean, divided by 256. tests/analyzers/test_face_descriptors.py checks the descriptors against
dlib's own on real faces.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from analyzers import model_cache
from analyzers.warm_up import loaded_once

CHIP_SIDE = 150
_LAYER_NAMES = ("input_rgb_image_sized", "con_4", "affine_", "relu_", "add_prev_", "avg_pool_2", "max_pool_2", "fc_2")
_LAYER = re.compile(b"|".join(re.escape(bytes([1, len(n)]) + n.encode()) for n in _LAYER_NAMES))


class NetworkFormatError(ValueError):
    """The model file is not the dlib face recognition ResNet this module reads."""


@dataclass
class Layer:
    kind: str  # one of _LAYER_NAMES
    ints: list[int] = field(default_factory=list)
    means: list[float] = field(default_factory=list)  # the input layer's per-channel means (R, G, B)
    params: np.ndarray | None = None  # (num_samples, k, nr, nc) as dlib stores it


class _Reader:
    def __init__(self, data: bytes, pos: int):
        self.data, self.pos = data, pos

    def int(self) -> int:
        control = self.data[self.pos]
        size, negative = control & 0x0F, control & 0x80
        value = int.from_bytes(self.data[self.pos + 1 : self.pos + 1 + size], "little")
        self.pos += 1 + size
        return -value if negative else value

    def real(self) -> float:
        """dlib's portable float: a packed integer mantissa and a packed power of two."""
        mantissa = self.int()
        return float(mantissa) * 2.0 ** self.int()

    def tensor(self) -> np.ndarray:
        if self.int() != 2:
            raise NetworkFormatError("unknown tensor version")
        shape = tuple(self.int() for _ in range(4))
        count = int(np.prod(shape))
        values = np.frombuffer(self.data, "<f4", count, self.pos).reshape(shape)
        self.pos += 4 * count
        return values


def read_network(path: Path) -> list[Layer]:
    """The layers of dlib's face recognition ResNet in `path`, input first."""
    data = path.read_bytes()
    layers: list[Layer] = []
    pos = 0
    try:
        while match := _LAYER.search(data, pos):
            read = _Reader(data, match.end())
            layers.append(_read_layer(match.group()[2:].decode(), read))
            pos = read.pos
    except (ValueError, IndexError) as e:  # a number or tensor cut off by the end of the file
        raise NetworkFormatError(f"{path}: damaged after {len(layers)} layers ({e})") from None
    if not layers or layers[0].kind != "input_rgb_image_sized" or layers[-1].kind != "fc_2":
        raise NetworkFormatError(f"{path}: not dlib's face recognition ResNet")
    return layers


def _read_layer(kind: str, read: _Reader) -> Layer:
    layer = Layer(kind)
    if kind == "input_rgb_image_sized":
        layer.means = [read.real() for _ in range(3)]
        layer.ints = [read.int(), read.int()]  # rows, columns
    elif kind == "con_4":
        layer.params = read.tensor()
        layer.ints = [read.int() for _ in range(7)]  # filters, rows, columns, strides y x, paddings y x
    elif kind == "affine_":
        layer.params = read.tensor()
    elif kind in ("avg_pool_2", "max_pool_2"):
        layer.ints = [read.int() for _ in range(6)]  # rows, columns, strides y x, paddings y x
    elif kind == "fc_2":
        layer.ints = [read.int(), read.int()]  # outputs, inputs
        layer.params = read.tensor()
    return layer


def graph_of(path: Path) -> bytes:
    """The ONNX graph of the network in `path`; NetworkFormatError naming the file when it is not one."""
    try:
        return onnx_model(read_network(path))
    except NetworkFormatError as e:
        raise NetworkFormatError(str(e) if str(path) in str(e) else f"{path}: {e}") from None


def onnx_model(layers: list[Layer]) -> bytes:
    """The ONNX graph (opset 13) of the layers: input `chips` N x 150 x 150 x 3 uint8 RGB, output
    `descriptors` N x 128."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, weights = [], []
    count = iter(range(10**6))

    def constant(array: np.ndarray) -> str:
        name = f"w{next(count)}"
        weights.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(op: str, inputs: list[str], **attributes) -> str:
        name = f"t{next(count)}"
        nodes.append(helper.make_node(op, inputs, [name], **attributes))
        return name

    means = np.array(layers[0].means, np.float32)
    x = node("Cast", ["chips"], to=TensorProto.FLOAT)
    x = node("Transpose", [x], perm=[0, 3, 1, 2])
    x = node("Div", [node("Sub", [x, constant(means.reshape(1, 3, 1, 1))]), constant(np.float32(256.0))])
    shape, block_input = (3, CHIP_SIDE, CHIP_SIDE), None  # channels, rows, columns (fixed by the chip size)

    def out_size(rows_cols: tuple[int, ...], geometry: dict) -> tuple[int, ...]:
        sizes = zip(rows_cols, geometry["pads"][:2], geometry["kernel_shape"], geometry["strides"])
        return tuple((n + 2 * p - k) // s + 1 for n, p, k, s in sizes)

    def pad_to(name: str, have: tuple[int, ...], want: tuple[int, ...]) -> str:
        if have == want:
            return name
        ends = [w - h for h, w in zip(have, want)]
        return node("Pad", [name, constant(np.array([0, 0, 0, 0, 0, *ends], np.int64))])

    for layer in layers[1:]:
        if layer.kind in ("con_4", "avg_pool_2", "max_pool_2"):
            *window, sy, sx, py, px = layer.ints[-6:]
            geometry = {"kernel_shape": window, "strides": [sy, sx], "pads": [py, px, py, px]}
        if layer.kind == "con_4":
            filters, rows, cols = layer.ints[:3]
            if block_input is None and rows == 3:  # a residual block starts at its first 3x3 convolution
                block_input = (x, shape)
            n = filters * shape[0] * rows * cols
            flat = np.asarray(layer.params, np.float32).reshape(-1)
            if flat.size != n + filters:
                raise NetworkFormatError("a convolution's size does not match its input")
            kernel, bias = flat[:n].reshape(filters, shape[0], rows, cols), flat[n:]
            x = node("Conv", [x, constant(kernel), constant(bias)], **geometry)
            shape = (filters, *out_size(shape[1:], geometry))
        elif layer.kind == "affine_":
            gamma, beta = np.asarray(layer.params, np.float32).reshape(2, shape[0], 1, 1)
            x = node("Add", [node("Mul", [x, constant(gamma[None])]), constant(beta[None])])
        elif layer.kind == "relu_":
            x = node("Relu", [x])
        elif layer.kind == "max_pool_2":
            x, shape = node("MaxPool", [x], **geometry), (shape[0], *out_size(shape[1:], geometry))
        elif layer.kind == "avg_pool_2" and layer.ints[0] == 0:  # a window of 0 rows: over everything
            x, shape = node("GlobalAveragePool", [x]), (shape[0], 1, 1)
        elif layer.kind == "avg_pool_2":  # of the block's input, to add it to the block's halved output
            skip, skip_shape = block_input
            block_input = (
                node("AveragePool", [skip], **geometry),
                (skip_shape[0], *out_size(skip_shape[1:], geometry)),
            )
        elif layer.kind == "add_prev_":
            # dlib adds tensors of unequal size as if the smaller had zeros where it lacks channels, rows or
            # columns (a stride-2 block can halve 8 rows to 3 while the average pool of its input gives 4)
            skip, skip_shape = block_input
            target = tuple(max(a, b) for a, b in zip(shape, skip_shape))
            x = node("Add", [pad_to(x, shape, target), pad_to(skip, skip_shape, target)])
            shape, block_input = target, None
        elif layer.kind == "fc_2":
            outputs, inputs = layer.ints
            if inputs != shape[0] * shape[1] * shape[2]:
                raise NetworkFormatError("the linear map's size does not match its input")
            matrix = np.asarray(layer.params, np.float32).reshape(inputs, outputs)
            x = node("MatMul", [node("Flatten", [x]), constant(matrix)])
    nodes[-1].output[0] = "descriptors"
    graph = helper.make_graph(
        nodes,
        "dlib_face_recognition_resnet_v1",
        [helper.make_tensor_value_info("chips", TensorProto.UINT8, ["n", CHIP_SIDE, CHIP_SIDE, 3])],
        [helper.make_tensor_value_info("descriptors", TensorProto.FLOAT, ["n", 128])],
        weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    return model.SerializeToString()


# Chips per network call. onnxruntime's arena keeps the activations of the largest call, about 2.4 MB a chip:
# 256 at once held 630 MB for the rest of the process; 32 hold 77 MB at the same speed per chip.
RUN_BATCH = 32


@loaded_once
def session(model_file: Path):
    """The onnxruntime session of dlib's model in `model_file`, its graph made once and cached."""
    import onnxruntime as ort

    graph = model_cache.cached_arrays(
        model_file,
        "dlib-resnet-onnx",
        lambda: {"onnx": np.frombuffer(graph_of(model_file), np.uint8)},
    )["onnx"].tobytes()
    options = ort.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # one call a chunk of faces
    return ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])


def describe(model_file: Path, chips: list[np.ndarray]) -> list[np.ndarray]:
    """The 128-d descriptor of each aligned 150 x 150 RGB chip (dlib.get_face_chip), in order."""
    found = []
    for start in range(0, len(chips), RUN_BATCH):
        batch = np.stack(chips[start : start + RUN_BATCH]).astype(np.uint8, copy=False)
        found += list(session(model_file).run(None, {"chips": batch})[0])
    return found
