"""Shared fixtures of the engine tests (MILP, simulator, planner, reference results).

Everything here is Qt-free. Graphs are tiny so the whole engine suite stays fast; the reference data
lives next to the repository (``<repo>/../shared/reference``) and tests that need it skip, saying so,
when it is absent.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from poet_gui.core.device.profiles import DeviceProfile, load_profile
from poet_gui.core.model.graph import Node, TrainingGraph, build_graph
from poet_gui.core.model.graph_io import load_graph_file
from poet_gui.core.model.zoo import build_model

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO.parent / "shared" / "reference"
REFERENCE_GRAPHS = REFERENCE / "graphs"

# Round figures, so schedules can be measured by hand: 2 bytes per element, 1000 FLOP/s,
# 4000 FLOP/J; a page-in of m bytes takes 0.5 + m/10 s, a page-out 0.25 + m/20 s, both at 2 W.
TOY = DeviceProfile(
    key="toy",
    name="Toy device (round figures for hand-computed tests)",
    compute_flop_per_s=1000.0,
    compute_flop_per_j=4000.0,
    bytes_per_element=2,
    pagein_latency_s=0.5,
    pagein_bytes_per_s=10.0,
    pageout_latency_s=0.25,
    pageout_bytes_per_s=20.0,
    paging_power_w=2.0,
)


@pytest.fixture(scope="session")
def toy() -> DeviceProfile:
    return TOY


def make_toy_graph() -> TrainingGraph:
    """Five nodes in the reference's chain-backward shape (bytes on TOY in brackets)::

        0 x [16] -> 1 a [8] -> 2 loss [2];  3 g1 [4] reads a, loss;  4 g2 [8] reads x, a, g1

    FLOP: 0, 100, 40, 200, 60 (a plain pass: 400 FLOP = 0.4 s = 0.1 J on TOY).
    """
    return build_graph(
        "toy",
        [
            Node("x", "Input", False, 0.0, (8,), 0.0, ()),
            Node("a", "Linear", False, 100.0, (4,), 10.0, (0,)),
            Node("loss", "Loss", False, 40.0, (1,), 0.0, (1,)),
            Node("g1", "Gradient", True, 200.0, (2,), 0.0, (1, 2)),
            Node("g2", "Gradient", True, 60.0, (4,), 0.0, (0, 1, 3)),
        ],
    )


def make_diamond_graph() -> TrainingGraph:
    """A forward pass with a skip connection (a diamond) and its chain backward pass.

    ``x -> a -> {b, c}``, ``d = add(b, c)``, loss; gradients read the forward tensors like the
    reference's construction, so intermediate tensors are needed again late in the backward pass.
    Sizes (float32) differ per node so byte totals are unambiguous.
    """
    f = [
        Node("x", "Input", False, 0.0, (100,), 0.0, ()),
        Node("a", "Linear", False, 20_000.0, (200,), 20_100.0, (0,)),
        Node("b", "Linear", False, 60_000.0, (150,), 30_150.0, (1,)),
        Node("c", "Linear", False, 45_000.0, (120,), 24_120.0, (1,)),
        Node("d", "Add", False, 150.0, (150,), 0.0, (2, 3)),
        Node("loss", "CrossEntropy", False, 1_500.0, (10,), 0.0, (4,)),
    ]
    n = len(f)
    nodes = list(f)
    for j in range(1, n):
        prev = n - 1 if j == 1 else n - 1 + j - 1
        nodes.append(
            Node(
                f"grad{j}",
                "Gradient",
                True,
                2 * f[n - 1 - j].flop,
                f[n - j].out_shape,
                0.0,
                (n - 1 - j, n - j, prev),
            )
        )
    return build_graph("diamond", nodes)


@pytest.fixture(scope="session")
def toy_graph() -> TrainingGraph:
    return make_toy_graph()


@pytest.fixture(scope="session")
def diamond_graph() -> TrainingGraph:
    return make_diamond_graph()


@pytest.fixture(scope="session")
def a72() -> DeviceProfile:
    return load_profile("a72")


@pytest.fixture(scope="session")
def linear() -> TrainingGraph:
    """The zoo's six-layer MLP (27 nodes): the workhorse of the MILP tests."""
    return build_model("linear")


@pytest.fixture(scope="session")
def reference_graph() -> Callable[[str], TrainingGraph]:
    """Load ``shared/reference/graphs/<model>.json`` (node order as the file); skip if absent."""

    def load(model: str) -> TrainingGraph:
        path = REFERENCE_GRAPHS / f"{model}.json"
        if not path.is_file():
            pytest.skip(f"reference graph {path} is absent (the shared reference data is not checked out)")
        return load_graph_file(path)

    return load
