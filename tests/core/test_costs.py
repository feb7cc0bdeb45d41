"""The cost model reproduces the reference implementation's per-node cost vectors (FORMULATION §2)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from poet_gui.core.device.costs import NodeCosts, compute_costs
from poet_gui.core.device.profiles import DeviceProfile, load_profile
from poet_gui.core.model.graph import Node, build_graph
from poet_gui.core.model.graph_io import load_graph_file

REPO = Path(__file__).resolve().parents[2]
REFERENCE_GRAPHS = REPO.parent / "shared" / "reference" / "graphs"
PROFILES = REPO / "profiles"
DEVICES = ("m0", "m4", "a72", "a72nocache")
VECTORS = ("runtime_s", "ram_bytes", "compute_j", "pagein_j", "pageout_j")
MODELS = sorted(p.stem for p in REFERENCE_GRAPHS.glob("*.json")) or ["<reference data absent>"]

# Round figures, so the expected costs can be worked out by hand.
TOY = DeviceProfile(
    key="toy",
    name="Toy",
    compute_flop_per_s=1000.0,
    compute_flop_per_j=4000.0,
    bytes_per_element=2,
    pagein_latency_s=0.5,
    pagein_bytes_per_s=10.0,
    pageout_latency_s=0.25,
    pageout_bytes_per_s=20.0,
    paging_power_w=3.0,
)


def _toy_graph():
    return build_graph(
        "toy",
        [
            Node("in", "Input", False, 0.0, (2, 5), 0.0, ()),
            Node("fc", "Linear", False, 500.0, (3,), 12.0, (0,)),
            Node("grad", "Gradient", True, 1000, (), 0, (0, 1)),
        ],
    )


def test_costs_of_a_small_graph_by_hand() -> None:
    c = compute_costs(_toy_graph(), TOY)
    np.testing.assert_array_equal(c.ram_bytes, [20.0, 6.0, 2.0])  # 2 bytes x (10, 3, 1) elements
    np.testing.assert_array_equal(c.runtime_s, [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(c.compute_j, [0.0, 0.125, 0.25])
    np.testing.assert_allclose(c.pagein_s, [0.5 + 2.0, 0.5 + 0.6, 0.5 + 0.2], rtol=1e-15)
    np.testing.assert_allclose(c.pageout_s, [0.25 + 1.0, 0.25 + 0.3, 0.25 + 0.1], rtol=1e-15)
    np.testing.assert_allclose(c.pagein_j, 3.0 * c.pagein_s, rtol=1e-15)
    np.testing.assert_allclose(c.pageout_j, 3.0 * c.pageout_s, rtol=1e-15)
    assert c.param_bytes == 24.0


def test_cost_vectors_are_read_only_float64() -> None:
    c = compute_costs(_toy_graph(), TOY)
    for field in (*VECTORS, "pagein_s", "pageout_s"):
        a = getattr(c, field)
        assert a.dtype == np.float64 and a.shape == (3,), field
        with pytest.raises(ValueError, match="read-only"):
            a[0] = 1.0


def test_node_costs_is_frozen() -> None:
    c = compute_costs(_toy_graph(), TOY)
    with pytest.raises(AttributeError):
        c.param_bytes = 0.0  # type: ignore[misc]
    assert isinstance(c, NodeCosts)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("model", MODELS)
def test_costs_match_the_reference_vectors(model: str, device: str) -> None:
    if not REFERENCE_GRAPHS.is_dir():
        pytest.skip(f"reference data not found at {REFERENCE_GRAPHS}")
    path = REFERENCE_GRAPHS / f"{model}.json"
    expected = json.loads(path.read_text(encoding="utf-8"))["costs"][device]
    graph = load_graph_file(path)
    costs = compute_costs(graph, load_profile(device, directory=PROFILES))
    for field in VECTORS:
        assert len(expected[field]) == len(graph)
        np.testing.assert_allclose(getattr(costs, field), expected[field], rtol=1e-9, atol=0, err_msg=field)


def test_param_bytes_counts_every_parameter_of_the_model() -> None:
    if not REFERENCE_GRAPHS.is_dir():
        pytest.skip(f"reference data not found at {REFERENCE_GRAPHS}")
    costs = compute_costs(load_graph_file(REFERENCE_GRAPHS / "linear.json"), load_profile("m4", directory=PROFILES))
    # linear: Linear layers 784->10->120->100->200->10->10, (in+1)*out parameters each
    params = 785 * 10 + 11 * 120 + 121 * 100 + 101 * 200 + 201 * 10 + 11 * 10
    assert costs.param_bytes == 4.0 * params
