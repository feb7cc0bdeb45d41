"""The built-in model zoo: the eight models of the POET paper, written as layer definitions.

Every model is spelled out layer by layer (conv, batch norm, ReLU, ...) and every layer computes its
output shape, FLOP and parameter count from the formulas of FORMULATION §3, so a model can be rebuilt at
any batch size, image resolution or sequence length.  At the default parameters each graph equals the
reference implementation's (``shared/reference/graphs/<model>.json``) up to the numbering of independent
nodes, *quirks included*: the reference's numbers are what published POET results were computed from,
so reproducing them is what makes our optima comparable.  Each quirk is noted where it is built.

A training graph is the forward layers in definition order, the cross-entropy loss, then the
reference's chain backward pass (see :meth:`_Net.finish`).  Node names are the reference's
``layer{index}_{op}``, so a user can match nodes between the two tools.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from types import MappingProxyType

from poet_gui.core.errors import GraphError
from poet_gui.core.model.graph import Node, TrainingGraph, build_graph

__all__ = ["ModelInfo", "build_model", "list_models"]


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What a menu needs to offer a model and its parameters.

    ``parameters`` lists which of ``"batch_size"``, ``"resolution"`` (image side in pixels, H = W) and
    ``"seq_len"`` (tokens per sequence) :func:`build_model` accepts for this model; ``defaults`` maps each
    to the value that reproduces the reference graph.  ``defaults`` is read-only and left out of the hash.
    """

    name: str
    description: str
    parameters: tuple[str, ...]
    defaults: Mapping[str, int] = field(hash=False)


class _Net:
    """Appends forward layers in definition order; each method returns the new layer's index.

    The index is the layer's position in the forward list, which the chain backward pass pairs layers
    by, and the number in its name.  Spatial layers refuse an input smaller than their window, naming
    the resolution, because that is the only parameter a user can get wrong to cause it.
    """

    def __init__(self, model: str, resolution: int | None) -> None:
        self._model = model
        self._resolution = resolution
        self._nodes: list[Node] = []

    def shape(self, x: int) -> tuple[int, ...]:
        return self._nodes[x].out_shape

    def add(self, op: str, flop: float, out_shape: tuple[int, ...], inputs: tuple[int, ...], params: float = 0) -> int:
        index = len(self._nodes)
        self._nodes.append(Node(f"layer{index}_{op}", op, False, flop, out_shape, params, inputs))
        return index

    def input(self, shape: tuple[int, ...]) -> int:
        return self.add("InputLayer", 0.0, shape, ())

    def conv(self, x: int, channels: int, kernel: int, stride: int = 1, pad: int = 0) -> int:
        """Square ``kernel``.  FLOP (FORMULATION §3) is a multiply-add per kernel tap for every *input*
        element and output channel, whatever the stride, plus one per output element."""
        batch, in_channels, _, _ = self.shape(x)
        out = (batch, channels, *self._window("Conv2dLayer", x, kernel, stride, pad))
        params = channels * in_channels * kernel * kernel + channels
        flop = 2 * kernel * kernel * math.prod(self.shape(x)) * channels + math.prod(out)
        return self.add("Conv2dLayer", flop, out, (x,), params)

    def batch_norm(self, x: int) -> int:
        """Mean, variance, scale and shift per channel: 4 parameters each."""
        shape = self.shape(x)
        return self.add("BatchNorm2d", 2 * math.prod(shape), shape, (x,), 4 * shape[1])

    def relu(self, x: int) -> int:
        return self._elementwise("ReLULayer", x)

    def dropout(self, x: int) -> int:
        return self._elementwise("DropoutLayer", x)

    def flatten(self, x: int) -> int:
        batch, *rest = self.shape(x)
        return self.add("FlattenLayer", math.prod(self.shape(x)), (batch, math.prod(rest)), (x,))

    def skip_add(self, first: int, second: int) -> int:
        """The output takes ``first``'s shape, even where the reference adds tensors of different sizes."""
        return self.add("SkipAddLayer", math.prod(self.shape(first)), self.shape(first), (first, second))

    def max_pool(self, x: int, kernel: int, stride: int) -> int:
        return self._pool("MaxPool2d", x, kernel, stride)

    def global_avg_pool(self, x: int) -> int:
        """An average pool whose window is the whole feature map.

        The reference hard-codes the window (7 for ImageNet, 8 for CIFAR), which is the whole map only at
        its default resolution; sizing it from the map keeps the model valid at every resolution.
        """
        return self._pool("AvgPool2d", x, self.shape(x)[2], 1)

    def linear(self, x: int, features: int, *, relu: bool = False, in_features: float | None = None) -> int:
        """Linear on the last axis; FLOP does not scale with the leading axes (FORMULATION §3).

        ``relu`` fuses a ReLU (one FLOP per output element).  ``in_features`` overrides the width read
        from the input shape, for the one place the reference passes it as a float (vgg16).
        """
        width = self.shape(x)[-1] if in_features is None else in_features
        params = (width + 1) * features
        out = (*self.shape(x)[:-1], features)
        flop = 2 * params + features + (math.prod(out) if relu else 0)
        return self.add("LinearLayerReLU" if relu else "LinearLayer", flop, out, (x,), params)

    def finish(self, classes: int) -> TrainingGraph:
        """Append the cross-entropy loss and the reference's chain backward pass; validate the graph.

        With forward list ``f_0..f_{n-1}`` (``f_{n-1}`` the loss), gradient ``g_j`` (j = 1..n-1) reads
        ``f_{n-1-j}``, ``f_{n-j}`` and ``g_{j-1}`` (the loss for j = 1, so it reads the loss twice and
        :func:`build_graph` keeps one edge).  Backpropagating a layer costs about twice its forward
        pass, so ``g_j`` has twice ``f_{n-1-j}``'s FLOP; it has ``f_{n-j}``'s shape.  Skip connections
        are not followed: this chain is the reference's model of backprop, which we reproduce.
        """
        logits = len(self._nodes) - 1
        self.add("CrossEntropyLoss", math.prod(self.shape(logits)) * classes, (classes,), (logits,))
        forward = tuple(self._nodes)
        n = len(forward)
        previous = n - 1
        for j in range(1, n):
            index = len(self._nodes)
            lower, upper = n - 1 - j, n - j
            self._nodes.append(
                Node(
                    name=f"layer{index}_GradientLayer",
                    op="GradientLayer",
                    is_backward=True,
                    flop=2 * forward[lower].flop,
                    out_shape=forward[upper].out_shape,
                    param_count=0,
                    inputs=(lower, upper, previous),
                )
            )
            previous = index
        return build_graph(self._model, self._nodes, source=self._model)

    def _elementwise(self, op: str, x: int) -> int:
        return self.add(op, math.prod(self.shape(x)), self.shape(x), (x,))

    def _pool(self, op: str, x: int, kernel: int, stride: int) -> int:
        batch, channels, _, _ = self.shape(x)
        out = (batch, channels, *self._window(op, x, kernel, stride, 0))
        return self.add(op, 2 * kernel * kernel * math.prod(out), out, (x,))

    def _window(self, op: str, x: int, kernel: int, stride: int, pad: int) -> tuple[int, int]:
        """Output height and width of a sliding window over ``x``'s (H, W); refuses an empty output."""
        height, width = self.shape(x)[2:]
        out = ((height - kernel + 2 * pad) // stride + 1, (width - kernel + 2 * pad) // stride + 1)
        if min(out) < 1:
            raise GraphError(
                f"{self._model}: resolution {self._resolution} is too small for the network's "
                f"downsampling: layer{len(self._nodes)}_{op} ({kernel}x{kernel} window) would get a "
                f"{height}x{width} input"
            )
        return out


def _linear(net: _Net, *, batch_size: int) -> TrainingGraph:
    """A small MLP on flattened 28x28 images.  As in the reference, the last Linear has a ReLU too."""
    x = net.input((batch_size, 784))
    for features in (10, 120, 100, 200, 10, 10):
        x = net.relu(net.linear(x, features))
    return net.finish(classes=10)


_VGG16_STAGES = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))
"""(channels, 3x3 convolutions) per stage; each stage ends with a 2x2 max pool."""


def _vgg16(net: _Net, *, batch_size: int, resolution: int, classes: int) -> TrainingGraph:
    x = net.input((batch_size, 3, resolution, resolution))
    for channels, convs in _VGG16_STAGES:
        for _ in range(convs):
            x = net.relu(net.conv(x, channels, kernel=3, pad=1))
        x = net.max_pool(x, kernel=2, stride=2)
    x = net.flatten(x)
    # The reference computes these in-features as 512*(H/32)*(W/32), a float, so this layer's parameter
    # count and FLOP are floats.  We keep the float but take the width from the flattened map, which
    # equals the reference's value whenever the resolution is a multiple of 32 (as at the default).
    x = net.dropout(net.relu(net.linear(x, 4096, in_features=float(net.shape(x)[1]))))
    x = net.dropout(net.relu(net.linear(x, 4096)))
    net.linear(x, classes)
    return net.finish(classes)


def _resnet_plan(stages: Sequence[tuple[int, int]]) -> Iterator[tuple[int, int]]:
    """(width, stride) per block for ``stages`` of (width, blocks): each stage after the first starts by
    halving the feature map."""
    for number, (width, blocks) in enumerate(stages):
        for block in range(blocks):
            yield width, 2 if number > 0 and block == 0 else 1


def _imagenet_stem(net: _Net, batch_size: int, resolution: int) -> int:
    """7x7/2 convolution, batch norm and 3x3/2 max pool.  The reference has no ReLU before the pool."""
    x = net.input((batch_size, 3, resolution, resolution))
    x = net.batch_norm(net.conv(x, 64, kernel=7, stride=2, pad=3))
    return net.max_pool(x, kernel=3, stride=2)


def _classify(net: _Net, x: int, classes: int) -> TrainingGraph:
    """The ResNet head: global average pool, flatten, one Linear, the loss."""
    net.linear(net.flatten(net.global_avg_pool(x)), classes)
    return net.finish(classes)


def _basic_block(net: _Net, x: int, width: int, stride: int) -> int:
    """ResNet-18 block.  Reference quirk: the skip adds the block's first ReLU, not the block input, so a
    downsampling block needs no shortcut convolution."""
    relu1 = net.relu(net.batch_norm(net.conv(x, width, kernel=3, stride=stride, pad=1)))
    bn2 = net.batch_norm(net.conv(relu1, width, kernel=3, pad=1))
    return net.relu(net.skip_add(relu1, bn2))


def _bottleneck(net: _Net, x: int, width: int, stride: int) -> int:
    """ResNet-50 block (1x1 reduce with the stride, 3x3, 1x1 expand to 4*width).  Reference quirk: the skip
    adds the first ReLU (``width`` channels) to the expansion (4*width); the result has the latter's shape."""
    relu1 = net.relu(net.batch_norm(net.conv(x, width, kernel=1, stride=stride)))
    relu2 = net.relu(net.batch_norm(net.conv(relu1, width, kernel=3, pad=1)))
    bn3 = net.batch_norm(net.conv(relu2, 4 * width, kernel=1))
    return net.relu(net.skip_add(bn3, relu1))


def _cifar_block(net: _Net, x: int, width: int, stride: int) -> int:
    """resnet18_cifar block.  Reference quirk: *every* block has a 3x3 shortcut convolution (with the
    block's stride) + batch norm on the block input, added to the second ReLU."""
    relu1 = net.relu(net.batch_norm(net.conv(x, width, kernel=3, stride=stride, pad=1)))
    relu2 = net.relu(net.batch_norm(net.conv(relu1, width, kernel=3, pad=1)))
    shortcut = net.batch_norm(net.conv(x, width, kernel=3, stride=stride, pad=1))
    return net.relu(net.skip_add(relu2, shortcut))


def _resnet18(net: _Net, *, batch_size: int, resolution: int) -> TrainingGraph:
    x = _imagenet_stem(net, batch_size, resolution)
    for width, stride in _resnet_plan(((64, 2), (128, 2), (256, 2), (512, 2))):
        x = _basic_block(net, x, width, stride)
    return _classify(net, x, classes=1000)


def _resnet50(net: _Net, *, batch_size: int, resolution: int) -> TrainingGraph:
    x = _imagenet_stem(net, batch_size, resolution)
    for width, stride in _resnet_plan(((64, 3), (128, 4), (256, 6), (512, 3))):
        x = _bottleneck(net, x, width, stride)
    return _classify(net, x, classes=1000)


def _resnet18_cifar(net: _Net, *, batch_size: int, resolution: int) -> TrainingGraph:
    """3x3 stem without pooling, then three stages of two blocks (16, 32, 64 channels)."""
    x = net.input((batch_size, 3, resolution, resolution))
    x = net.batch_norm(net.conv(x, 16, kernel=3, pad=1))
    for width, stride in _resnet_plan(((16, 2), (32, 2), (64, 2))):
        x = _cifar_block(net, x, width, stride)
    return _classify(net, x, classes=10)


_HEADS, _HEAD_DIM, _HIDDEN = 12, 64, 768
"""BERT-base attention: A heads of width d, model width H."""


def _transformer_block(net: _Net, x: int, batch_size: int, seq_len: int) -> int:
    """FORMULATION §3's transformer block on ``x`` of shape (batch_size·S, H).

    The sequences of a batch are stacked along the token axis, so batch size 1 gives the reference's
    shapes; attention is per sequence, so its FLOP is the per-sequence formula times the batch size.
    Reference quirk: the second residual adds the attention projection, not the first sum.
    """
    tokens, s, a, d, h = net.shape(x)[0], seq_len, _HEADS, _HEAD_DIM, _HIDDEN
    qkv_params = 3 * h * d * a
    qkv = net.add("QueryKeyValueMatrix", tokens * qkv_params, (3 * tokens, d, a), (x,), qkv_params)
    scores = net.add("QKTMatrix", batch_size * (s * d * s * a + 2 * s * s * a), (tokens, s, a), (qkv,))
    values = net.add("QKTVMatrix", batch_size * 2 * s * s * d * a, (tokens, d * a), (scores,))
    projection = net.linear(values, h)
    first_sum = net.skip_add(x, projection)
    feed_forward = net.linear(net.linear(first_sum, 4 * h, relu=True), h)
    return net.skip_add(projection, feed_forward)


def _transformer(net: _Net, *, batch_size: int, seq_len: int, blocks: int) -> TrainingGraph:
    """``blocks`` transformer blocks, then a loss with one class per position (k = S), as the reference."""
    x = net.input((batch_size * seq_len, _HIDDEN))
    for _ in range(blocks):
        x = _transformer_block(net, x, batch_size, seq_len)
    return net.finish(classes=seq_len)


@dataclass(frozen=True, slots=True)
class _Entry:
    info: ModelInfo
    build: Callable[..., TrainingGraph]


def _entry(build: Callable[..., TrainingGraph], name: str, description: str, **defaults: int) -> _Entry:
    return _Entry(ModelInfo(name, description, tuple(defaults), MappingProxyType(defaults)), build)


_IMAGENET = {"batch_size": 1, "resolution": 224}
_CIFAR = {"batch_size": 1, "resolution": 32}
_TEXT = {"batch_size": 1, "seq_len": 512}

_MODELS: Mapping[str, _Entry] = MappingProxyType(
    {
        entry.info.name: entry
        for entry in (
            _entry(_linear, "linear", "Six-layer MLP on flattened 28x28 images, 10 classes", batch_size=1),
            _entry(partial(_vgg16, classes=1000), "vgg16", "VGG-16 for ImageNet (224x224)", **_IMAGENET),
            _entry(partial(_vgg16, classes=10), "vgg16_cifar", "VGG-16 for CIFAR-10 (32x32)", **_CIFAR),
            _entry(_resnet18, "resnet18", "ResNet-18 for ImageNet (224x224)", **_IMAGENET),
            _entry(
                _resnet18_cifar,
                "resnet18_cifar",
                "ResNet for CIFAR-10 (32x32; 16/32/64 channels), with shortcut convs",
                **_CIFAR,
            ),
            _entry(_resnet50, "resnet50", "ResNet-50 for ImageNet (224x224), bottleneck blocks", **_IMAGENET),
            _entry(
                partial(_transformer, blocks=1),
                "transformer",
                "One BERT-base transformer block (12 heads x 64, width 768)",
                **_TEXT,
            ),
            _entry(
                partial(_transformer, blocks=12),
                "bert",
                "BERT-base: 12 transformer blocks (12 heads x 64, width 768)",
                **_TEXT,
            ),
        )
    }
)


def list_models() -> tuple[ModelInfo, ...]:
    """Every built-in model, in menu order: the MLP, the CNNs by family, then the transformers."""
    return tuple(entry.info for entry in _MODELS.values())


def build_model(
    name: str, *, batch_size: int = 1, resolution: int | None = None, seq_len: int | None = None
) -> TrainingGraph:
    """Build the training graph of the built-in model ``name``.

    ``None`` means the model's default.  Raises :class:`GraphError` for an unknown model, a parameter the
    model does not have, a value that is not a positive integer, or a resolution too small for the
    network's downsampling.
    """
    entry = _MODELS.get(name)
    if entry is None:
        raise GraphError(f"unknown model {name!r}; the built-in models are: {', '.join(_MODELS)}")
    params = dict(entry.info.defaults)
    given = {"batch_size": batch_size, "resolution": resolution, "seq_len": seq_len}
    for key, value in given.items():
        if value is None:
            continue
        if key not in params:
            raise GraphError(
                f"{name}: {key} does not apply to this model (its parameters: "
                f"{', '.join(entry.info.parameters)}), got {key}={value!r}"
            )
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise GraphError(f"{name}: {key} must be a positive integer, got {value!r}")
        params[key] = int(value)
    return entry.build(_Net(name, params.get("resolution")), **params)
