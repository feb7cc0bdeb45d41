"""PyTorch kernels per ONNX operator: the forward, and per input the backward that the importer's rule describes.

Each backward reads the incoming gradient and only the saved tensors that ``docs/onnx-backward.md``
lists for that operator and input (the executor hands it an accessor that refuses any other
activation), so running a plan here proves the planned memory is enough: a kernel that needed a
tensor the plan dropped would fail, not quietly read it.  Where the table lists more than the
kernel needs (BatchNormalization's dX in inference mode, MaxPool's Y), the kernel reads less,
never more.

The forward kernels are ordinary differentiable ``torch`` calls, so the same functions also build
the model for ``torch.autograd``, the independent reference the hand-written backward is compared
against.  A kernel's ``check`` refuses attributes it does not implement (asymmetric padding, say)
before anything runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import torch
import torch.nn.functional as F
from torch import Tensor

#: What a backward kernel asks for: an input position, or :data:`OUT` for the operator's first output.
OUT = -1


@dataclass(frozen=True, slots=True)
class Shapes:
    """The static shapes of one operator's inputs (None when omitted) and outputs (None when unused)."""

    inputs: tuple[tuple[int, ...] | None, ...]
    outputs: tuple[tuple[int, ...] | None, ...]


Attrs = Mapping[str, object]
Forward = Callable[[Sequence[Tensor | None], Attrs, Shapes], tuple[Tensor, ...]]
#: ``(incoming gradients per output (None: unused output), saved-tensor accessor, attrs, shapes) -> gradient``.
Backward = Callable[[Sequence[Tensor | None], Callable[[int], Tensor], Attrs, Shapes], Tensor]
Check = Callable[[Attrs, Shapes], str | None]


@dataclass(frozen=True, slots=True)
class Kernel:
    forward: Forward
    grads: Mapping[int, Backward]
    check: Check | None = None


def unbroadcast(g: Tensor, shape: tuple[int, ...]) -> Tensor:
    """Sum ``g`` down to ``shape`` (the reverse of NumPy broadcasting)."""
    if tuple(g.shape) == tuple(shape):
        return g
    lead = g.dim() - len(shape)
    if lead:
        g = g.sum(dim=tuple(range(lead)))
    dims = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if dims:
        g = g.sum(dim=dims, keepdim=True)
    return g.reshape(shape)


def _int(a: Attrs, name: str, default: int) -> int:
    return int(a.get(name, default))  # type: ignore[call-overload]


def _ints(a: Attrs, name: str, default: Sequence[int]) -> list[int]:
    return [int(v) for v in a.get(name, default)]  # type: ignore[union-attr]


def _float(a: Attrs, name: str, default: float) -> float:
    return float(a.get(name, default))  # type: ignore[arg-type]


def _in(s: Shapes, i: int) -> tuple[int, ...]:
    shape = s.inputs[i]
    assert shape is not None
    return shape


def _out(s: Shapes) -> tuple[int, ...]:
    shape = s.outputs[0]
    assert shape is not None
    return shape


# --- element-wise -------------------------------------------------------------------------------------------


def _binary(fn: Callable[[Tensor, Tensor], Tensor]) -> Forward:
    return lambda x, a, s: (fn(x[0], x[1]),)  # type: ignore[arg-type]


def _pass(i: int) -> Backward:
    return lambda dy, get, a, s: unbroadcast(dy[0], _in(s, i))  # type: ignore[arg-type]


_ADD = Kernel(_binary(torch.add), {0: _pass(0), 1: _pass(1)})
_SUB = Kernel(_binary(torch.sub), {0: _pass(0), 1: lambda dy, get, a, s: unbroadcast(-dy[0], _in(s, 1))})
_MUL = Kernel(
    _binary(torch.mul),
    {
        0: lambda dy, get, a, s: unbroadcast(dy[0] * get(1), _in(s, 0)),
        1: lambda dy, get, a, s: unbroadcast(dy[0] * get(0), _in(s, 1)),
    },
)
_DIV = Kernel(
    _binary(torch.div),
    {
        0: lambda dy, get, a, s: unbroadcast(dy[0] / get(1), _in(s, 0)),
        1: lambda dy, get, a, s: unbroadcast(-dy[0] * get(0) / (get(1) * get(1)), _in(s, 1)),
    },
)
_POW = Kernel(
    _binary(torch.pow),
    {0: lambda dy, get, a, s: unbroadcast(dy[0] * get(1) * torch.pow(get(0), get(1) - 1), _in(s, 0))},
)


def _sum_forward(x: Sequence[Tensor | None], a: Attrs, s: Shapes) -> tuple[Tensor, ...]:
    total = x[0]
    assert total is not None
    for t in x[1:]:
        total = total + t
    return (total,)


class _AnyInputGrads(Mapping[int, Backward]):
    """The backward of an operator with any number of inputs: a gradient for every input index, made
    on demand (there is no fixed list to iterate)."""

    def _grad(self, i: int) -> Backward:
        raise NotImplementedError

    def __getitem__(self, i: int) -> Backward:
        if i < 0:
            raise KeyError(i)
        return self._grad(i)

    def __iter__(self):
        return iter(())

    def __len__(self) -> int:
        return 0

    def __contains__(self, i: object) -> bool:
        return isinstance(i, int) and i >= 0


class _SumGrads(_AnyInputGrads):
    """Sum takes any number of inputs; each one's gradient is dY, summed down where broadcast."""

    def _grad(self, i: int) -> Backward:
        return _pass(i)


def _unary(fn: Callable[[Tensor], Tensor], grad: Backward) -> Kernel:
    return Kernel(lambda x, a, s: (fn(x[0]),), {0: grad})  # type: ignore[arg-type]


_SQRT_2_OVER_PI = 2.0 / math.sqrt(math.pi)

_RELU = _unary(torch.relu, lambda dy, get, a, s: dy[0] * (get(OUT) > 0).to(dy[0].dtype))
_SIGMOID = _unary(torch.sigmoid, lambda dy, get, a, s: dy[0] * get(OUT) * (1 - get(OUT)))
_TANH = _unary(torch.tanh, lambda dy, get, a, s: dy[0] * (1 - get(OUT) * get(OUT)))
_ERF = _unary(torch.erf, lambda dy, get, a, s: dy[0] * _SQRT_2_OVER_PI * torch.exp(-get(0) * get(0)))
_SQRT = _unary(torch.sqrt, lambda dy, get, a, s: dy[0] / (2 * get(OUT)))
_NEG = _unary(torch.neg, lambda dy, get, a, s: -dy[0])
_LEAKY_RELU = Kernel(
    lambda x, a, s: (F.leaky_relu(x[0], _float(a, "alpha", 0.01)),),  # type: ignore[arg-type]
    {0: lambda dy, get, a, s: torch.where(get(0) > 0, dy[0], dy[0] * _float(a, "alpha", 0.01))},
)


def _clip_forward(x: Sequence[Tensor | None], a: Attrs, s: Shapes) -> tuple[Tensor, ...]:
    low, high = (x[1] if len(x) > 1 else None), (x[2] if len(x) > 2 else None)
    if low is None and high is None:  # both bounds omitted: the identity (torch.clamp refuses no bounds)
        return (x[0].clone(),)  # type: ignore[union-attr]
    return (torch.clamp(x[0], low, high),)  # type: ignore[arg-type]


def _clip_grad(dy: Sequence[Tensor | None], get: Callable[[int], Tensor], a: Attrs, s: Shapes) -> Tensor:
    x = get(0)
    keep = torch.ones_like(x, dtype=torch.bool)
    if len(s.inputs) > 1 and s.inputs[1] is not None:
        keep &= x >= get(1)
    if len(s.inputs) > 2 and s.inputs[2] is not None:
        keep &= x <= get(2)
    return dy[0] * keep.to(x.dtype)  # type: ignore[operator]


def _softmax_axis(a: Attrs) -> int:
    return _int(a, "axis", -1)


_SOFTMAX = Kernel(
    lambda x, a, s: (torch.softmax(x[0], _softmax_axis(a)),),  # type: ignore[arg-type]
    {0: lambda dy, get, a, s: get(OUT) * (dy[0] - (dy[0] * get(OUT)).sum(_softmax_axis(a), keepdim=True))},
)
_LOG_SOFTMAX = Kernel(
    lambda x, a, s: (torch.log_softmax(x[0], _softmax_axis(a)),),  # type: ignore[arg-type]
    {0: lambda dy, get, a, s: dy[0] - torch.exp(get(OUT)) * dy[0].sum(_softmax_axis(a), keepdim=True)},
)


# --- products -----------------------------------------------------------------------------------------------


def _matmul_check(a: Attrs, s: Shapes) -> str | None:
    if len(_in(s, 0)) < 2 or len(_in(s, 1)) < 2:
        return "a 1-D operand"
    return None


_MATMUL = Kernel(
    _binary(torch.matmul),
    {
        0: lambda dy, get, a, s: unbroadcast(dy[0] @ get(1).mT, _in(s, 0)),  # type: ignore[operator]
        1: lambda dy, get, a, s: unbroadcast(get(0).mT @ dy[0], _in(s, 1)),
    },
    _matmul_check,
)


def _gemm_forward(x: Sequence[Tensor | None], a: Attrs, s: Shapes) -> tuple[Tensor, ...]:
    p, q = x[0], x[1]
    assert p is not None and q is not None
    p = p.T if _int(a, "transA", 0) else p
    q = q.T if _int(a, "transB", 0) else q
    y = p @ q
    alpha, beta = _float(a, "alpha", 1.0), _float(a, "beta", 1.0)
    if alpha != 1.0:
        y = y * alpha
    if len(x) > 2 and x[2] is not None:
        y = y + (x[2] if beta == 1.0 else beta * x[2])
    return (y,)


def _gemm_da(dy: Sequence[Tensor | None], get: Callable[[int], Tensor], a: Attrs, s: Shapes) -> Tensor:
    q = get(1).T if _int(a, "transB", 0) else get(1)
    g = dy[0] @ q.T  # type: ignore[operator]
    g = g * _float(a, "alpha", 1.0) if _float(a, "alpha", 1.0) != 1.0 else g
    return g.T if _int(a, "transA", 0) else g


def _gemm_db(dy: Sequence[Tensor | None], get: Callable[[int], Tensor], a: Attrs, s: Shapes) -> Tensor:
    p = get(0).T if _int(a, "transA", 0) else get(0)
    g = p.T @ dy[0]
    g = g * _float(a, "alpha", 1.0) if _float(a, "alpha", 1.0) != 1.0 else g
    return g.T if _int(a, "transB", 0) else g


def _gemm_dc(dy: Sequence[Tensor | None], get: Callable[[int], Tensor], a: Attrs, s: Shapes) -> Tensor:
    beta = _float(a, "beta", 1.0)
    return unbroadcast(dy[0] if beta == 1.0 else beta * dy[0], _in(s, 2))  # type: ignore[arg-type]


_GEMM = Kernel(_gemm_forward, {0: _gemm_da, 1: _gemm_db, 2: _gemm_dc})


# --- convolution and pooling --------------------------------------------------------------------------------


def _spatial(s: Shapes) -> int:
    return len(_in(s, 0)) - 2


def _pads(a: Attrs, rank: int) -> list[int]:
    pads = _ints(a, "pads", [0] * (2 * rank))
    return pads[:rank]


def _window_check(a: Attrs, s: Shapes) -> str | None:
    rank = _spatial(s)
    auto_pad = a.get("auto_pad", b"NOTSET")
    if (auto_pad.decode() if isinstance(auto_pad, bytes) else str(auto_pad)) not in ("NOTSET", "VALID"):
        return f"auto_pad {auto_pad!r}"
    pads = _ints(a, "pads", [0] * (2 * rank))
    if pads[:rank] != pads[rank:]:
        return f"asymmetric pads {pads}"
    if rank not in (1, 2, 3):
        return f"{rank} spatial dimensions"
    return None


def _conv_args(a: Attrs, s: Shapes) -> dict[str, object]:
    rank = _spatial(s)
    return {
        "stride": _ints(a, "strides", [1] * rank),
        "padding": _pads(a, rank),
        "dilation": _ints(a, "dilations", [1] * rank),
        "groups": _int(a, "group", 1),
    }


_CONV_FN = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def _conv_forward(x: Sequence[Tensor | None], a: Attrs, s: Shapes) -> tuple[Tensor, ...]:
    bias = x[2] if len(x) > 2 else None
    return (_CONV_FN[_spatial(s)](x[0], x[1], bias, **_conv_args(a, s)),)  # type: ignore[arg-type]


def _conv_backward(dy: Tensor, x: Tensor, w: Tensor, a: Attrs, s: Shapes, mask: list[bool]) -> tuple[Tensor, ...]:
    args = _conv_args(a, s)
    rank = _spatial(s)
    return torch.ops.aten.convolution_backward(
        dy, x, w, None, args["stride"], args["padding"], args["dilation"], False, [0] * rank, args["groups"], mask
    )


def _conv_dx(dy: Sequence[Tensor | None], get: Callable[[int], Tensor], a: Attrs, s: Shapes) -> Tensor:
    # The input's values are not needed for dX: a tensor of its shape with no data stands in.
    x = dy[0].new_empty(1).expand(_in(s, 0))  # type: ignore[union-attr]
    return _conv_backward(dy[0], x, get(1), a, s, [True, False, False])[0]  # type: ignore[arg-type]


def _conv_dw(dy: Sequence[Tensor | None], get: Callable[[int], Tensor], a: Attrs, s: Shapes) -> Tensor:
    w = dy[0].new_empty(1).expand(_in(s, 1))  # type: ignore[union-attr]
    return _conv_backward(dy[0], get(0), w, a, s, [False, True, False])[1]  # type: ignore[arg-type]


def _conv_db(dy: Sequence[Tensor | None], get: Callable[[int], Tensor], a: Attrs, s: Shapes) -> Tensor:
    g = dy[0]
    assert g is not None
    return g.sum(dim=(0, *range(2, g.dim())))


_CONV = Kernel(_conv_forward, {0: _conv_dx, 1: _conv_dw, 2: _conv_db}, _window_check)


def _pool_args(a: Attrs, s: Shapes) -> dict[str, object]:
    rank = _spatial(s)
    return {
        "kernel_size": _ints(a, "kernel_shape", []),
        "stride": _ints(a, "strides", [1] * rank),
        "padding": _pads(a, rank),
        "ceil_mode": bool(_int(a, "ceil_mode", 0)),
    }


def _max_pool_check(a: Attrs, s: Shapes) -> str | None:
    if len(s.outputs) > 1 and s.outputs[1] is not None:
        return "its Indices output"
    if _spatial(s) != 2:
        return "pooling that is not 2-D"
    if _ints(a, "dilations", [1, 1]) != [1, 1]:
        return "dilations"
    return _window_check(a, s)


def _max_pool_forward(x: Sequence[Tensor | None], a: Attrs, s: Shapes) -> tuple[Tensor, ...]:
    return (F.max_pool2d(x[0], **_pool_args(a, s)),)  # type: ignore[arg-type]


def _max_pool_dx(dy: Sequence[Tensor | None], get: Callable[[int], Tensor], a: Attrs, s: Shapes) -> Tensor:
    # The arg-max indices are formed again from X, which the rule reads (Y stands in for them in the plan).
    args = _pool_args(a, s)
    x = get(0)
    _, indices = F.max_pool2d(x, return_indices=True, **args)  # type: ignore[arg-type]
    return torch.ops.aten.max_pool2d_with_indices_backward(
        dy[0], x, args["kernel_size"], args["stride"], args["padding"], [1, 1], args["ceil_mode"], indices
    )


_MAX_POOL = Kernel(_max_pool_forward, {0: _max_pool_dx}, _max_pool_check)


def _avg_pool_check(a: Attrs, s: Shapes) -> str | None:
    return "pooling that is not 2-D" if _spatial(s) != 2 else _window_check(a, s)


def _avg_pool_forward(x: Sequence[Tensor | None], a: Attrs, s: Shapes) -> tuple[Tensor, ...]:
    include = bool(_int(a, "count_include_pad", 0))
    return (F.avg_pool2d(x[0], count_include_pad=include, **_pool_args(a, s)),)  # type: ignore[arg-type]


def _avg_pool_dx(dy: Sequence[Tensor | None], get: Callable[[int], Tensor], a: Attrs, s: Shapes) -> Tensor:
    args = _pool_args(a, s)
    x = dy[0].new_empty(1).expand(_in(s, 0))  # type: ignore[union-attr]
    return torch.ops.aten.avg_pool2d_backward(
        dy[0], x, args["kernel_size"], args["stride"], args["padding"], args["ceil_mode"],
        bool(_int(a, "count_include_pad", 0)), None,
    )  # fmt: skip


_AVG_POOL = Kernel(_avg_pool_forward, {0: _avg_pool_dx}, _avg_pool_check)


def _global_avg_forward(x: Sequence[Tensor | None], a: Attrs, s: Shapes) -> tuple[Tensor, ...]:
    t = x[0]
    assert t is not None
    return (t.mean(dim=tuple(range(2, t.dim())), keepdim=True),)


def _global_avg_dx(dy: Sequence[Tensor | None], get: Callable[[int], Tensor], a: Attrs, s: Shapes) -> Tensor:
    shape = _in(s, 0)
    return dy[0].expand(shape) / math.prod(shape[2:])  # type: ignore[union-attr]


_GLOBAL_AVG = Kernel(_global_avg_forward, {0: _global_avg_dx})


# --- normalisation ------------------------------------------------------------------------------------------


def _bn_training(a: Attrs) -> bool:
    return bool(_int(a, "training_mode", 0))


def _bn_check(a: Attrs, s: Shapes) -> str | None:
    if any(o is not None for o in s.outputs[1:]):
        return "its running-statistics outputs"
    return None


def _bn_forward(x: Sequence[Tensor | None], a: Attrs, s: Shapes) -> tuple[Tensor, ...]:
    eps = _float(a, "epsilon", 1e-5)
    if _bn_training(a):
        return (F.batch_norm(x[0], None, None, x[1], x[2], training=True, eps=eps),)  # type: ignore[arg-type]
    return (F.batch_norm(x[0], x[3], x[4], x[1], x[2], training=False, eps=eps),)  # type: ignore[arg-type]


def _bn_stats(x: Tensor, get: Callable[[int], Tensor], a: Attrs) -> tuple[Tensor, Tensor, tuple[int, ...]]:
    """Per-channel mean and 1/std, as the forward used them: the batch's (training mode) or the
    running ones, shaped to broadcast over X; and the axes the statistics reduce over."""
    dims = (0, *range(2, x.dim()))
    view = (1, -1) + (1,) * (x.dim() - 2)
    eps = _float(a, "epsilon", 1e-5)
    if _bn_training(a):
        mean = x.mean(dim=dims, keepdim=True)
        var = ((x - mean) ** 2).mean(dim=dims, keepdim=True)
    else:
        mean, var = get(3).reshape(view), get(4).reshape(view)
    return mean, torch.rsqrt(var + eps), dims


def _bn_dx(dy: Sequence[Tensor | None], get: Callable[[int], Tensor], a: Attrs, s: Shapes) -> Tensor:
    g = dy[0]
    assert g is not None
    view = (1, -1) + (1,) * (g.dim() - 2)
    scale = get(1).reshape(view)
    if not _bn_training(a):
        # Running statistics are constants: dX is an affine map of dY and X is not needed.
        var = get(4).reshape(view)
        return g * scale * torch.rsqrt(var + _float(a, "epsilon", 1e-5))
    x = get(0)
    mean, rstd, dims = _bn_stats(x, get, a)
    xhat = (x - mean) * rstd
    count = x.numel() // x.shape[1]
    sum_g = g.sum(dim=dims, keepdim=True)
    sum_gx = (g * xhat).sum(dim=dims, keepdim=True)
    return scale * rstd / count * (count * g - sum_g - xhat * sum_gx)


def _bn_dscale(dy: Sequence[Tensor | None], get: Callable[[int], Tensor], a: Attrs, s: Shapes) -> Tensor:
    g = dy[0]
    assert g is not None
    x = get(0)
    mean, rstd, dims = _bn_stats(x, get, a)
    return (g * (x - mean) * rstd).sum(dim=dims)


def _bn_dbias(dy: Sequence[Tensor | None], get: Callable[[int], Tensor], a: Attrs, s: Shapes) -> Tensor:
    g = dy[0]
    assert g is not None
    return g.sum(dim=(0, *range(2, g.dim())))


_BATCH_NORM = Kernel(_bn_forward, {0: _bn_dx, 1: _bn_dscale, 2: _bn_dbias}, _bn_check)


def _ln_dims(a: Attrs, s: Shapes) -> tuple[int, ...]:
    rank = len(_in(s, 0))
    axis = _int(a, "axis", -1) % rank
    return tuple(range(axis, rank))


def _ln_check(a: Attrs, s: Shapes) -> str | None:
    if any(o is not None for o in s.outputs[1:]):
        return "its Mean and InvStdDev outputs"
    normalised = tuple(_in(s, 0)[d] for d in _ln_dims(a, s))
    if _in(s, 1) != normalised or (len(s.inputs) > 2 and s.inputs[2] not in (None, normalised)):
        return "a scale or bias that is broadcast"
    return None


def _ln_forward(x: Sequence[Tensor | None], a: Attrs, s: Shapes) -> tuple[Tensor, ...]:
    t = x[0]
    assert t is not None
    shape = [t.shape[d] for d in _ln_dims(a, s)]
    bias = x[2] if len(x) > 2 else None
    return (F.layer_norm(t, shape, x[1], bias, eps=_float(a, "epsilon", 1e-5)),)


def _ln_xhat(x: Tensor, a: Attrs, s: Shapes) -> tuple[Tensor, Tensor]:
    dims = _ln_dims(a, s)
    mean = x.mean(dim=dims, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=dims, keepdim=True)
    rstd = torch.rsqrt(var + _float(a, "epsilon", 1e-5))
    return (x - mean) * rstd, rstd


def _ln_dx(dy: Sequence[Tensor | None], get: Callable[[int], Tensor], a: Attrs, s: Shapes) -> Tensor:
    xhat, rstd = _ln_xhat(get(0), a, s)
    dims = _ln_dims(a, s)
    g = dy[0] * get(1)  # type: ignore[operator]
    return rstd * (g - g.mean(dim=dims, keepdim=True) - xhat * (g * xhat).mean(dim=dims, keepdim=True))


def _ln_lead(a: Attrs, s: Shapes) -> tuple[int, ...]:
    return tuple(range(_ln_dims(a, s)[0]))


def _ln_dscale(dy: Sequence[Tensor | None], get: Callable[[int], Tensor], a: Attrs, s: Shapes) -> Tensor:
    xhat, _ = _ln_xhat(get(0), a, s)
    return (dy[0] * xhat).sum(dim=_ln_lead(a, s))  # type: ignore[operator]


def _ln_dbias(dy: Sequence[Tensor | None], get: Callable[[int], Tensor], a: Attrs, s: Shapes) -> Tensor:
    return dy[0].sum(dim=_ln_lead(a, s))  # type: ignore[union-attr]


_LAYER_NORM = Kernel(_ln_forward, {0: _ln_dx, 1: _ln_dscale, 2: _ln_dbias}, _ln_check)


# --- moving data --------------------------------------------------------------------------------------------


def _perm(a: Attrs, s: Shapes) -> list[int]:
    return _ints(a, "perm", list(reversed(range(len(_in(s, 0))))))


def _inverse(perm: list[int]) -> list[int]:
    inverse = [0] * len(perm)
    for i, p in enumerate(perm):
        inverse[p] = i
    return inverse


_TRANSPOSE = Kernel(
    lambda x, a, s: (x[0].permute(_perm(a, s)),),  # type: ignore[union-attr]
    {0: lambda dy, get, a, s: dy[0].permute(_inverse(_perm(a, s)))},  # type: ignore[union-attr]
)


def _axis(a: Attrs, s: Shapes, default: int) -> int:
    return _int(a, "axis", default) % len(_in(s, 0))


def _split_sizes(a: Attrs, s: Shapes) -> list[int]:
    axis = _axis(a, s, 0)
    return [shape[axis] for shape in s.outputs]  # type: ignore[index]


def _split_check(a: Attrs, s: Shapes) -> str | None:
    return "an output of unknown shape" if any(o is None for o in s.outputs) else None


def _split_forward(x: Sequence[Tensor | None], a: Attrs, s: Shapes) -> tuple[Tensor, ...]:
    return tuple(torch.split(x[0], _split_sizes(a, s), dim=_axis(a, s, 0)))  # type: ignore[arg-type]


def _split_dx(dy: Sequence[Tensor | None], get: Callable[[int], Tensor], a: Attrs, s: Shapes) -> Tensor:
    like = next(g for g in dy if g is not None)
    pieces = [g if g is not None else like.new_zeros(shape) for g, shape in zip(dy, s.outputs, strict=True)]  # type: ignore[arg-type]
    return torch.cat(pieces, dim=_axis(a, s, 0))


_SPLIT = Kernel(_split_forward, {0: _split_dx}, _split_check)


class _ConcatGrads(_AnyInputGrads):
    """Concat takes any number of inputs; each one's gradient is its slice of dY."""

    def _grad(self, i: int) -> Backward:
        def grad(dy: Sequence[Tensor | None], get: Callable[[int], Tensor], a: Attrs, s: Shapes) -> Tensor:
            axis = _axis(a, s, 0)
            start = sum(shape[axis] for shape in s.inputs[:i])  # type: ignore[index]
            return dy[0].narrow(axis, start, _in(s, i)[axis])  # type: ignore[union-attr]

        return grad


_CONCAT = Kernel(lambda x, a, s: (torch.cat(list(x), dim=_axis(a, s, 0)),), _ConcatGrads())  # type: ignore[arg-type]


#: Operators replay can run, by ONNX op type (standard domain).
#: Operators whose definition changed in the opset given, which their kernel follows: before it, Clip took
#: its bounds as attributes (opset 11), and Softmax / LogSoftmax flattened the input to 2-D from their axis
#: (default 1) instead of normalising along one axis (default -1, opset 13). An older model is refused
#: rather than replayed with another function than the one it defines.
KERNEL_SINCE_OPSET: Mapping[str, int] = MappingProxyType({"Clip": 11, "Softmax": 13, "LogSoftmax": 13})

KERNELS: Mapping[str, Kernel] = MappingProxyType(
    {
        "Add": _ADD,
        "Sum": Kernel(_sum_forward, _SumGrads()),
        "Sub": _SUB,
        "Mul": _MUL,
        "Div": _DIV,
        "Pow": _POW,
        "Relu": _RELU,
        "LeakyRelu": _LEAKY_RELU,
        "Sigmoid": _SIGMOID,
        "Tanh": _TANH,
        "Erf": _ERF,
        "Sqrt": _SQRT,
        "Neg": _NEG,
        "Clip": Kernel(_clip_forward, {0: _clip_grad}),
        "Softmax": _SOFTMAX,
        "LogSoftmax": _LOG_SOFTMAX,
        "MatMul": _MATMUL,
        "Gemm": _GEMM,
        "Conv": _CONV,
        "MaxPool": _MAX_POOL,
        "AveragePool": _AVG_POOL,
        "GlobalAveragePool": _GLOBAL_AVG,
        "BatchNormalization": _BATCH_NORM,
        "LayerNormalization": _LAYER_NORM,
        "Transpose": _TRANSPOSE,
        "Split": _SPLIT,
        "Concat": _CONCAT,
    }
)
