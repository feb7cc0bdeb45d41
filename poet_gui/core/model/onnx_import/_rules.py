"""Cost and backward rules per ONNX operator: forward FLOP, and for each input the gradient's recipe.

A rule sees the operator's attributes and the static shapes of its inputs and first output and returns an
:class:`OpRule`: the forward FLOP and, per differentiable input position, an :class:`InputGrad` saying
which saved tensors computing that input's gradient reads (input positions, or :data:`OUT` for the
operator's own output), besides the incoming gradient, which it always reads, and its FLOP.  The same
recipe serves an activation input (it becomes a gradient node) and a parameter input (it becomes part
of the operator's parameter-gradient node).  A position missing from ``grads`` carries no gradient
(indices, shapes, axes, BatchNormalization's running statistics).

``docs/onnx-backward.md`` tabulates these rules; keep the two in step.  Counting conventions: a
multiply-add is 2 FLOP; an element copied or compared is 1; where FORMULATION §3 gives a per-element
figure for a layer of the zoo (ReLU, Add, Dropout, Sigmoid, Tanh, BatchNorm, pooling), we use it, so a
zoo layer and the same ONNX operator cost the same.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

#: In :attr:`InputGrad.reads`, the operator's own (first) output.
OUT = -1

Shape = tuple[int, ...]


@dataclass(frozen=True, slots=True)
class InputGrad:
    """How the gradient w.r.t. one input is formed from the incoming (output) gradient.

    ``is_pass_on``: the gradient *is* the incoming gradient, or a view of it (Add, Concat), so an
    autodiff engine allocates nothing for it; the importer then reuses the incoming gradient's node.
    """

    reads: tuple[int, ...]
    flop: float
    is_pass_on: bool = False


@dataclass(frozen=True, slots=True)
class OpRule:
    flop: float
    grads: Mapping[int, InputGrad]


@dataclass(frozen=True, slots=True)
class OpShapes:
    """What a rule may look at: attributes, the inputs' static shapes (``None`` for an omitted optional
    input) and the first output's."""

    attrs: Mapping[str, object]
    inputs: tuple[Shape | None, ...]
    output: Shape

    def n_in(self, i: int) -> int:
        shape = self.inputs[i]
        return 0 if shape is None else math.prod(shape)

    @property
    def n_out(self) -> int:
        return math.prod(self.output)

    def has(self, i: int) -> bool:
        return i < len(self.inputs) and self.inputs[i] is not None

    def broadcast_extra(self, i: int) -> int:
        """FLOP to sum an output-shaped gradient down to a broadcast input's shape (0 when not broadcast)."""
        return self.n_out if self.inputs[i] != self.output else 0


def _rule(flop: float, grads: Mapping[int, InputGrad]) -> OpRule:
    return OpRule(float(flop), MappingProxyType(dict(grads)))


def _unary(forward: int, reads: tuple[int, ...], backward: int) -> Callable[[OpShapes], OpRule]:
    """An element-wise op of ``forward`` FLOP per element whose gradient reads ``reads`` and costs
    ``backward`` FLOP per element."""

    def rule(s: OpShapes) -> OpRule:
        return _rule(forward * s.n_out, {0: InputGrad(reads, backward * s.n_out)})

    return rule


def _conv(s: OpShapes) -> OpRule:
    """Weight (M, C/group, k...): each output element is a dot product over (C/group)·Πk taps."""
    w = s.inputs[1]
    assert w is not None
    macs = s.n_out * math.prod(w[1:])
    bias = s.n_out if s.has(2) else 0
    return _rule(
        2 * macs + bias,
        {0: InputGrad((1,), 2 * macs), 1: InputGrad((0,), 2 * macs), 2: InputGrad((), s.n_out)},
    )


def _conv_transpose(s: OpShapes) -> OpRule:
    """Weight (C, M/group, k...): each *input* element is scattered to (M/group)·Πk outputs."""
    w = s.inputs[1]
    assert w is not None
    macs = s.n_in(0) * math.prod(w[1:])
    bias = s.n_out if s.has(2) else 0
    return _rule(
        2 * macs + bias,
        {0: InputGrad((1,), 2 * macs), 1: InputGrad((0,), 2 * macs), 2: InputGrad((), s.n_out)},
    )


def _gemm(s: OpShapes) -> OpRule:
    """Y = A'·B' + C with A' (M, K), B' (K, N) after the optional transposes; alpha and beta are
    folded into the products (a scale per element would be noise next to 2·M·N·K)."""
    a = s.inputs[0]
    assert a is not None
    k = a[0] if s.attrs.get("transA", 0) else a[1]
    macs = s.n_out * k
    bias = s.n_out if s.has(2) else 0
    return _rule(
        2 * macs + bias,
        {0: InputGrad((1,), 2 * macs), 1: InputGrad((0,), 2 * macs), 2: InputGrad((), s.n_out)},
    )


def _matmul(s: OpShapes) -> OpRule:
    """Y (..., M, N) = A (..., M, K) · B (..., K, N); K is A's last axis also for a 1-D A or B."""
    a = s.inputs[0]
    assert a is not None
    macs = s.n_out * a[-1]
    return _rule(2 * macs, {0: InputGrad((1,), 2 * macs), 1: InputGrad((0,), 2 * macs)})


def _add(s: OpShapes) -> OpRule:
    return _rule(s.n_out, {i: _pass_on_or_sum(s, i) for i in (0, 1)})


def _sub(s: OpShapes) -> OpRule:
    return _rule(s.n_out, {0: _pass_on_or_sum(s, 0), 1: InputGrad((), s.n_out + s.broadcast_extra(1))})


def _sum(s: OpShapes) -> OpRule:
    """Sum of k inputs (ResNet, ShuffleNet and DenseNet exports write their skip additions so): k - 1
    additions per element; each input's gradient is dY, passed on (or summed down where broadcast)."""
    k = len(s.inputs)
    return _rule((k - 1) * s.n_out, {i: _pass_on_or_sum(s, i) for i in range(k)})


def _pass_on_or_sum(s: OpShapes, i: int) -> InputGrad:
    extra = s.broadcast_extra(i)
    return InputGrad((), extra) if extra else InputGrad((), 0, is_pass_on=True)


def _mul(s: OpShapes) -> OpRule:
    """dA = dY·B, dB = dY·A: each gradient reads the other operand."""
    n = s.n_out
    return _rule(n, {0: InputGrad((1,), n + s.broadcast_extra(0)), 1: InputGrad((0,), n + s.broadcast_extra(1))})


def _div(s: OpShapes) -> OpRule:
    """dA = dY / B; dB = -dY·A / B² reads both operands."""
    n = s.n_out
    return _rule(n, {0: InputGrad((1,), n + s.broadcast_extra(0)), 1: InputGrad((0, 1), 3 * n + s.broadcast_extra(1))})


def _pow(s: OpShapes) -> OpRule:
    """dA = dY·B·A^(B-1).  The exponent gets no gradient: exporters write it as a constant."""
    n = s.n_out
    return _rule(n, {0: InputGrad((0, 1), 3 * n + s.broadcast_extra(0))})


def _normalization(forward: int) -> Callable[[OpShapes], OpRule]:
    """BatchNormalization and LayerNormalization: (X, scale, bias, ...).  dX re-forms the normalised
    input from X and the saved statistics (2), then dX = scale·invstd·(dY - mean(dY) - x̂·mean(dY·x̂))
    (7); d(scale) = Σ dY·x̂ (2 + 2); d(bias) = Σ dY (1).  The statistics (per channel or per row) are
    small next to X and are not modelled as tensors."""

    def rule(s: OpShapes) -> OpRule:
        n = s.n_in(0)
        return _rule(forward * n, {0: InputGrad((0,), 9 * n), 1: InputGrad((0,), 4 * n), 2: InputGrad((), n)})

    return rule


def _lrn(s: OpShapes) -> OpRule:
    """Local response normalisation (AlexNet, Inception): Y = X / D with
    D = (bias + alpha/size·Σ X²)^beta, the sum over ``size`` neighbouring channels.  Forward per
    element: square 1, window sum ``size``, scale and shift 2, power 1, divide 1.  The gradient
    dX = dY/D - (2·alpha·beta/size)·X·Σ_window(dY·Y/(bias + alpha/size·Σ X²)) reads X and Y, from which
    D = X / Y is re-formed (autodiff engines save D itself, a tensor the size of Y that is not
    modelled): D 1, dY/D 1, the window's terms 2 + ``size``, scale by X 2, subtract 1."""
    size = int(s.attrs.get("size", 1))  # type: ignore[call-overload]
    n = s.n_out
    return _rule((size + 5) * n, {0: InputGrad((0, OUT), (size + 7) * n)})


def _max_pool(s: OpShapes) -> OpRule:
    """The gradient scatters dY to each window's arg-max: it reads the input and the indices, for
    which the output stands in (same element count)."""
    taps = math.prod(_ints(s.attrs.get("kernel_shape", ())))
    return _rule(2 * taps * s.n_out, {0: InputGrad((0, OUT), s.n_in(0))})


def _average_pool(s: OpShapes) -> OpRule:
    taps = math.prod(_ints(s.attrs.get("kernel_shape", ())))
    return _rule(2 * taps * s.n_out, {0: InputGrad((), taps * s.n_out)})


def _global_pool(s: OpShapes) -> OpRule:
    return _rule(2 * s.n_in(0), {0: InputGrad((), s.n_in(0))})


def _global_max_pool(s: OpShapes) -> OpRule:
    """As :func:`_max_pool`: the gradient reads the input and the output (standing in for the indices)."""
    return _rule(s.n_in(0), {0: InputGrad((0, OUT), s.n_in(0))})


def _concat(s: OpShapes) -> OpRule:
    """Each input's gradient is a slice (a view) of dY."""
    return _rule(s.n_out, {i: InputGrad((), 0, is_pass_on=True) for i in range(len(s.inputs))})


def _split(s: OpShapes) -> OpRule:
    """The gradient concatenates the pieces' gradients (a copy, as the forward split is)."""
    n = s.n_in(0)
    return _rule(n, {0: InputGrad((), n)})


def _slice(s: OpShapes) -> OpRule:
    """The gradient is a zero tensor of the input's shape with dY copied into the slice."""
    return _rule(s.n_out, {0: InputGrad((), s.n_in(0))})


def _gather(s: OpShapes) -> OpRule:
    """The gradient (an embedding table's, typically) scatter-adds dY at the indices, which it reads."""
    return _rule(s.n_out, {0: InputGrad((1,), s.n_in(0) + s.n_out)})


def _copy(s: OpShapes) -> OpRule:
    """Transpose, Cast, Expand: the gradient moves dY back (Expand: sums it) element by element."""
    return _rule(s.n_out, {0: InputGrad((), s.n_out)})


def _reduce(s: OpShapes) -> OpRule:
    """ReduceMean, ReduceSum: the gradient broadcasts dY back to the input's shape."""
    return _rule(s.n_in(0), {0: InputGrad((), s.n_in(0))})


def _ints(value: object) -> tuple[int, ...]:
    return tuple(int(v) for v in value) if isinstance(value, list | tuple) else ()


#: Standard-domain ops with a cost rule.  View ops (:data:`VIEW_OPS`) and ops computed from constants
#: alone never become nodes and need none.
RULES: Mapping[str, Callable[[OpShapes], OpRule]] = MappingProxyType(
    {
        "Conv": _conv,
        "ConvTranspose": _conv_transpose,
        "Gemm": _gemm,
        "MatMul": _matmul,
        "Add": _add,
        "Sum": _sum,
        "Sub": _sub,
        "Mul": _mul,
        "Div": _div,
        "Pow": _pow,
        "Relu": _unary(1, (OUT,), 1),
        "LeakyRelu": _unary(2, (0,), 2),
        "Sigmoid": _unary(4, (OUT,), 3),
        "Tanh": _unary(100, (OUT,), 3),
        "Gelu": _unary(8, (0,), 10),
        "Erf": _unary(4, (0,), 5),
        "Softmax": _unary(5, (OUT,), 4),
        "LogSoftmax": _unary(5, (OUT,), 4),
        "Sqrt": _unary(1, (OUT,), 2),
        "Neg": _unary(1, (), 1),
        "Clip": _unary(1, (0,), 1),
        # Dropout's gradient multiplies by the mask; the output stands in for it (its zeros are the mask).
        "Dropout": _unary(1, (OUT,), 1),
        "BatchNormalization": _normalization(2),
        "LayerNormalization": _normalization(8),
        "LRN": _lrn,
        "MaxPool": _max_pool,
        "AveragePool": _average_pool,
        "GlobalAveragePool": _global_pool,
        "GlobalMaxPool": _global_max_pool,
        "Concat": _concat,
        "Split": _split,
        "Slice": _slice,
        "Gather": _gather,
        "Transpose": _copy,
        "Cast": _copy,
        "Expand": _copy,
        "ReduceMean": _reduce,
        "ReduceSum": _reduce,
    }
)

#: Ops that copy nothing: their output is the producer's buffer seen with another shape.
VIEW_OPS = frozenset({"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity"})

#: Ops whose output depends only on constants or on shapes, never on an activation's values.
SHAPE_OPS = frozenset({"Constant", "Shape", "Size"})


def estimate_rule(s: OpShapes, elements: int) -> OpRule:
    """An op without a rule: ``elements`` (its output size) FLOP forward; each float input's gradient
    reads every input and the output (we cannot know what it saves) and costs twice that."""
    everything = (*range(len(s.inputs)), OUT)
    return _rule(elements, {i: InputGrad(everything, 2 * elements) for i in range(len(s.inputs))})
