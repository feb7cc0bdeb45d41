"""What each node of an imported training graph stands for: the record an executor runs it from.

The importer turns ONNX operators into graph nodes (folding views and constants, merging partial
gradients into one node, skipping pass-on gradients); the graph alone no longer says which operator,
which input position or which gradient share a node computes. This record keeps that, stage index by
stage index, so that an executor (``poet_gui/core/replay/``) can run exactly the graph that was
planned, each backward node from exactly the tensors it reads (``docs/onnx-backward.md``). It holds
no weights and no framework types: it is plain data about the graph.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from poet_gui.core.model.graph import TrainingGraph
from poet_gui.core.model.onnx_import._model import Op


@dataclass(frozen=True, slots=True)
class TensorRef:
    """How an operator reads ONNX tensor ``name``: from slot ``slot`` of node ``node``'s buffer, seen with
    ``shape`` (a folded view such as Reshape gives another shape to the same bytes), or, with ``node``
    None, as a constant (an initializer or a folded constant)."""

    name: str
    node: int | None
    slot: int
    shape: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ForwardStep:
    """The ONNX operator a forward node computes. ``inputs``: per input position, how it is read
    (None for an omitted optional input); ``slots``: per ONNX output, its slot in the node's buffer,
    None for an output nobody reads (the buffer holds the used outputs, flat, in output order), and
    ``output_shapes`` their shapes (None likewise)."""

    op: Op
    inputs: tuple[TensorRef | None, ...]
    slots: tuple[int | None, ...]
    output_shapes: tuple[tuple[int, ...] | None, ...]


@dataclass(frozen=True, slots=True)
class GradShare:
    """One reader's share of an activation's gradient: node ``consumer`` read ``target`` at input
    ``position`` (for the loss: the position among the loss's outputs)."""

    consumer: int
    position: int
    target: TensorRef


@dataclass(frozen=True, slots=True)
class ParamGradStep:
    """A parameter-gradient node: the gradients of forward node ``of``'s inputs at ``positions``
    (its trainable parameters), one after the other, flat when there are several."""

    of: int
    positions: tuple[int, ...]


@dataclass(frozen=True)
class Lowering:
    """Per stage index of ``graph``: ``forward`` (operator nodes), ``inputs`` (Input nodes and the graph
    input each reads), ``loss`` and the outputs it reads, ``grads`` (gradient node -> the forward
    node whose gradient it is, and the shares it sums), ``param_grads``. ``pass_on``: forward nodes
    whose gradient is no node of its own but a reader's gradient passed on (a residual Add);
    ``grad_node``: forward node -> its gradient node. ``folded``: constant tensors computed by an
    operator (a Constant, a Transpose of a weight) -> that operator; ``trainable``: the constant
    tensors that get a gradient."""

    graph: TrainingGraph
    forward: Mapping[int, ForwardStep]
    inputs: Mapping[int, str]
    loss: int
    loss_reads: tuple[TensorRef, ...]
    grads: Mapping[int, tuple[int, tuple[GradShare, ...]]]
    pass_on: Mapping[int, GradShare]
    grad_node: Mapping[int, int]
    param_grads: Mapping[int, ParamGradStep]
    folded: Mapping[str, Op]
    trainable: frozenset[str]
