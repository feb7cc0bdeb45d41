"""The training graph of an imported model: forward nodes, a loss, then a faithful autodiff backward.

Forward: one node per graph input and per operator that computes a new tensor from activations.
Operators computed from constants alone (weights, shapes) are folded away: their result is a constant
and the float initializers it came from are parameters of the operator that reads it.  View ops
(:data:`~._rules.VIEW_OPS`) are folded into their producer: their output is the producer's buffer.

Backward (``docs/onnx-backward.md``): one gradient node per activation that needs a gradient, named
``grad_<node>``, emitted in reverse topological order after the loss.  It reads the incoming gradients
of every consumer of the activation (summing them: the accumulation is part of the node) and the saved
tensors each consumer's rule names.  A gradient that is the incoming gradient unchanged (Add, Concat)
is not a new tensor, so it gets no node.  Each operator with trainable parameters gets one parameter
gradient node ``grad_<node>.params`` right after its output's gradient; nothing reads it (the optimizer
step is not part of the graph).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from types import MappingProxyType

from poet_gui.core.errors import GraphError
from poet_gui.core.model.graph import Node, TrainingGraph, build_graph
from poet_gui.core.model.onnx_import._model import OnnxModel, Op
from poet_gui.core.model.onnx_import._rules import OUT, RULES, SHAPE_OPS, VIEW_OPS, OpRule, OpShapes, estimate_rule
from poet_gui.core.model.onnx_import.lowering import ForwardStep, GradShare, Lowering, ParamGradStep, TensorRef

LOSS_OP = "CrossEntropyLoss"


@dataclass(frozen=True, slots=True)
class _Partial:
    """One consumer's share of an activation's gradient.

    ``tensor`` is what the consumer read (the producer's buffer, maybe through a view); ``consumer`` is
    the consumer's node (whose gradient is the incoming one); ``reads`` are the forward nodes whose
    saved outputs the share needs.
    """

    tensor: str
    consumer: int
    reads: tuple[int, ...]
    flop: float
    is_pass_on: bool
    position: int


@dataclass(frozen=True, slots=True)
class _ParamGrad:
    reads: tuple[int, ...]
    flop: float
    shape: tuple[int, ...]
    positions: tuple[int, ...]


def build_training_graph(model: OnnxModel) -> tuple[TrainingGraph, tuple[str, ...]]:
    """The validated training graph of ``model`` and the import's warnings (one line each)."""
    graph, warnings, _ = build_lowered_graph(model)
    return graph, warnings


def build_lowered_graph(model: OnnxModel) -> tuple[TrainingGraph, tuple[str, ...], Lowering]:
    """As :func:`build_training_graph`, plus the record of which ONNX operator, input and gradient
    share every node stands for, which an executor needs to run the graph (``lowering.py``)."""
    kept, needed = _live_ops(model)
    builder = _Builder(model, needed)
    for op in kept:
        builder.add_op(op)
    loss = builder.add_loss()
    builder.add_backward(loss)
    graph = build_graph(model.name, builder.nodes, source=model.source)
    # The builder appends in a topological order, so build_graph keeps it and stage indices are the builder's.
    assert [n.name for n in graph.nodes] == [n.name for n in builder.nodes]

    warnings: list[str] = []
    if builder.estimated:
        total = sum(builder.estimated.values())
        listed = ", ".join(f"{label} ×{count}" for label, count in sorted(builder.estimated.items()))
        warnings.append(
            f"no cost rule for {total} operator{'s' if total != 1 else ''} ({listed}): estimated at one FLOP per "
            "output element, with a gradient that reads every input and the output"
        )
    dead = [op.name for op in model.ops if op not in kept]
    if dead:
        shown = ", ".join(dead[:5]) + (", ..." if len(dead) > 5 else "")
        warnings.append(f"{len(dead)} operator{'s' if len(dead) != 1 else ''} feed no graph output, left out: {shown}")
    return graph, tuple(warnings), builder.lowering(graph, kept)


def _live_ops(model: OnnxModel) -> tuple[list[Op], set[str]]:
    """The ops some graph output depends on (in order) and every tensor those ops and outputs read."""
    needed = set(model.outputs)
    kept: list[Op] = []
    for op in reversed(model.ops):
        if any(out in needed for out in op.outputs if out):
            kept.append(op)
            needed.update(name for name in op.inputs if name)
    kept.reverse()
    return kept, needed


class _Builder:
    """Appends forward nodes, then the loss, then the backward nodes, in stage order."""

    def __init__(self, model: OnnxModel, needed: set[str]) -> None:
        self.model = model
        self.needed = needed
        self.nodes: list[Node] = []
        self.estimated: Counter[str] = Counter()
        self._taken: set[str] = set()
        self._node_of: dict[str, int] = {}
        self._pending_inputs = {name for name in model.inputs if name in needed}
        # Constant tensors -> the float initializers they were computed from (their parameters).
        self._roots: dict[str, frozenset[str]] = {
            name: frozenset({name}) if model.is_float(name) else frozenset() for name in model.initializers
        }
        self._counted: set[str] = set()
        self._requires_grad: list[bool] = []
        self._partials: list[list[_Partial]] = []
        self._param_grads: dict[int, _ParamGrad] = {}
        # What each node stands for, for :meth:`lowering`.
        self._slot_of: dict[str, int] = {}
        self._forward: dict[int, ForwardStep] = {}
        self._inputs: dict[int, str] = {}
        self._loss_reads: tuple[TensorRef, ...] = ()
        self._grads: dict[int, tuple[int, tuple[GradShare, ...]]] = {}
        self._pass_on: dict[int, GradShare] = {}
        self._grad_node: dict[int, int] = {}
        self._param_steps: dict[int, ParamGradStep] = {}
        self._loss = -1

    def _append(self, name: str, op: str, is_backward: bool, flop: float, shape: tuple[int, ...],
                params: float, inputs: list[int]) -> int:  # fmt: skip
        unique, k = name, 2
        while unique in self._taken:
            unique, k = f"{name}_{k}", k + 1
        self._taken.add(unique)
        self.nodes.append(Node(unique, op, is_backward, float(flop), shape, params, tuple(dict.fromkeys(inputs))))
        self._requires_grad.append(False)
        self._partials.append([])
        return len(self.nodes) - 1

    def _activation(self, name: str) -> int | None:
        """The node holding tensor ``name``, or None for a constant or an omitted input.  A graph
        input gets its node when first read, so inputs sit next to their first use in stage order."""
        if name in self._pending_inputs:
            self._pending_inputs.discard(name)
            self._node_of[name] = self._append(name, "Input", False, 0.0, self.model.tensor(name).shape, 0, [])
            self._slot_of[name] = 0
            self._inputs[self._node_of[name]] = name
        return self._node_of.get(name)

    def add_op(self, op: Op) -> None:
        """A node for ``op``, unless it computes a constant or is a view (then it only maps tensors)."""
        if self._fold_constant(op):
            return
        ins = op.inputs
        sources = [self._activation(t) if t else None for t in ins]
        if op.is_standard and op.op_type in VIEW_OPS and sources[0] is not None:
            self._node_of[op.outputs[0]] = sources[0]
            self._slot_of[op.outputs[0]] = self._slot_of[ins[0]]
            return

        tensor = self.model.tensor
        shapes = OpShapes(op.attrs, tuple(tensor(t).shape if t else None for t in ins), tensor(op.outputs[0]).shape)
        shape = self._node_shape(op)
        rule_of = RULES.get(op.op_type) if op.is_standard else None
        if rule_of is None:
            self.estimated[op.label] += 1
            rule = estimate_rule(shapes, math.prod(shape))
        else:
            rule = rule_of(shapes)
        params = 0
        for root in sorted(root for t in ins for root in self._roots.get(t, ()) if root not in self._counted):
            self._counted.add(root)
            params += tensor(root).elements
        index = self._append(op.name, op.op_type, False, rule.flop, shape, params,
                             [s for s in sources if s is not None])  # fmt: skip
        for out in op.outputs:
            if out:
                self._node_of[out] = index
        used = [out for out in op.outputs if out in self.needed]
        self._slot_of.update((out, k) for k, out in enumerate(used))
        self._forward[index] = ForwardStep(
            op=op,
            inputs=tuple(self._ref(t) if t else None for t in ins),
            slots=tuple(used.index(out) if out in used else None for out in op.outputs),
            output_shapes=tuple(tensor(out).shape if out in used else None for out in op.outputs),
        )
        self._record_gradients(op, index, sources, rule)

    def _fold_constant(self, op: Op) -> bool:
        """Whether ``op`` computes a constant (from constants or shapes alone); if so, its outputs
        remember the float initializers they came from, which are parameters of whoever reads them."""
        is_shape = op.is_standard and op.op_type in SHAPE_OPS
        if not is_shape and not all(not t or t in self._roots for t in op.inputs):
            return False
        roots = frozenset() if is_shape else frozenset().union(*(self._roots[t] for t in op.inputs if t))
        for out in op.outputs:
            if out:
                self._roots[out] = roots if self.model.is_float(out) else frozenset()
        return True

    def _record_gradients(self, op: Op, index: int, sources: list[int | None], rule: OpRule) -> None:
        """Note each activation input's share of its gradient, whether this node's output needs a
        gradient, and the node's parameter gradient, for :meth:`add_backward`."""

        def resolve(reads: tuple[int, ...]) -> tuple[int, ...]:
            found = (index if r == OUT else sources[r] if r < len(sources) else None for r in reads)
            return tuple(s for s in found if s is not None)

        flows = False
        for i, source in enumerate(sources):
            if source is not None and i in rule.grads:
                g = rule.grads[i]
                self._partials[source].append(
                    _Partial(op.inputs[i], index, resolve(g.reads), g.flop, g.is_pass_on, position=i)
                )
                flows = flows or self._requires_grad[source]
        trainable = [i for i, t in enumerate(op.inputs) if i in rule.grads and self._is_trainable(t)]
        self._requires_grad[index] = self.model.is_float(op.outputs[0]) and (flows or bool(trainable))
        if trainable:
            reads = tuple(dict.fromkeys(r for i in trainable for r in resolve(rule.grads[i].reads)))
            sizes = [self.model.tensor(op.inputs[i]) for i in trainable]
            grad_shape = sizes[0].shape if len(sizes) == 1 else (sum(s.elements for s in sizes),)
            self._param_grads[index] = _ParamGrad(
                reads, sum(rule.grads[i].flop for i in trainable), grad_shape, tuple(trainable)
            )

    def _is_trainable(self, name: str) -> bool:
        """A float constant computed from initializers, with more than one element: a one-element
        initializer is an epsilon, a scale or an exponent that exporters store as an initializer."""
        return bool(self._roots.get(name)) and self.model.is_float(name) and self.model.tensor(name).elements > 1

    def _node_shape(self, op: Op) -> tuple[int, ...]:
        """The node's buffer: its one used output, or all used outputs together (Split's pieces), shown
        with the first input's shape when they fill it exactly, else flat."""
        used = [self.model.tensor(out) for out in op.outputs if out in self.needed]
        if len(used) == 1:
            return used[0].shape
        total = sum(t.elements for t in used)
        first = op.inputs[0] if op.inputs else ""
        if first and self.model.tensor(first).elements == total:
            return self.model.tensor(first).shape
        return (total,)

    def add_loss(self) -> int:
        """A cross-entropy loss over every graph output that depends on the inputs: FLOP n·k per
        output of n elements and k classes (its last axis), as the zoo's loss (FORMULATION §3)."""
        outputs = [t for t in dict.fromkeys(self.model.outputs) if self._activation(t) is not None]
        if not outputs:
            raise GraphError(f"{self.model.source}: no graph output depends on the model's inputs; nothing to train")
        terms = {t: self.model.tensor(t).elements * (self.model.tensor(t).shape or (1,))[-1] for t in outputs}
        index = self._append("loss", LOSS_OP, False, sum(terms.values()), (), 0, [self._node_of[t] for t in outputs])
        self._loss = index
        for t in outputs:
            # d(loss)/d(logits) = softmax(logits) - target: it reads the logits and costs as the loss does.
            source = self._node_of[t]
            position = len(self._loss_reads)
            self._partials[source].append(_Partial(t, index, (source,), terms[t], False, position=position))
            self._loss_reads += (self._ref(t),)
        return index

    def add_backward(self, loss: int) -> None:
        """Gradient nodes in reverse stage order: an activation's gradient comes after its consumers'."""
        needs = [False] * len(self.nodes)
        needs[loss] = True
        for u in range(loss - 1, -1, -1):
            needs[u] = self._requires_grad[u] and any(needs[p.consumer] for p in self._partials[u])
        grad_of = {loss: loss}
        for u in range(loss - 1, -1, -1):
            if not needs[u]:
                continue
            node = self.nodes[u]
            live = [p for p in self._partials[u] if needs[p.consumer]]
            shares = tuple(GradShare(p.consumer, p.position, self._ref(p.tensor)) for p in live)
            if len(live) == 1 and live[0].is_pass_on:
                grad_of[u] = grad_of[live[0].consumer]
                self._pass_on[u] = shares[0]
            else:
                sums = Counter(p.tensor for p in live)
                flop = sum(p.flop for p in live) + sum((c - 1) * self.model.tensor(t).elements for t, c in sums.items())
                op = "+".join(dict.fromkeys(self.nodes[p.consumer].op for p in live)) + "Grad"
                inputs = [grad_of[p.consumer] for p in live] + [r for p in live for r in p.reads]
                grad_of[u] = self._append(f"grad_{node.name}", op, True, flop, node.out_shape, 0, inputs)
                self._grads[grad_of[u]] = (u, shares)
                self._grad_node[u] = grad_of[u]
            pg = self._param_grads.get(u)
            if pg is not None:
                k = self._append(f"grad_{node.name}.params", f"{node.op}ParamGrad", True, pg.flop, pg.shape, 0,
                                 [grad_of[u], *pg.reads])  # fmt: skip
                self._param_steps[k] = ParamGradStep(u, pg.positions)

    def _ref(self, name: str) -> TensorRef:
        """How tensor ``name`` is read: from a node's buffer (which slot, with the view's shape) or a constant."""
        node = self._node_of.get(name)
        slot = self._slot_of.get(name, 0) if node is not None else 0
        return TensorRef(name, node, slot, self.model.tensor(name).shape)

    def lowering(self, graph: TrainingGraph, kept: list[Op]) -> Lowering:
        """The record of what every node of ``graph`` stands for (see ``lowering.py``)."""
        return Lowering(
            graph=graph,
            forward=MappingProxyType(self._forward),
            inputs=MappingProxyType(self._inputs),
            loss=self._loss,
            loss_reads=self._loss_reads,
            grads=MappingProxyType(self._grads),
            pass_on=MappingProxyType(self._pass_on),
            grad_node=MappingProxyType(self._grad_node),
            param_grads=MappingProxyType(self._param_steps),
            folded=MappingProxyType({out: op for op in kept for out in op.outputs if out in self._roots}),
            trainable=frozenset(t for t in self._roots if self._is_trainable(t)),
        )
