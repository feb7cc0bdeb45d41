"""The built-in zoo: equal to the reference graphs at the defaults, and parametric beyond them."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from functools import cache
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
from networkx.algorithms.isomorphism import DiGraphMatcher

from poet_gui.core.errors import GraphError
from poet_gui.core.model.graph import TrainingGraph
from poet_gui.core.model.zoo import ModelInfo, build_model, list_models

REPO_ROOT = Path(__file__).resolve().parents[2]
REFERENCE_DIR = REPO_ROOT.parent / "shared" / "reference" / "graphs"
MODELS = ("linear", "vgg16", "vgg16_cifar", "resnet18", "resnet18_cifar", "resnet50", "transformer", "bert")
IMAGE_MODELS = ("vgg16", "vgg16_cifar", "resnet18", "resnet18_cifar", "resnet50")
TEXT_MODELS = ("transformer", "bert")


# --- comparison with the reference ------------------------------------------------------------------


@cache
def _reference(name: str) -> dict:
    path = REFERENCE_DIR / f"{name}.json"
    if not path.is_file():
        pytest.skip(f"reference graph {path} not found (the read-only ../shared checkout sits beside the repo)")
    return json.loads(path.read_text())


def _reference_digraph(name: str) -> nx.DiGraph:
    """Nodes keyed by the reference's ids; repeated inputs (the loss read twice) become one edge."""
    g = nx.DiGraph()
    for node in _reference(name)["nodes"]:
        g.add_node(
            node["id"],
            name=node["name"],
            op=node["op"],
            flop=node["flop"],
            out_shape=tuple(node["out_shape"]),
            param_count=node["param_count"],
            backward=node["backward"],
        )
        g.add_edges_from((u, node["id"]) for u in node["inputs"])
    return g


def _digraph(graph: TrainingGraph) -> nx.DiGraph:
    g = nx.DiGraph()
    for i, node in enumerate(graph.nodes):
        g.add_node(
            i,
            name=node.name,
            op=node.op,
            flop=node.flop,
            out_shape=node.out_shape,
            param_count=node.param_count,
            backward=node.is_backward,
        )
    g.add_edges_from(graph.edges)
    return g


def _same_node(a: dict, b: dict) -> bool:
    return (
        a["op"] == b["op"]
        and a["out_shape"] == b["out_shape"]
        and a["backward"] == b["backward"]
        and math.isclose(a["flop"], b["flop"], rel_tol=1e-12)
        and math.isclose(a["param_count"], b["param_count"], rel_tol=1e-12)
    )


def _equal_up_to_numbering(ours: nx.DiGraph, reference: nx.DiGraph) -> bool:
    """Isomorphic with matching op, shape, FLOP, parameters and direction: equal whatever the stage order.

    Names are deliberately not compared here, so the check does not rely on naming to line nodes up;
    ``test_node_names_are_the_references`` checks them separately.
    """
    return DiGraphMatcher(ours, reference, node_match=_same_node).is_isomorphic()


def _differences_by_name(ours: nx.DiGraph, reference: nx.DiGraph) -> str:
    """A readable failure message: the first nodes whose values or inputs differ, lined up by name."""
    theirs = {data["name"]: node for node, data in reference.nodes(data=True)}
    lines = []
    for node, data in ours.nodes(data=True):
        other = theirs.get(data["name"])
        if other is None:
            lines.append(f"{data['name']}: not in the reference")
            continue
        inputs = sorted(ours.nodes[u]["name"] for u in ours.predecessors(node))
        their_inputs = sorted(reference.nodes[u]["name"] for u in reference.predecessors(other))
        if not _same_node(data, reference.nodes[other]) or inputs != their_inputs:
            lines.append(f"ours {data} <- {inputs}\n  reference {reference.nodes[other]} <- {their_inputs}")
    return "\n".join(lines[:5])


@pytest.mark.parametrize("name", MODELS)
def test_model_equals_reference_graph(name: str) -> None:
    graph = build_model(name)
    reference = _reference(name)
    assert reference["batch_size"] == 1
    assert len(graph) == len(reference["nodes"])
    ours, theirs = _digraph(graph), _reference_digraph(name)
    assert _equal_up_to_numbering(ours, theirs), _differences_by_name(ours, theirs)


@pytest.mark.parametrize("name", MODELS)
def test_node_names_are_the_references(name: str) -> None:
    ours = {node.name: node.op for node in build_model(name).nodes}
    assert ours == {node["name"]: node["op"] for node in _reference(name)["nodes"]}


def test_resnet18_cifar_reference_order_differs_but_graph_matches() -> None:
    """The reference numbered this one by an unordered topological sort; ours is definition order."""
    ours = [node.name for node in build_model("resnet18_cifar").nodes]
    theirs = [node["name"] for node in _reference("resnet18_cifar")["nodes"]]
    assert ours != theirs
    assert ours == [f"layer{i}_{name.split('_', 1)[1]}" for i, name in enumerate(ours)]


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda g: g.nodes[40].update(flop=g.nodes[40]["flop"] * (1 + 1e-9)), id="flop"),
        pytest.param(lambda g: g.nodes[5].update(out_shape=(1, 64, 55, 56)), id="shape"),
        pytest.param(lambda g: g.nodes[4].update(param_count=36929), id="params"),
        pytest.param(lambda g: (g.remove_edge(6, 9), g.add_edge(5, 9)), id="skip-edge"),
    ],
)
def test_comparison_rejects_a_single_difference(mutate) -> None:
    """The equality check must be able to fail: one changed value or edge in resnet18 is caught."""
    ours = _digraph(build_model("resnet18"))
    reference = _reference_digraph("resnet18")
    mutate(ours)
    assert not _equal_up_to_numbering(ours, reference)


def test_vgg16_first_classifier_counts_are_floats() -> None:
    """Reference quirk: its in-features are 512*(224/32)*(224/32) = 25088.0, a float."""
    node = build_model("vgg16").nodes[33]
    assert node.op == "LinearLayer"
    assert isinstance(node.param_count, float) and node.param_count == 102_764_544.0
    assert isinstance(node.flop, float) and node.flop == 205_533_184.0


@pytest.mark.parametrize("name", ("bert", "resnet18_cifar"))
def test_backward_is_the_reference_chain(name: str) -> None:
    """g_j reads f_{n-1-j}, f_{n-j}, g_{j-1}; 2x the FLOP of f_{n-1-j}; f_{n-j}'s shape (non-default size)."""
    params = {"seq_len": 64} if name == "bert" else {"resolution": 40}
    nodes = build_model(name, batch_size=3, **params).nodes
    n = sum(not node.is_backward for node in nodes)
    assert [node.op for node in nodes[n:]] == ["GradientLayer"] * (n - 1)
    assert nodes[n - 1].op == "CrossEntropyLoss"
    assert nodes[n].inputs == (n - 2, n - 1)
    for j in range(2, n):
        grad = nodes[n - 1 + j]
        assert grad.is_backward and grad.param_count == 0
        assert grad.inputs == (n - 1 - j, n - j, n - 2 + j)
        assert grad.flop == 2 * nodes[n - 1 - j].flop
        assert grad.out_shape == nodes[n - j].out_shape


# --- parameters -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", MODELS)
def test_batch_size_scales_the_batch_axis(name: str) -> None:
    """Every tensor but the loss-shaped (k,) ones doubles along axis 0; FLOP doubles where the formula
    counts elements, except Linear, whose formula ignores the batch (FORMULATION §3)."""
    one, two = build_model(name).nodes, build_model(name, batch_size=2).nodes
    assert [(n.name, n.inputs, n.param_count) for n in one] == [(n.name, n.inputs, n.param_count) for n in two]
    for a, b in zip(one, two, strict=True):
        if len(a.out_shape) == 1:
            assert b.out_shape == a.out_shape, a.name
        else:
            assert b.out_shape == (2 * a.out_shape[0], *a.out_shape[1:]), a.name
        if a.op == "LinearLayer":
            assert b.flop == a.flop, a.name
        elif a.op == "LinearLayerReLU":
            assert b.flop == a.flop + a.out_elements, a.name
        elif not a.is_backward:
            assert b.flop == 2 * a.flop, a.name


def test_linear_batch_two_by_hand() -> None:
    nodes = build_model("linear", batch_size=2).nodes
    assert nodes[0].out_shape == (2, 784)
    first = nodes[1]
    assert (first.op, first.out_shape, first.param_count) == ("LinearLayer", (2, 10), 7850)  # (784+1)*10
    assert first.flop == 15_710  # 2*7850 + 10: the Linear formula has no batch term
    assert nodes[2].flop == 20  # ReLU over 2x10 elements
    loss = nodes[13]
    assert (loss.op, loss.out_shape, loss.flop) == ("CrossEntropyLoss", (10,), 200)  # 20 elements x 10


def test_vgg16_cifar_at_resolution_64_by_hand() -> None:
    nodes = build_model("vgg16_cifar", resolution=64).nodes
    conv = nodes[1]
    assert conv.out_shape == (1, 64, 64, 64)
    assert conv.flop == 14_417_920  # 2*3*3 * (3*64*64) * 64 + 64*64*64
    assert conv.param_count == 1792
    assert nodes[32].out_shape == (1, 2048)  # 512 channels x 2x2 after five 2x2 pools
    classifier = nodes[33]
    assert classifier.param_count == 8_392_704  # (2048+1)*4096
    assert classifier.flop == 16_789_504  # 2*8392704 + 4096
    doubled = build_model("vgg16_cifar", resolution=64, batch_size=2).nodes[1]
    assert (doubled.out_shape, doubled.flop) == ((2, 64, 64, 64), 28_835_840)


def test_resnet18_average_pool_covers_the_final_map() -> None:
    """At 64x64 the last map is 2x2 (64 -> 32 -> 15 -> 7 -> 4 -> 2); the pool still gives 1x1."""
    pool = next(n for n in build_model("resnet18", resolution=64).nodes if n.op == "AvgPool2d")
    assert pool.out_shape == (1, 512, 1, 1)
    assert pool.flop == 4096  # 2 * 2*2 window * 512 outputs


def test_transformer_seq_len_by_hand() -> None:
    nodes = build_model("transformer", seq_len=128).nodes
    expected = [
        ("InputLayer", (128, 768), 0),
        ("QueryKeyValueMatrix", (384, 64, 12), 226_492_416),  # 3*S*H*d*A
        ("QKTMatrix", (128, 128, 12), 12_976_128),  # S*d*S*A + 2*S*S*A
        ("QKTVMatrix", (128, 768), 25_165_824),  # 2*S*S*d*A
        ("LinearLayer", (128, 768), 1_181_952),
        ("SkipAddLayer", (128, 768), 98_304),
        ("LinearLayerReLU", (128, 3072), 5_121_024),  # 2*2362368 + 3072 + 128*3072
        ("LinearLayer", (128, 768), 4_720_896),
        ("SkipAddLayer", (128, 768), 98_304),
        ("CrossEntropyLoss", (128,), 12_582_912),  # 128*768 elements x k=S classes
    ]
    assert [(n.op, n.out_shape, n.flop) for n in nodes[:10]] == expected
    assert [n.inputs for n in nodes[4:9]] == [(3,), (0, 4), (5,), (6,), (4, 7)]
    assert len(build_model("bert", seq_len=128)) == 195


def test_transformer_batch_stacks_sequences() -> None:
    nodes = build_model("transformer", batch_size=2).nodes
    assert nodes[0].out_shape == (1024, 768)
    assert (nodes[2].out_shape, nodes[2].flop) == ((1024, 512, 12), 2 * 207_618_048)
    assert (nodes[9].out_shape, nodes[9].flop) == ((512,), 1024 * 768 * 512)


def test_default_parameters_can_be_given_explicitly() -> None:
    for info in list_models():
        assert build_model(info.name, **info.defaults).nodes == build_model(info.name).nodes


def test_numpy_integers_are_accepted() -> None:
    assert build_model("linear", batch_size=np.int64(3)).nodes[0].out_shape == (3, 784)


def test_builds_are_deterministic() -> None:
    assert build_model("resnet18_cifar", batch_size=2).nodes == build_model("resnet18_cifar", batch_size=2).nodes


# --- errors -----------------------------------------------------------------------------------------


def test_unknown_model_lists_the_known_ones() -> None:
    with pytest.raises(GraphError, match="'vgg19'") as info:
        build_model("vgg19")
    assert all(name in str(info.value) for name in MODELS)


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("vgg16", {"seq_len": 128}),
        ("linear", {"resolution": 32}),
        ("linear", {"seq_len": 8}),
        ("transformer", {"resolution": 224}),
        ("bert", {"resolution": 224}),
    ],
)
def test_parameter_that_does_not_apply_is_refused(name: str, kwargs: dict) -> None:
    (param,) = kwargs
    with pytest.raises(GraphError, match=rf"^{name}: {param} does not apply"):
        build_model(name, **kwargs)


@pytest.mark.parametrize("value", [0, -1, 1.5, 2.0, True, "8"])
@pytest.mark.parametrize(
    ("name", "param"),
    [
        ("linear", "batch_size"),
        ("resnet18", "resolution"),
        ("bert", "seq_len"),
        ("vgg16_cifar", "batch_size"),
    ],
)
def test_bad_parameter_values_are_refused(name: str, param: str, value: object) -> None:
    with pytest.raises(
        GraphError, match=rf"^{name}: {param} must be a positive integer, got {re.escape(repr(value))}$"
    ):
        build_model(name, **{param: value})


@pytest.mark.parametrize(
    ("name", "too_small", "smallest"),
    [("vgg16", 31, 32), ("vgg16_cifar", 16, 32), ("resnet18", 4, 5), ("resnet50", 4, 5)],
)
def test_resolution_too_small_for_the_downsampling(name: str, too_small: int, smallest: int) -> None:
    with pytest.raises(GraphError, match=rf"^{name}: resolution {too_small} is too small"):
        build_model(name, resolution=too_small)
    assert build_model(name, resolution=smallest).nodes[0].out_shape == (1, 3, smallest, smallest)


def test_resnet18_cifar_builds_down_to_one_pixel() -> None:
    """Its padded 3x3 convolutions never shrink a map below 1x1, and its pool adapts to the map."""
    assert build_model("resnet18_cifar", resolution=1).nodes[63].out_shape == (1, 64, 1, 1)


# --- the menu ---------------------------------------------------------------------------------------


def test_list_models_menu() -> None:
    infos = list_models()
    assert [info.name for info in infos] == list(MODELS)
    for info in infos:
        assert isinstance(info, ModelInfo)
        assert info.description and "\n" not in info.description
        assert info.parameters[0] == "batch_size"
        assert set(info.defaults) == set(info.parameters)
        assert info.defaults["batch_size"] == 1
    by_name = {info.name: info for info in infos}
    assert by_name["linear"].parameters == ("batch_size",)
    for name in IMAGE_MODELS:
        expected = 32 if name.endswith("_cifar") else 224
        assert dict(by_name[name].defaults) == {"batch_size": 1, "resolution": expected}
    for name in TEXT_MODELS:
        assert dict(by_name[name].defaults) == {"batch_size": 1, "seq_len": 512}


def test_model_info_is_immutable_and_hashable() -> None:
    info = list_models()[1]
    with pytest.raises(TypeError):
        info.defaults["resolution"] = 64  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.name = "other"  # type: ignore[misc]
    assert len(set(list_models())) == len(MODELS)
    assert list_models() == list_models()
