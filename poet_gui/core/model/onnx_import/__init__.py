"""Import an ONNX model as a training graph: forward nodes, a loss and a faithful autodiff backward.

The zoo's backward pass is the reference's chain model (FORMULATION §3); an imported model gets a real
one instead, where each gradient reads exactly the tensors its operator's backward step uses (ReLU's
its output, a matrix product's the other operand, Add's nothing), because that is what decides which
activations a plan must keep, recompute or page.  ``docs/onnx-backward.md`` states the rules.

Use :func:`symbolic_dimensions` first: a model with named input dimensions (``batch``, ``seq``) can only
be planned once each has a size, which the caller asks the user for; nothing is guessed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np
from onnx import numpy_helper

from poet_gui.core.errors import GraphError
from poet_gui.core.model.graph import TrainingGraph
from poet_gui.core.model.onnx_import._build import build_lowered_graph, build_training_graph
from poet_gui.core.model.onnx_import._model import input_dimensions, prepare_model, read_model
from poet_gui.core.model.onnx_import.lowering import Lowering

__all__ = ["LoweredOnnx", "OnnxImport", "load_onnx_graph", "lower_onnx", "symbolic_dimensions"]


@dataclass(frozen=True, slots=True)
class OnnxImport:
    """An imported model's training graph, what was estimated, and which dimensions were bound.

    ``warnings`` are one line each (operators without a cost rule, with counts; operators that feed no
    output); ``symbolic_dims`` are the input dimensions the caller gave sizes for, in model order.
    """

    graph: TrainingGraph
    warnings: tuple[str, ...]
    symbolic_dims: tuple[str, ...]


def symbolic_dimensions(path: Path) -> tuple[str, ...]:
    """The input dimensions of the model at ``path`` that need a size before it can be planned.

    Named dimensions keep their name (``batch``); unnamed dynamic ones are called ``<input>:<axis>``.
    Raises :class:`GraphError` for a file that is not a readable ONNX model.
    """
    path = Path(path)
    return input_dimensions(read_model(path), str(path))


def load_onnx_graph(path: Path, *, dims: Mapping[str, int] | None = None) -> OnnxImport:
    """Read the ONNX model at ``path`` and build its training graph, named after the file.

    ``dims`` gives a size to every symbolic input dimension (see :func:`symbolic_dimensions`); a
    missing or unknown name is refused.  Every problem with the file raises :class:`GraphError` with a
    one-line message that names the file.
    """
    path = Path(path)
    model = prepare_model(read_model(path), str(path), path.stem, dict(dims or {}))
    graph, warnings = build_training_graph(model)
    return OnnxImport(graph, warnings, model.bound_dims)


@dataclass(frozen=True, slots=True)
class LoweredOnnx:
    """An imported model as an executor needs it: the training graph, what each node stands for, and
    the values of the initializers and Constant operators (read-only arrays, by tensor name)."""

    imported: OnnxImport
    lowering: Lowering
    constants: Mapping[str, np.ndarray]
    #: The standard operator set's version the file declares: an operator's semantics can change with it.
    opset: int


def lower_onnx(path: Path, *, dims: Mapping[str, int] | None = None) -> LoweredOnnx:
    """Import the model at ``path`` as :func:`load_onnx_graph` does, keeping the lowering record and the
    constants' values (weights stored as external data are refused, naming the tensor)."""
    path = Path(path)
    proto = read_model(path)
    model = prepare_model(proto, str(path), path.stem, dict(dims or {}))
    graph, warnings, lowering = build_lowered_graph(model)
    constants: dict[str, np.ndarray] = {}
    for init in proto.graph.initializer:
        if init.data_location == init.EXTERNAL:
            raise GraphError(f"{path}: initializer {init.name!r} is stored as external data, which replay can't load")
        constants[init.name] = _frozen(numpy_helper.to_array(init))
    for op in lowering.folded.values():
        if op.op_type == "Constant" and "value" in op.attrs:
            constants[op.outputs[0]] = _frozen(numpy_helper.to_array(op.attrs["value"]))
    opset = next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))  # read_model checked it
    return LoweredOnnx(OnnxImport(graph, warnings, model.bound_dims), lowering, MappingProxyType(constants), opset)


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.array(a)
    a.setflags(write=False)
    return a
