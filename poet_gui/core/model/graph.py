"""The training graph: one node per tensor-producing step of a training iteration, in stage order.

A plan refers to nodes by their *stage index* (position in :attr:`TrainingGraph.nodes`), so the order
must be deterministic: a graph whose given order is already topological keeps it (a plan is then
reproducible from the file it came from); otherwise nodes are re-ordered by a stable topological sort
that breaks ties by the given position.  networkx does the graph algorithms; this module exposes a
small typed API so the rest of the engine never touches networkx directly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property

import networkx as nx
import numpy as np

from poet_gui.core.errors import GraphError

#: The most elements one tensor may have: 2**50 elements of 8 bytes is 2**53 bytes, the largest byte
#: count a float64 holds exactly (costs and the MILP work in float64).
MAX_ELEMENTS = 2**50


#: The largest graph the planner takes; a larger one is refused as it is built or read. Plans are
#: ``(T, T)`` decision matrices and the MILP has about 5 T**2 columns, so memory and time grow with the
#: square of the node count: on the 2-core development machine a 1,000-node chain took 27 s and
#: 2.6 GiB to plan (windowed) and a 3,000-node one did not finish in 5 minutes. The largest zoo
#: model, resnet50, has 335 nodes.
MAX_NODES = 1_000


@dataclass(frozen=True, slots=True)
class Node:
    """One step of the training graph and the tensor it produces.

    ``inputs`` are stage indices of the nodes whose outputs this step reads. ``flop`` and
    ``param_count`` are floats because the reference zoo computes some of them as floats (vgg16).
    """

    name: str
    op: str
    is_backward: bool
    flop: float
    out_shape: tuple[int, ...]
    param_count: float
    inputs: tuple[int, ...]

    @property
    def out_elements(self) -> int:
        """Number of elements of the output tensor (1 for a scalar shape ``()``)."""
        return math.prod(self.out_shape)


@dataclass(frozen=True)
class TrainingGraph:
    """A validated DAG in stage order; build it with :func:`build_graph`, never directly."""

    name: str
    nodes: tuple[Node, ...]

    def __len__(self) -> int:
        return len(self.nodes)

    @cached_property
    def edges(self) -> tuple[tuple[int, int], ...]:
        """Every edge ``(producer, consumer)`` once, sorted by consumer then producer."""
        return tuple((u, v) for v, node in enumerate(self.nodes) for u in sorted(node.inputs))

    @cached_property
    def successors(self) -> tuple[tuple[int, ...], ...]:
        """``successors[u]``: the consumers of node ``u``'s output, ascending."""
        succ: list[list[int]] = [[] for _ in self.nodes]
        for u, v in self.edges:
            succ[u].append(v)
        return tuple(tuple(sorted(s)) for s in succ)

    @cached_property
    def last_use(self) -> np.ndarray:
        """``last_use[u]``: the stage of the last consumer of ``u`` (``u`` itself for a sink)."""
        out = np.arange(len(self.nodes))
        for u, succ in enumerate(self.successors):
            if succ:
                out[u] = succ[-1]
        out.setflags(write=False)
        return out

    @cached_property
    def last_descendant(self) -> np.ndarray:
        """``last_descendant[u]``: the latest stage whose node depends on ``u`` (``u`` for a sink).

        A tensor can be needed up to that stage, not just up to its last direct consumer: a consumer
        may be recomputed later still, to feed a node further down the graph.
        """
        out = np.arange(len(self.nodes))
        for u in range(len(self.nodes) - 1, -1, -1):
            for v in self.successors[u]:
                out[u] = max(out[u], out[v])
        out.setflags(write=False)
        return out

    @cached_property
    def forward_count(self) -> int:
        """How many nodes belong to the forward pass (loss included)."""
        return sum(not n.is_backward for n in self.nodes)

    @cached_property
    def total_params(self) -> float:
        """Trainable parameters of the whole model (each counted at the node that owns it)."""
        return float(sum(n.param_count for n in self.nodes))

    def to_networkx(self) -> nx.DiGraph:
        """A fresh networkx view (node = stage index, with ``name`` and ``op`` attributes)."""
        g = nx.DiGraph()
        for i, n in enumerate(self.nodes):
            g.add_node(i, name=n.name, op=n.op)
        g.add_edges_from(self.edges)
        return g


def build_graph(name: str, nodes: Sequence[Node], *, source: str = "graph") -> TrainingGraph:
    """Validate ``nodes`` (inputs given as positions in ``nodes``) and return them in stage order.

    Refuses, naming the node: an empty graph, duplicate names, unknown or self inputs, non-finite or
    negative FLOP and parameter counts, non-positive shape dimensions, and cycles. Repeated inputs
    are collapsed to one edge (the reference reads the loss twice; a buffer is freed once).
    ``source`` prefixes every message (a file path, or a model name).
    """
    if not nodes:
        raise GraphError(f"{source}: the graph has no nodes")
    check_size(source, len(nodes))
    seen: dict[str, int] = {}
    cleaned: list[Node] = []
    for i, node in enumerate(nodes):
        where = f"{source}: node {i} ({node.name!r})"
        if not node.name:
            raise GraphError(f"{source}: node {i} has an empty name")
        if node.name in seen:
            raise GraphError(f"{where}: duplicate name, also used by node {seen[node.name]}")
        seen[node.name] = i
        _check_number(where, "flop", node.flop)
        _check_number(where, "param_count", node.param_count)
        if any((not isinstance(d, int)) or isinstance(d, bool) or d <= 0 for d in node.out_shape):
            raise GraphError(f"{where}: out_shape must hold positive integers, got {_short(list(node.out_shape))}")
        if node.out_elements > MAX_ELEMENTS:
            raise GraphError(
                f"{where}: out_shape {_short(list(node.out_shape))} has about 10^{math.log10(node.out_elements):.0f} "
                f"elements, more "
                f"than the {MAX_ELEMENTS:,} a tensor may have (byte counts must stay exact in float64)"
            )
        inputs: list[int] = []
        for u in node.inputs:
            if not isinstance(u, int) or isinstance(u, bool) or not 0 <= u < len(nodes):
                raise GraphError(f"{where}: input {u!r} is not a node of this graph")
            if u == i:
                raise GraphError(f"{where}: reads its own output")
            if u not in inputs:
                inputs.append(u)
        cleaned.append(replace(node, inputs=tuple(inputs)))

    order = _stage_order(cleaned, source)
    if order != list(range(len(cleaned))):
        position = {old: new for new, old in enumerate(order)}
        cleaned = [replace(cleaned[old], inputs=tuple(position[u] for u in cleaned[old].inputs)) for old in order]
    return TrainingGraph(name=name, nodes=tuple(cleaned))


def check_size(source: str, count: int) -> None:
    """Refuse a graph of more than :data:`MAX_NODES` nodes, before anything is built for it."""
    if count > MAX_NODES:
        raise GraphError(
            f"{source}: {count:,} nodes is more than the planner handles ({MAX_NODES:,}): a plan decides each "
            f"of 5 actions per node per stage, so its model grows with nodes squared ({5 * count**2:,} decisions here)"
        )


def _check_number(where: str, field_name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not _is_finite(value):
        raise GraphError(f"{where}: {field_name} must be a finite number, got {_short(value)}")
    if value < 0:
        raise GraphError(f"{where}: {field_name} must be >= 0, got {value!r}")


def _is_finite(value: float) -> bool:
    """Finite as a float64: an integer beyond 1.8e308 (JSON allows 10**400) is not a figure of a model."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _short(value: object) -> str:
    """A value for a message, cut short: a 400-digit integer must not make a 400-character line."""
    try:
        text = repr(value)
    except ValueError:  # an integer of more digits than Python converts to text
        return "a number too long to show"
    return text if len(text) <= 60 else text[:57] + "..."


def _stage_order(nodes: Sequence[Node], source: str) -> list[int]:
    """The given order if it is topological, else a stable topological sort; cycles are refused."""
    if all(u < i for i, n in enumerate(nodes) for u in n.inputs):
        return list(range(len(nodes)))
    g = nx.DiGraph()
    g.add_nodes_from(range(len(nodes)))
    g.add_edges_from((u, i) for i, n in enumerate(nodes) for u in n.inputs)
    try:
        return list(nx.lexicographical_topological_sort(g))
    except nx.NetworkXUnfeasible:
        cycle = nx.find_cycle(g)
        names = " -> ".join(nodes[u].name for u, _ in cycle) + f" -> {nodes[cycle[0][0]].name}"
        raise GraphError(f"{source}: the graph has a cycle: {names}") from None
