"""The sizes of an ONNX model's symbolic input dimensions, read from the graph a plan was made for.

A plan's graph holds each graph input as an ``Input`` node with its bound shape, so replaying it needs
no ``--dim``: the sizes are the ones that were planned, and the graph hash then checks that the model
imported at those sizes is the plan's.
"""

from __future__ import annotations

from pathlib import Path

from poet_gui.core.model.graph import TrainingGraph
from poet_gui.core.model.onnx_import._model import read_model


def dims_from_plan(onnx_path: Path, graph: TrainingGraph) -> dict[str, int]:
    """Each symbolic input dimension of the model at ``onnx_path`` with the size the plan's graph gives
    its input node; a dimension whose input is not in the graph is left out (the import then names it)."""
    model = read_model(onnx_path)
    shapes = {n.name: n.out_shape for n in graph.nodes if n.op == "Input"}
    initializers = {t.name for t in model.graph.initializer}
    dims: dict[str, int] = {}
    for value in model.graph.input:
        shape = shapes.get(value.name)
        if value.name in initializers or shape is None or not value.type.HasField("tensor_type"):
            continue
        for axis, dim in enumerate(value.type.tensor_type.shape.dim):
            if (not dim.HasField("dim_value") or dim.dim_value < 1) and axis < len(shape):
                dims.setdefault(dim.dim_param or f"{value.name}:{axis}", shape[axis])
    return dims
