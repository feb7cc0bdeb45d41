"""Real-model graphs for the planner's benchmark, written as ONNX with ``onnx.helper`` (no download).

    python benchmarks/real_graphs.py --out DIR        # writes every case's .onnx into DIR

The zoo's backward pass is the reference's chain; the models users bring are imported and have a
faithful autodiff backward with fan-out: residual adds, attention, skip concatenations, depthwise
blocks.  Each family here is a small but structurally faithful version of one such model, and each
file goes through the same import path as ``solve --onnx`` (:func:`load_onnx_graph`).  Weights are
zeros: their values cost nothing to plan and keep the files small.

Families (issue 13): transformer stacks (1-12 blocks, seq 16-128), ResNet-like residual CNNs (8-50
blocks), residual MLPs, a U-Net-like encoder-decoder with skip concatenations, MobileNet-like
depthwise-separable blocks.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import onnx
from onnx import TensorProto, helper

OPSET = 17
F = TensorProto.FLOAT


class _Net:
    """Nodes and initializers of one model being written, with fresh names for every tensor."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[TensorProto] = []
        self._count = 0

    def _name(self, prefix: str) -> str:
        self._count += 1
        return f"{prefix}{self._count}"

    def weight(self, *shape: int) -> str:
        name = self._name("w")
        self.inits.append(helper.make_tensor(name, F, list(shape), [0.0] * math.prod(shape)))
        return name

    def ints(self, values: list[int]) -> str:
        name = self._name("i")
        self.inits.append(helper.make_tensor(name, TensorProto.INT64, [len(values)], values))
        return name

    def op(self, op_type: str, inputs: list[str], **attrs: object) -> str:
        out = self._name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out

    def conv(self, x: str, c_in: int, c_out: int, k: int, *, stride: int = 1, group: int = 1) -> str:
        w = self.weight(c_out, c_in // group, k, k)
        pad = k // 2
        return self.op("Conv", [x, w], kernel_shape=[k, k], strides=[stride, stride], pads=[pad] * 4, group=group)

    def bn_relu(self, x: str, c: int) -> str:
        stats = [self.weight(c) for _ in range(4)]
        return self.op("Relu", [self.op("BatchNormalization", [x, *stats])])

    def gemm(self, x: str, n_in: int, n_out: int) -> str:
        return self.op("Gemm", [x, self.weight(n_out, n_in), self.weight(n_out)], transB=1)

    def model(self, name: str, x_shape: list[int], y: str, y_shape: list[int]) -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes,
            name,
            [helper.make_tensor_value_info("x", F, x_shape)],
            [helper.make_tensor_value_info(y, F, y_shape)],
            self.inits,
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=8)
        onnx.checker.check_model(model)
        return model


def transformer(blocks: int, seq: int, width: int = 32, heads: int = 2) -> onnx.ModelProto:
    """Pre-norm encoder blocks: attention (Q, K, V, softmax, output projection) and a GELU MLP, each
    with a residual add; mean-pooled to 4 classes."""
    net, head = _Net(), width // heads
    x = "x"
    for _ in range(blocks):
        ln = net.op("LayerNormalization", [x, net.weight(width), net.weight(width)], axis=-1)
        q, k, v = (net.op("MatMul", [ln, net.weight(width, width)]) for _ in range(3))
        split = net.ints([1, seq, heads, head])

        def heads_of(t: str, perm: list[int], shape: str = split) -> str:
            return net.op("Transpose", [net.op("Reshape", [t, shape])], perm=perm)

        scores = net.op("MatMul", [heads_of(q, [0, 2, 1, 3]), heads_of(k, [0, 2, 3, 1])])
        scaled = net.op("Mul", [scores, net.weight(1)])
        attn = net.op("MatMul", [net.op("Softmax", [scaled], axis=-1), heads_of(v, [0, 2, 1, 3])])
        merged = net.op("Reshape", [net.op("Transpose", [attn], perm=[0, 2, 1, 3]), net.ints([1, seq, width])])
        x = net.op("Add", [x, net.op("MatMul", [merged, net.weight(width, width)])])
        ln2 = net.op("LayerNormalization", [x, net.weight(width), net.weight(width)], axis=-1)
        hidden = net.op("MatMul", [ln2, net.weight(width, 4 * width)])
        # GELU written with Erf, as exporters do before opset 20.
        gelu = net.op("Mul", [hidden, net.op("Add", [net.op("Erf", [net.op("Mul", [hidden, net.weight(1)])]),
                                                      net.weight(1)])])  # fmt: skip
        x = net.op("Add", [x, net.op("MatMul", [gelu, net.weight(4 * width, width)])])
    pooled = net.op("ReduceMean", [x], axes=[1], keepdims=0)
    y = net.gemm(pooled, width, 4)
    return net.model(f"transformer_{blocks}x{seq}", [1, seq, width], y, [1, 4])


def resnet(blocks: int, width: int = 8, resolution: int = 16) -> onnx.ModelProto:
    """Basic residual blocks (conv-bn-relu-conv-bn + identity, relu) in three stages that halve the
    resolution and double the channels (a strided 1x1 shortcut conv where they change)."""
    net = _Net()
    x = net.bn_relu(net.conv("x", 3, width, 3), width)
    channels, per_stage = width, [blocks // 3 + (i < blocks % 3) for i in range(3)]
    for stage, count in enumerate(per_stage):
        for b in range(count):
            stride = 2 if stage > 0 and b == 0 else 1
            c_out = width * 2**stage
            h = net.bn_relu(net.conv(x, channels, c_out, 3, stride=stride), c_out)
            h = net.op("BatchNormalization", [net.conv(h, c_out, c_out, 3), *(net.weight(c_out) for _ in range(4))])
            skip = x if stride == 1 and channels == c_out else net.conv(x, channels, c_out, 1, stride=stride)
            x, channels = net.op("Relu", [net.op("Add", [h, skip])]), c_out
    y = net.gemm(net.op("Flatten", [net.op("GlobalAveragePool", [x])]), channels, 10)
    return net.model(f"resnet_{blocks}", [1, 3, resolution, resolution], y, [1, 10])


def residual_mlp(blocks: int, width: int = 64) -> onnx.ModelProto:
    """Gemm -> Relu -> Gemm -> Add blocks on a flat input."""
    net, x = _Net(), "x"
    for _ in range(blocks):
        x = net.op("Add", [x, net.gemm(net.op("Relu", [net.gemm(x, width, 2 * width)]), 2 * width, width)])
    return net.model(f"residual_mlp_{blocks}", [1, width], net.gemm(x, width, 10), [1, 10])


def unet(levels: int, width: int = 8, resolution: int = 32) -> onnx.ModelProto:
    """Encoder (two convs, max pool) and decoder (transposed conv, concatenation with the encoder's
    feature map, two convs) per level: the skips keep early activations alive until late."""
    net, x, channels, skips = _Net(), "x", 3, []
    for level in range(levels):
        c = width * 2**level
        x = net.bn_relu(net.conv(net.bn_relu(net.conv(x, channels, c, 3), c), c, c, 3), c)
        skips.append((x, c))
        x, channels = net.op("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2]), c
    x = net.bn_relu(net.conv(x, channels, 2 * channels, 3), 2 * channels)
    channels *= 2
    for skip, c in reversed(skips):
        up = net.op("ConvTranspose", [x, net.weight(channels, c, 2, 2)], kernel_shape=[2, 2], strides=[2, 2])
        x = net.op("Concat", [up, skip], axis=1)
        x = net.bn_relu(net.conv(net.bn_relu(net.conv(x, 2 * c, c, 3), c), c, c, 3), c)
        channels = c
    y = net.gemm(net.op("Flatten", [net.op("GlobalAveragePool", [net.conv(x, channels, 2, 1)])]), 2, 2)
    return net.model(f"unet_{levels}", [1, 3, resolution, resolution], y, [1, 2])


def mobilenet(blocks: int, width: int = 8, resolution: int = 32) -> onnx.ModelProto:
    """Inverted residual blocks: 1x1 expand, 3x3 depthwise, 1x1 project, residual add where the shape
    stays; every third block strides by 2 and widens."""
    net = _Net()
    x, channels = net.bn_relu(net.conv("x", 3, width, 3, stride=2), width), width
    for b in range(blocks):
        stride = 2 if b % 3 == 2 else 1
        c_out = channels * 2 if stride == 2 else channels
        expanded = 4 * channels
        h = net.bn_relu(net.conv(x, channels, expanded, 1), expanded)
        h = net.bn_relu(net.conv(h, expanded, expanded, 3, stride=stride, group=expanded), expanded)
        h = net.op("BatchNormalization", [net.conv(h, expanded, c_out, 1), *(net.weight(c_out) for _ in range(4))])
        x = net.op("Add", [x, h]) if stride == 1 else h
        channels = c_out
    y = net.gemm(net.op("Flatten", [net.op("GlobalAveragePool", [x])]), channels, 10)
    return net.model(f"mobilenet_{blocks}", [1, 3, resolution, resolution], y, [1, 10])


@dataclass(frozen=True, slots=True)
class Case:
    """One benchmark graph: its file stem and how to build it."""

    name: str
    build: Callable[[], onnx.ModelProto]


CASES: tuple[Case, ...] = (
    Case("transformer_1x16", lambda: transformer(1, 16)),
    Case("transformer_2x32", lambda: transformer(2, 32)),
    Case("transformer_4x64", lambda: transformer(4, 64)),
    Case("transformer_12x128", lambda: transformer(12, 128)),
    Case("resnet_8", lambda: resnet(8)),
    Case("resnet_20", lambda: resnet(20)),
    Case("resnet_50", lambda: resnet(50)),
    Case("residual_mlp_8", lambda: residual_mlp(8)),
    Case("residual_mlp_32", lambda: residual_mlp(32)),
    Case("unet_3", lambda: unet(3)),
    Case("mobilenet_9", lambda: mobilenet(9)),
)
#: A subset that runs in minutes: one graph per family.
QUICK = ("transformer_1x16", "resnet_8", "residual_mlp_8", "unet_3", "mobilenet_9")


def write_cases(out: Path, names: tuple[str, ...] | None = None) -> list[Path]:
    """Write the chosen cases (all by default) as ``out/<name>.onnx``; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for case in CASES:
        if names is None or case.name in names:
            path = out / f"{case.name}.onnx"
            onnx.save(case.build(), path)
            paths.append(path)
    return paths


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="folder for the .onnx files")
    parser.add_argument("--quick", action="store_true", help="one graph per family")
    args = parser.parse_args()
    for path in write_cases(args.out, QUICK if args.quick else None):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
