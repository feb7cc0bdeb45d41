"""Write the sample ONNX models the app lists in its model menu into ``poet_gui/samples/``.

    python scripts/make_sample_models.py [--out DIR]

Four small models, built with ``onnx.helper`` so that no framework or download is needed: an MLP, a
CNN with batch norm and a residual add, a residual CNN shaped like resnet18_cifar (two basic blocks,
one down-sampling with a 1x1 shortcut convolution, batch norm in training mode), and a transformer
block (attention, layer norm, GELU written with Erf as exporters do before opset 20) whose batch and
sequence length are symbolic, so opening it asks for them.  The weights are a fixed integer sequence
scaled to each layer's fan-in: the files are
the same bytes on every machine, and a test checks the shipped ones against this script.  Opset 17 and
IR version 8 keep them readable by every onnx release we support (``onnx>=1.14``).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

OPSET = 17
IR_VERSION = 8
SAMPLES = Path(__file__).resolve().parents[1] / "poet_gui" / "samples"


class _Weights:
    """Initializers filled from a linear congruential sequence: exact integer arithmetic, then one
    IEEE division and multiplication, so the bytes do not depend on the platform or numpy's RNG."""

    def __init__(self) -> None:
        self.tensors: list[TensorProto] = []
        self._next = 1

    def add(self, name: str, shape: tuple[int, ...], *, fan_in: int = 1, value: float | None = None) -> str:
        n = math.prod(shape)
        if value is None:
            state = (np.arange(self._next, self._next + n, dtype=np.int64) * 1103515245 + 12345) % 2**31
            data = ((state / 2**31 - 0.5) * (2.0 / math.sqrt(fan_in))).astype(np.float32)
            self._next += n
        else:
            data = np.full(n, value, dtype=np.float32)
        self.tensors.append(helper.make_tensor(name, TensorProto.FLOAT, shape, data))
        return name

    def ints(self, name: str, values: list[int]) -> str:
        self.tensors.append(helper.make_tensor(name, TensorProto.INT64, [len(values)], values))
        return name


def _model(name: str, nodes: list[onnx.NodeProto], inputs: list[onnx.ValueInfoProto],
           outputs: list[onnx.ValueInfoProto], weights: _Weights, doc: str) -> onnx.ModelProto:  # fmt: skip
    graph = helper.make_graph(nodes, name, inputs, outputs, weights.tensors, doc_string=doc)
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION, producer_name="POET Studio"
    )
    onnx.checker.check_model(model, full_check=True)
    return model


def _gemm(w: _Weights, x: str, out: str, n_in: int, n_out: int) -> onnx.NodeProto:
    """A PyTorch-style Linear: weight (out, in), transposed in the product."""
    weight = w.add(f"{out}.weight", (n_out, n_in), fan_in=n_in)
    bias = w.add(f"{out}.bias", (n_out,), fan_in=n_in)
    return helper.make_node("Gemm", [x, weight, bias], [out], name=out, transB=1)


def mlp() -> onnx.ModelProto:
    """256 -> 64 -> 32 -> 10 with ReLU, batch 1."""
    w = _Weights()
    nodes = [
        _gemm(w, "x", "fc1", 256, 64),
        helper.make_node("Relu", ["fc1"], ["relu1"], name="relu1"),
        _gemm(w, "relu1", "fc2", 64, 32),
        helper.make_node("Relu", ["fc2"], ["relu2"], name="relu2"),
        _gemm(w, "relu2", "logits", 32, 10),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 256])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])
    return _model("mlp", nodes, [x], [y], w, "MLP 256-64-32-10 with ReLU")


def _conv_bn(w: _Weights, x: str, name: str, c_in: int, c_out: int) -> list[onnx.NodeProto]:
    """3x3 convolution (no bias: batch norm follows) and batch norm."""
    weight = w.add(f"{name}.weight", (c_out, c_in, 3, 3), fan_in=c_in * 9)
    bn = [
        w.add(f"bn_{name}.{p}", (c_out,), value=v)
        for p, v in (("scale", 1.0), ("bias", 0.0), ("mean", 0.0), ("var", 1.0))
    ]
    return [
        helper.make_node("Conv", [x, weight], [name], name=name, kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", [name, *bn], [f"bn_{name}"], name=f"bn_{name}"),
    ]


def small_cnn() -> onnx.ModelProto:
    """3x16x16 input, 8 channels: conv-bn-relu, a residual block (conv-bn-relu-conv-bn + skip, relu),
    2x2 max pool, global average pool, flatten, linear to 10 classes."""
    w = _Weights()
    nodes = [
        *_conv_bn(w, "x", "conv1", 3, 8),
        helper.make_node("Relu", ["bn_conv1"], ["relu1"], name="relu1"),
        *_conv_bn(w, "relu1", "conv2", 8, 8),
        helper.make_node("Relu", ["bn_conv2"], ["relu2"], name="relu2"),
        *_conv_bn(w, "relu2", "conv3", 8, 8),
        helper.make_node("Add", ["bn_conv3", "relu1"], ["skip"], name="skip"),
        helper.make_node("Relu", ["skip"], ["relu3"], name="relu3"),
        helper.make_node("MaxPool", ["relu3"], ["pool"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("GlobalAveragePool", ["pool"], ["gap"], name="gap"),
        helper.make_node("Flatten", ["gap"], ["flat"], name="flatten"),
        _gemm(w, "flat", "logits", 8, 10),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])
    return _model("small_cnn", nodes, [x], [y], w, "Small CNN with batch norm and a residual block")


def _conv_bn_train(w: _Weights, x: str, name: str, c_in: int, c_out: int, *, kernel: int = 3,
                   stride: int = 1) -> list[onnx.NodeProto]:  # fmt: skip
    """A convolution without bias and a batch norm that normalises with the batch's statistics
    (``training_mode=1``), as a network being trained does; its running statistics are left as they are
    (replay does not update them: they do not change the gradients)."""
    weight = w.add(f"{name}.weight", (c_out, c_in, kernel, kernel), fan_in=c_in * kernel * kernel)
    bn = [
        w.add(f"bn_{name}.{p}", (c_out,), value=v)
        for p, v in (("scale", 1.0), ("bias", 0.0), ("mean", 0.0), ("var", 1.0))
    ]
    pad = kernel // 2
    return [
        helper.make_node(
            "Conv", [x, weight], [name], name=name, kernel_shape=[kernel, kernel], pads=[pad] * 4, strides=[stride] * 2
        ),
        # Training mode must name the updated running statistics; nothing reads them, so they are not planned.
        helper.make_node(
            "BatchNormalization", [name, *bn], [f"bn_{name}", f"bn_{name}.mean_out", f"bn_{name}.var_out"],
            name=f"bn_{name}",
            training_mode=1,
        ),
    ]


def resnet_cifar() -> onnx.ModelProto:
    """resnet18_cifar in miniature: batch 2 of 3x16x16, a conv-bn-relu stem of 8 channels, a basic
    block at 8 channels (identity skip), a down-sampling block to 16 channels (stride 2, 1x1
    shortcut convolution with batch norm), global average pool, linear to 10 classes."""
    w = _Weights()
    nodes = [
        *_conv_bn_train(w, "x", "stem", 3, 8),
        helper.make_node("Relu", ["bn_stem"], ["stem.relu"], name="stem.relu"),
        *_conv_bn_train(w, "stem.relu", "b1c1", 8, 8),
        helper.make_node("Relu", ["bn_b1c1"], ["b1.relu1"], name="b1.relu1"),
        *_conv_bn_train(w, "b1.relu1", "b1c2", 8, 8),
        helper.make_node("Add", ["bn_b1c2", "stem.relu"], ["b1.add"], name="b1.add"),
        helper.make_node("Relu", ["b1.add"], ["b1.out"], name="b1.out"),
        *_conv_bn_train(w, "b1.out", "b2c1", 8, 16, stride=2),
        helper.make_node("Relu", ["bn_b2c1"], ["b2.relu1"], name="b2.relu1"),
        *_conv_bn_train(w, "b2.relu1", "b2c2", 16, 16),
        *_conv_bn_train(w, "b1.out", "b2sc", 8, 16, kernel=1, stride=2),
        helper.make_node("Add", ["bn_b2c2", "bn_b2sc"], ["b2.add"], name="b2.add"),
        helper.make_node("Relu", ["b2.add"], ["b2.out"], name="b2.out"),
        helper.make_node("GlobalAveragePool", ["b2.out"], ["gap"], name="gap"),
        helper.make_node("Flatten", ["gap"], ["flat"], name="flatten"),
        _gemm(w, "flat", "logits", 16, 10),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 16, 16])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, [2, 10])
    return _model("resnet_cifar", nodes, [x], [y], w, "Residual CNN like resnet18_cifar: two basic blocks, batch norm")


def _scalar(name: str, value: float) -> onnx.NodeProto:
    """A Constant node, as exporters write scalars: a constant, not a parameter."""
    return helper.make_node(
        "Constant", [], [name], name=name, value=helper.make_tensor(name, TensorProto.FLOAT, [], [value])
    )


def _linear(w: _Weights, x: str, name: str, n_in: int, n_out: int) -> list[onnx.NodeProto]:
    """MatMul and bias Add, as exporters write a Linear on a 3-D input."""
    weight = w.add(f"{name}.weight", (n_in, n_out), fan_in=n_in)
    bias = w.add(f"{name}.bias", (n_out,), fan_in=n_in)
    return [
        helper.make_node("MatMul", [x, weight], [f"{name}.mm"], name=f"{name}.mm"),
        helper.make_node("Add", [f"{name}.mm", bias], [name], name=name),
    ]


def tiny_transformer(width: int = 16, heads: int = 2, hidden: int = 32) -> onnx.ModelProto:
    """A pre-norm transformer block on (batch, seq, width) with symbolic batch and seq."""
    w = _Weights()
    d = width // heads
    per_head = w.ints("per_head", [0, 0, heads, d])
    merged = w.ints("merged", [0, 0, width])
    split = w.ints("qkv_split", [width, width, width])

    def layer_norm(x: str, name: str) -> onnx.NodeProto:
        gamma = w.add(f"{name}.scale", (width,), value=1.0)
        beta = w.add(f"{name}.bias", (width,), value=0.0)
        return helper.make_node("LayerNormalization", [x, gamma, beta], [name], name=name, axis=-1)

    def heads_view(x: str, perm: list[int]) -> list[onnx.NodeProto]:
        return [
            helper.make_node("Reshape", [x, per_head], [f"{x}.heads"], name=f"{x}.reshape"),
            helper.make_node("Transpose", [f"{x}.heads"], [f"{x}.t"], name=f"{x}.transpose", perm=perm),
        ]

    qkv_weight = w.add("qkv.weight", (width, 3 * width), fan_in=width)
    nodes = [
        layer_norm("x", "ln1"),
        helper.make_node("MatMul", ["ln1", qkv_weight], ["qkv"], name="qkv"),
        helper.make_node("Split", ["qkv", split], ["q", "k", "v"], name="split", axis=-1),
        *heads_view("q", [0, 2, 1, 3]),
        *heads_view("k", [0, 2, 3, 1]),
        *heads_view("v", [0, 2, 1, 3]),
        helper.make_node("MatMul", ["q.t", "k.t"], ["scores"], name="scores"),
        _scalar("sqrt_d", math.sqrt(d)),
        helper.make_node("Div", ["scores", "sqrt_d"], ["scaled"], name="scaled"),
        helper.make_node("Softmax", ["scaled"], ["attn"], name="attn", axis=-1),
        helper.make_node("MatMul", ["attn", "v.t"], ["context"], name="context"),
        helper.make_node("Transpose", ["context"], ["context.t"], name="context.transpose", perm=[0, 2, 1, 3]),
        helper.make_node("Reshape", ["context.t", merged], ["context.merged"], name="context.reshape"),
        *_linear(w, "context.merged", "proj", width, width),
        helper.make_node("Add", ["x", "proj"], ["res1"], name="res1"),
        layer_norm("res1", "ln2"),
        *_linear(w, "ln2", "ff1", width, hidden),
        _scalar("sqrt2", math.sqrt(2.0)),
        _scalar("one", 1.0),
        _scalar("half", 0.5),
        helper.make_node("Div", ["ff1", "sqrt2"], ["gelu.div"], name="gelu.div"),
        helper.make_node("Erf", ["gelu.div"], ["gelu.erf"], name="gelu.erf"),
        helper.make_node("Add", ["gelu.erf", "one"], ["gelu.add"], name="gelu.add"),
        helper.make_node("Mul", ["ff1", "gelu.add"], ["gelu.mul"], name="gelu.mul"),
        helper.make_node("Mul", ["gelu.mul", "half"], ["gelu"], name="gelu"),
        *_linear(w, "gelu", "ff2", hidden, width),
        helper.make_node("Add", ["res1", "ff2"], ["y"], name="res2"),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "seq", width])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "seq", width])
    doc = f"Pre-norm transformer block: width {width}, {heads} heads, feed-forward {hidden}, GELU"
    return _model("tiny_transformer", nodes, [x], [y], w, doc)


MODELS = {"mlp": mlp, "small_cnn": small_cnn, "resnet_cifar": resnet_cifar, "tiny_transformer": tiny_transformer}


def write_samples(out: Path) -> list[Path]:
    """Write every sample model into ``out`` as ``<name>.onnx``; return the paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, build in MODELS.items():
        path = out / f"{name}.onnx"
        path.write_bytes(build().SerializeToString())
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=SAMPLES, help=f"directory to write to (default {SAMPLES})")
    for path in write_samples(parser.parse_args().out):
        print(f"wrote {path} ({path.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
