"""Read an ONNX file into a checked, shape-inferred view: operators in topological order, tensor shapes.

Everything ONNX-specific that can go wrong with a user's file is caught here and turned into a
:class:`GraphError` naming the file: bytes that are not an ONNX model (or a truncated one), an
operator-set version outside what we read, a graph without outputs, a tensor nothing produces, a
cycle, symbolic dimensions left unbound and shapes that inference cannot determine.  The ``onnx``
package does the parsing and the shape inference; we never read protobuf bytes ourselves.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import networkx as nx
import onnx
from google.protobuf.message import DecodeError, Message
from onnx import GraphProto, ModelProto, TensorProto, TensorShapeProto, ValueInfoProto

from poet_gui.core.errors import GraphError

#: Oldest standard opset we read.  Before opset 7, Add/Mul/Gemm carried a ``broadcast`` flag and ops a
#: ``consumed_inputs`` attribute whose meaning our cost rules do not model.
MIN_OPSET = 7
#: The standard operator set's domain, as ``opset_import`` spells it (both spellings are legal).
_STANDARD_DOMAINS = ("", "ai.onnx")
_FLOAT_TYPES = frozenset(v for k, v in TensorProto.DataType.items() if "FLOAT" in k or k == "DOUBLE")


@dataclass(frozen=True, slots=True)
class Tensor:
    """A tensor's static shape and whether it holds floating-point values (only those carry gradients)."""

    shape: tuple[int, ...]
    is_float: bool

    @property
    def elements(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True, slots=True)
class Op:
    """One ONNX node.  ``name`` is unique in the model (the node's own name, else ``<op_type>_<index>``);
    ``inputs`` holds ``""`` for an omitted optional input, followed by any tensor a subgraph (If, Loop,
    Scan) reads from the enclosing graph, so every data dependency is an input."""

    name: str
    op_type: str
    domain: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attrs: Mapping[str, object]

    @property
    def is_standard(self) -> bool:
        return self.domain in _STANDARD_DOMAINS

    @property
    def label(self) -> str:
        """The op type as a warning names it: custom domains are spelled out (``com.example.Foo``)."""
        return self.op_type if self.is_standard else f"{self.domain}.{self.op_type}"


@dataclass(frozen=True)
class OnnxModel:
    """A shape-inferred model with its symbolic dimensions bound; :meth:`tensor` gives shapes.

    ``inputs`` are the graph inputs that are not initializers (an initializer listed as an input is a
    default value, i.e. a weight); ``ops`` are in a topological order that keeps the file's order
    wherever the file's order is already topological.
    """

    source: str
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    initializers: frozenset[str]
    ops: tuple[Op, ...]
    bound_dims: tuple[str, ...]
    _types: Mapping[str, onnx.TypeProto]
    _producers: Mapping[str, str]

    def is_float(self, name: str) -> bool:
        """Whether tensor ``name`` holds floating-point values (False when its type is unknown)."""
        t = self._types.get(name)
        return t is not None and t.tensor_type.elem_type in _FLOAT_TYPES

    def tensor(self, name: str) -> Tensor:
        """The static shape of tensor ``name``; refuses a shape inference left open, naming the tensor."""
        t = self._types.get(name)
        where = f"{self.source}: tensor {name!r} ({self._producers.get(name, 'a graph input')})"
        if t is None or not t.HasField("tensor_type") or not t.tensor_type.HasField("shape"):
            raise GraphError(
                f"{where} has no shape and shape inference cannot determine one; export the model with "
                "static shapes or declare the shape in the graph's value_info"
            )
        shape: list[int] = []
        for axis, dim in enumerate(t.tensor_type.shape.dim):
            if not dim.HasField("dim_value") or dim.dim_value < 1:
                label = dim.dim_param or "unknown"
                raise GraphError(
                    f"{where}: dimension {axis} ({label}) is not a fixed size after binding the input dimensions; "
                    "POET plans fixed shapes only (it may depend on the data, as after NonZero)"
                )
            shape.append(dim.dim_value)
        return Tensor(tuple(shape), self.is_float(name))


def read_model(path: Path) -> ModelProto:
    """Parse ``path`` as an ONNX model and check its versions; the graph itself is not checked yet."""
    source = str(path)
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise GraphError(f"{source}: no such ONNX file") from None
    except OSError as exc:
        raise GraphError(f"{source}: cannot read: {exc.strerror or exc}") from None
    try:
        model = onnx.load_model_from_string(data)
    except DecodeError:
        raise GraphError(f"{source}: not an ONNX model, or a truncated one (the protobuf does not decode)") from None
    if not model.HasField("graph"):
        raise GraphError(f"{source}: not an ONNX model, or a truncated one: it holds no graph")
    field = _undecodable_text(model)
    if field is not None:
        raise GraphError(f"{source}: a {field} is not valid UTF-8 text: the file is damaged")
    _check_versions(model, source)
    return model


def _undecodable_text(message: Message) -> str | None:
    """The name of a text field that holds bytes that are not UTF-8, or None: protobuf hands such a
    field back as ``bytes`` (ONNX is proto2), which would surface later as a crash, not a message."""
    for field, value in message.ListFields():
        if field.type not in (field.TYPE_STRING, field.TYPE_MESSAGE):
            continue
        is_repeated = field.is_repeated if hasattr(field, "is_repeated") else field.label == field.LABEL_REPEATED
        for item in value if is_repeated else (value,):
            if field.type == field.TYPE_STRING:
                if isinstance(item, bytes):
                    return f"{message.DESCRIPTOR.name}.{field.name}"
            elif (found := _undecodable_text(item)) is not None:
                return found
    return None


def _check_versions(model: ModelProto, source: str) -> None:
    newest = onnx.defs.onnx_opset_version()
    if model.ir_version > onnx.IR_VERSION:
        raise GraphError(
            f"{source}: IR version {model.ir_version} is newer than the installed onnx {onnx.__version__} "
            f"reads (up to {onnx.IR_VERSION}); upgrade the onnx package"
        )
    versions = [o.version for o in model.opset_import if o.domain in _STANDARD_DOMAINS]
    if not versions:
        raise GraphError(
            f"{source}: opset_import names no version of the standard operator set (ai.onnx); is the file truncated?"
        )
    opset = versions[0]
    if opset < MIN_OPSET:
        raise GraphError(
            f"{source}: opset {opset} is not supported (POET Studio reads opsets {MIN_OPSET} to {newest}); "
            "convert the model with onnx.version_converter"
        )
    if opset > newest:
        raise GraphError(
            f"{source}: opset {opset} is newer than the installed onnx {onnx.__version__} knows "
            f"(up to {newest}); upgrade the onnx package"
        )


def input_dimensions(model: ModelProto, source: str) -> tuple[str, ...]:
    """The names of the graph inputs' open dimensions, in order of first appearance.

    A dimension with a ``dim_param`` is named by it (``batch``); one with neither a name nor a positive
    size is named ``<input>:<axis>``, so it too can be bound (``--dim x:0=1``) instead of guessed.
    """
    names: dict[str, None] = {}
    for value, axis, dim in _input_dims(model.graph, source):
        if not dim.HasField("dim_value") or dim.dim_value < 1:
            names[dim.dim_param or f"{value.name}:{axis}"] = None
    return tuple(names)


def _input_dims(graph: GraphProto, source: str) -> Iterator[tuple[ValueInfoProto, int, TensorShapeProto.Dimension]]:
    initializers = {t.name for t in graph.initializer}
    for value in graph.input:
        if value.name in initializers:
            continue
        if not value.type.HasField("tensor_type"):
            raise GraphError(f"{source}: graph input {value.name!r} is not a tensor; POET plans tensor models only")
        if not value.type.tensor_type.HasField("shape"):
            raise GraphError(
                f"{source}: graph input {value.name!r} has no shape; export the model with input shapes "
                "(named dimensions such as 'batch' are fine: they are asked for)"
            )
        for axis, dim in enumerate(value.type.tensor_type.shape.dim):
            yield value, axis, dim


def prepare_model(model: ModelProto, source: str, name: str, dims: Mapping[str, int]) -> OnnxModel:
    """Check the graph's structure, bind ``dims``, sort the nodes and run shape inference."""
    graph = model.graph
    if not graph.output:
        raise GraphError(f"{source}: the graph has no output, so there is nothing to train")
    if not graph.node:
        raise GraphError(f"{source}: the graph has no operators")
    open_dims = input_dimensions(model, source)
    _check_dims(source, open_dims, dims)
    names = _op_names(graph)
    ops = _sorted_ops(graph, names, source)

    bound = ModelProto()
    bound.CopyFrom(model)
    del bound.graph.node[:]
    bound.graph.node.extend(graph.node[i] for i in ops)
    _bind_dims(bound.graph, source, dims)
    try:
        inferred = onnx.shape_inference.infer_shapes(bound, strict_mode=True, data_prop=True)
    except (onnx.shape_inference.InferenceError, onnx.checker.ValidationError, ValueError) as exc:
        # ValueError: onnx's verdict on a malformed proto (an unknown tensor data type, say).
        # onnx reports "[ShapeInferenceError] Inference error(s): (op_type:..., node name: ...): reason" per
        # node, one per line; the first names the node and the reason, which is what a user can act on.
        first = next((line for line in str(exc).splitlines() if "(op_type" in line), str(exc))
        reason = first[first.find("(op_type") :] if "(op_type" in first else first
        raise GraphError(f"{source}: shape inference failed: {' '.join(reason.split())}") from None

    g = inferred.graph
    types: dict[str, onnx.TypeProto] = {}
    for value in (*g.input, *g.value_info, *g.output):
        types.setdefault(value.name, value.type)
    for init in g.initializer:
        types[init.name] = onnx.helper.make_tensor_type_proto(init.data_type, list(init.dims))
    initializers = frozenset(t.name for t in g.initializer)
    sorted_ops = tuple(_op(graph.node[i], names[i]) for i in ops)
    producers = {out: f"output of {op.op_type} node {op.name!r}" for op in sorted_ops for out in op.outputs}
    return OnnxModel(
        source=source,
        name=name,
        inputs=tuple(v.name for v in graph.input if v.name not in initializers),
        outputs=tuple(v.name for v in graph.output),
        initializers=initializers,
        ops=sorted_ops,
        bound_dims=open_dims,
        _types=MappingProxyType(types),
        _producers=MappingProxyType(producers),
    )


def _check_dims(source: str, open_dims: tuple[str, ...], dims: Mapping[str, int]) -> None:
    unknown = [k for k in dims if k not in open_dims]
    if unknown:
        have = f"its symbolic dimensions: {', '.join(open_dims)}" if open_dims else "every input shape is fixed"
        raise GraphError(f"{source}: the model has no symbolic dimension {unknown[0]!r} ({have})")
    for key, value in dims.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise GraphError(f"{source}: dimension {key} must be a positive integer, got {value!r}")
    missing = [d for d in open_dims if d not in dims]
    if missing:
        example = " ".join(f"--dim {d}=<size>" for d in missing)
        raise GraphError(
            f"{source}: the model's inputs have symbolic dimensions that need a size: {', '.join(missing)} "
            f"(CLI: {example})"
        )


def _bind_dims(graph: GraphProto, source: str, dims: Mapping[str, int]) -> None:
    """Give every input dimension its bound size, and drop symbolic names elsewhere so that inference
    recomputes those sizes from the inputs instead of keeping an exporter's unbound label."""
    for value, axis, dim in _input_dims(graph, source):
        if not dim.HasField("dim_value") or dim.dim_value < 1:
            dim.dim_value = int(dims[dim.dim_param or f"{value.name}:{axis}"])
    for value in (*graph.output, *graph.value_info):
        if not value.type.tensor_type.HasField("shape"):
            continue
        for dim in value.type.tensor_type.shape.dim:
            if dim.HasField("dim_param"):
                if dim.dim_param in dims:
                    dim.dim_value = int(dims[dim.dim_param])
                else:
                    dim.Clear()


def _op_names(graph: GraphProto) -> list[str]:
    """Unique names: the node's own name when it has one, else ``<op_type>_<index>``; a repeat gets ``_2``..."""
    taken: set[str] = set()
    names: list[str] = []
    for i, node in enumerate(graph.node):
        base = node.name or f"{node.op_type}_{i}"
        name, k = base, 2
        while name in taken:
            name, k = f"{base}_{k}", k + 1
        taken.add(name)
        names.append(name)
    return names


def _op(node: onnx.NodeProto, name: str) -> Op:
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    outer = [n for a in node.attribute for g in _subgraphs(a) for n in _outer_names(g) if n not in node.input]
    return Op(
        name=name,
        op_type=node.op_type,
        domain=node.domain,
        inputs=(*node.input, *dict.fromkeys(outer)),
        outputs=tuple(node.output),
        attrs=MappingProxyType(attrs),
    )


def _subgraphs(attr: onnx.AttributeProto) -> tuple[GraphProto, ...]:
    if attr.type == onnx.AttributeProto.GRAPH:
        return (attr.g,)
    if attr.type == onnx.AttributeProto.GRAPHS:
        return tuple(attr.graphs)
    return ()


def _outer_names(graph: GraphProto) -> list[str]:
    """Tensors a subgraph reads from enclosing graphs: read inside but not defined inside."""
    defined = {v.name for v in graph.input} | {t.name for t in graph.initializer}
    defined |= {out for node in graph.node for out in node.output}
    used: list[str] = []
    for node in graph.node:
        used += [name for name in node.input if name]
        used += [n for a in node.attribute for g in _subgraphs(a) for n in _outer_names(g)]
    used += [v.name for v in graph.output]
    return [name for name in dict.fromkeys(used) if name not in defined]


def _sorted_ops(graph: GraphProto, names: list[str], source: str) -> list[int]:
    """Node indices in topological order (the file's order when it already is one); refuses a tensor
    read but never defined, a tensor produced twice, and cycles, naming the nodes."""
    available = {v.name for v in graph.input} | {t.name for t in graph.initializer}
    producer: dict[str, int] = {}
    for i, node in enumerate(graph.node):
        for out in node.output:
            if not out:
                continue
            if out in available or out in producer:
                raise GraphError(f"{source}: tensor {out!r} is produced twice (node {names[i]!r})")
            producer[out] = i
    g = nx.DiGraph()
    g.add_nodes_from(range(len(graph.node)))
    for i, node in enumerate(graph.node):
        reads = [*node.input, *(n for a in node.attribute for sub in _subgraphs(a) for n in _outer_names(sub))]
        for name in reads:
            if not name or name in available:
                continue
            if name not in producer:
                raise GraphError(f"{source}: node {names[i]!r} reads tensor {name!r}, which nothing produces")
            g.add_edge(producer[name], i)
    for value in graph.output:
        if value.name not in available and value.name not in producer:
            raise GraphError(f"{source}: graph output {value.name!r} is produced by no node")
    try:
        return list(nx.lexicographical_topological_sort(g))
    except nx.NetworkXUnfeasible:
        cycle = nx.find_cycle(g)
        loop = " -> ".join(names[u] for u, _ in cycle) + f" -> {names[cycle[0][0]]}"
        raise GraphError(f"{source}: the graph has a cycle: {loop}") from None
