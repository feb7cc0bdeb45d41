"""Training graphs as JSON files, in the format of the reference data (``reference/graphs/*.json``).

Format::

    {"model": "linear",
     "nodes": [{"id": 0, "name": "layer0_InputLayer", "op": "InputLayer", "backward": false,
                "flop": 0.0, "out_shape": [1, 784], "param_count": 0, "inputs": []}, ...]}

``inputs`` hold node *ids*, which are labels: they need not be ``0..n-1`` or in order, so they are
mapped to positions in the list before :func:`build_graph` fixes the stage order (a file already in
topological order keeps it). Any other top-level key (``costs``, ``batch_size``, ...) is ignored:
costs always come from a device profile, never from a file. Every malformed file is refused with a
:class:`GraphError` naming the file and the offending node and field.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from poet_gui.core.atomic import write_text_atomic
from poet_gui.core.errors import GraphError
from poet_gui.core.model.graph import Node, TrainingGraph, build_graph, check_size

#: Why a parser gives up on JSON nested thousands of levels deep (Python's parser recurses per level).
JSON_TOO_DEEP = "its JSON is nested too deeply to parse (no graph, plan or workspace nests more than a few levels)"
_NODE_FIELDS = ("id", "name", "op", "backward", "flop", "out_shape", "param_count", "inputs")


def load_graph_file(path: Path) -> TrainingGraph:
    """Read and validate a graph file; the graph is named by ``"model"`` (default: the file stem)."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        # Not "no such graph file": the app opens graph, plan and workspace files alike through here
        # when the file's content cannot say which it is, and a missing file has no content.
        raise GraphError(f"{path}: no such file") from None
    except OSError as exc:
        raise GraphError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise GraphError(f"{path}: not UTF-8 text: {exc}") from None
    try:
        data = json.loads(text)
    except RecursionError:
        raise GraphError(f"{path}: not a readable graph file: {JSON_TOO_DEEP}") from None
    except json.JSONDecodeError as exc:
        raise GraphError(f"{path}: not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except ValueError as exc:  # an integer of more than 4300 digits: Python refuses to convert it
        raise GraphError(f"{path}: not a readable graph file: {str(exc).split(';')[0]}") from None
    return _graph_from_json(data, str(path), default_name=path.stem)


def graph_to_json(graph: TrainingGraph) -> dict[str, Any]:
    """The file form of ``graph``: ids are stage indices, so the file is in stage order."""
    return {
        "model": graph.name,
        "nodes": [
            {
                "id": i,
                "name": n.name,
                "op": n.op,
                "backward": n.is_backward,
                "flop": n.flop,
                "out_shape": list(n.out_shape),
                "param_count": n.param_count,
                "inputs": list(n.inputs),
            }
            for i, n in enumerate(graph.nodes)
        ],
    }


def save_graph_file(graph: TrainingGraph, path: Path) -> None:
    """Write ``graph`` atomically; :func:`load_graph_file` gives back an equal graph.

    Numbers keep their JSON type (an integer FLOP count stays an integer, a float stays a float with
    its exact ``repr``), which is what makes the round trip exact.
    """
    text = json.dumps(graph_to_json(graph), indent=1, allow_nan=False) + "\n"
    write_text_atomic(Path(path), text)


def _graph_from_json(data: object, source: str, *, default_name: str) -> TrainingGraph:
    if not isinstance(data, dict):
        raise GraphError(f"{source}: the top level must be a JSON object, got {type(data).__name__}")
    name = data.get("model", default_name)
    if not isinstance(name, str) or not name:
        raise GraphError(f"{source}: model must be a non-empty string, got {name!r}")
    if "nodes" not in data:
        raise GraphError(f"{source}: missing field nodes (the list of graph nodes)")
    raw_nodes = data["nodes"]
    if not isinstance(raw_nodes, list):
        raise GraphError(f"{source}: nodes must be a list, got {type(raw_nodes).__name__}")

    check_size(source, len(raw_nodes))
    checked = [_checked_node(source, i, raw) for i, raw in enumerate(raw_nodes)]
    position: dict[int, int] = {}
    for i, (node_id, node, _) in enumerate(checked):
        if node_id in position:
            other = position[node_id]
            raise GraphError(
                f"{source}: node {i} ({node.name!r}): id {node_id} is also the id of node {other} "
                f"({checked[other][1].name!r})"
            )
        position[node_id] = i

    nodes = []
    for i, (_, node, input_ids) in enumerate(checked):
        unknown = [u for u in input_ids if u not in position]
        if unknown:
            raise GraphError(f"{source}: node {i} ({node.name!r}): inputs {unknown} are not ids of nodes in this file")
        nodes.append(replace(node, inputs=tuple(position[u] for u in input_ids)))
    return build_graph(name, nodes, source=source)


def _checked_node(source: str, index: int, raw: object) -> tuple[int, Node, list[int]]:
    """Type-check one node entry; returns its id, the node (inputs still empty) and its input ids.

    Value checks that need the whole graph (negative sizes, cycles, self inputs) are left to
    :func:`build_graph`, which names the node the same way.
    """
    if not isinstance(raw, dict):
        raise GraphError(f"{source}: node {index} must be a JSON object, got {type(raw).__name__}")
    label = raw.get("name")
    where = f"{source}: node {index}" + (f" ({label!r})" if isinstance(label, str) else "")
    missing = [f for f in _NODE_FIELDS if f not in raw]
    if missing:
        raise GraphError(f"{where}: missing field(s) {', '.join(missing)}")

    node_id, name, op, backward = raw["id"], raw["name"], raw["op"], raw["backward"]
    if not _is_int(node_id):
        raise GraphError(f"{where}: id must be an integer, got {node_id!r}")
    if not isinstance(name, str) or not name:
        raise GraphError(f"{where}: name must be a non-empty string, got {name!r}")
    if not isinstance(op, str) or not op:
        raise GraphError(f"{where}: op must be a non-empty string, got {op!r}")
    if not isinstance(backward, bool):
        raise GraphError(f"{where}: backward must be true or false, got {backward!r}")
    for field in ("flop", "param_count"):
        value = raw[field]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise GraphError(f"{where}: {field} must be a number, got {value!r}")
    shape = raw["out_shape"]
    if not isinstance(shape, list) or not all(_is_int(d) and d > 0 for d in shape):
        raise GraphError(f"{where}: out_shape must be a list of positive integers, got {shape!r}")
    inputs = raw["inputs"]
    if not isinstance(inputs, list) or not all(_is_int(u) for u in inputs):
        raise GraphError(f"{where}: inputs must be a list of node ids (integers), got {inputs!r}")
    node = Node(
        name=name,
        op=op,
        is_backward=backward,
        flop=raw["flop"],
        out_shape=tuple(shape),
        param_count=raw["param_count"],
        inputs=(),
    )
    return node_id, node, inputs


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
