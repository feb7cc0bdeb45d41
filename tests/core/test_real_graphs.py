"""The real-model benchmark's graphs (benchmarks/real_graphs.py) are what they claim: every one imports
through the normal ONNX path with no estimated operator, and has the fan-out that makes it "real"
(an activation read by more than one forward node: a residual, attention's Q/K/V, a skip)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from poet_gui.core.model.onnx_import import load_onnx_graph

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import real_graphs


@pytest.mark.parametrize("case", real_graphs.CASES, ids=lambda c: c.name)
def test_benchmark_graph_imports_exactly_and_has_fan_out(case: real_graphs.Case, tmp_path: Path) -> None:
    (path,) = real_graphs.write_cases(tmp_path, (case.name,))
    imported = load_onnx_graph(path)
    assert imported.warnings == ()
    graph = imported.graph
    forward_readers: dict[int, int] = {}
    for node in graph.nodes:
        if not node.is_backward and node.op != "CrossEntropyLoss":
            for i in node.inputs:
                forward_readers[i] = forward_readers.get(i, 0) + 1
    assert max(forward_readers.values()) > 1, "a chain: no activation feeds two forward nodes"


def test_the_families_span_the_sizes_the_issue_asks_for(tmp_path: Path) -> None:
    sizes = {p.stem: len(load_onnx_graph(p).graph) for p in real_graphs.write_cases(tmp_path)}
    assert {name.split("_")[0] for name in sizes} >= {"transformer", "resnet", "residual", "unet", "mobilenet"}
    assert min(sizes.values()) < 100 and 300 < max(sizes.values()) <= 1000
