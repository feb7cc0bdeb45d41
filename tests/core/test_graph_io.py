"""Graph files: the reference graphs load and round-trip exactly, every malformed file is refused
naming the file and the offending node and field, and files are written atomically."""

from __future__ import annotations

import copy
import json
import os
import random
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from poet_gui.core import atomic
from poet_gui.core.atomic import write_bytes_atomic, write_text_atomic
from poet_gui.core.errors import GraphError, PoetError
from poet_gui.core.model.graph import Node, TrainingGraph, build_graph
from poet_gui.core.model.graph_io import graph_to_json, load_graph_file, save_graph_file

REPO = Path(__file__).resolve().parents[2]
REFERENCE_GRAPHS = REPO.parent / "shared" / "reference" / "graphs"
NODE_COUNTS = {
    "bert": 195,
    "linear": 27,
    "resnet18": 127,
    "resnet18_cifar": 133,
    "resnet50": 335,
    "transformer": 19,
    "vgg16": 81,
    "vgg16_cifar": 81,
}

needs_reference = pytest.mark.skipif(
    not REFERENCE_GRAPHS.is_dir(), reason=f"reference data not found at {REFERENCE_GRAPHS}"
)


def _reference(model: str) -> dict[str, Any]:
    return json.loads((REFERENCE_GRAPHS / f"{model}.json").read_text(encoding="utf-8"))


def _small() -> dict[str, Any]:
    """A four-node graph file (a diamond), small enough to break field by field."""

    def node(i: int, name: str, inputs: list[int], backward: bool = False) -> dict[str, Any]:
        return {
            "id": i,
            "name": name,
            "op": "Op",
            "backward": backward,
            "flop": 10.0 * i,
            "out_shape": [1, i + 1],
            "param_count": i,
            "inputs": inputs,
        }

    return {
        "model": "diamond",
        "nodes": [node(0, "a", []), node(1, "b", [0]), node(2, "c", [0]), node(3, "d", [1, 2], True)],
    }


def _write(tmp_path: Path, data: object, name: str = "broken.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _refusal(path: Path) -> str:
    with pytest.raises(GraphError) as info:
        load_graph_file(path)
    message = str(info.value)
    assert str(path) in message
    return message


# --- reference files -------------------------------------------------------------------------------


@needs_reference
def test_every_reference_file_is_listed() -> None:
    assert sorted(p.stem for p in REFERENCE_GRAPHS.glob("*.json")) == sorted(NODE_COUNTS)


@needs_reference
@pytest.mark.parametrize("model", sorted(NODE_COUNTS))
def test_reference_file_loads_in_file_order(model: str) -> None:
    data = _reference(model)
    graph = load_graph_file(REFERENCE_GRAPHS / f"{model}.json")
    assert graph.name == model
    assert len(graph) == NODE_COUNTS[model] == len(data["nodes"])
    for i, (node, raw) in enumerate(zip(graph.nodes, data["nodes"], strict=True)):
        assert raw["id"] == i  # reference ids are stage indices, so file order is stage order
        assert node.name == raw["name"]
        assert node.op == raw["op"]
        assert node.is_backward is raw["backward"]
        assert node.flop == raw["flop"]
        assert node.param_count == raw["param_count"]
        assert node.out_shape == tuple(raw["out_shape"])
        assert node.inputs == tuple(dict.fromkeys(raw["inputs"]))  # de-duplicated, order kept


@needs_reference
def test_the_doubly_read_loss_becomes_one_edge() -> None:
    data = _reference("linear")
    first_grad = next(i for i, n in enumerate(data["nodes"]) if n["backward"])
    assert data["nodes"][first_grad]["inputs"] == [12, 13, 13]
    graph = load_graph_file(REFERENCE_GRAPHS / "linear.json")
    assert graph.nodes[first_grad].inputs == (12, 13)


@needs_reference
@pytest.mark.parametrize("model", sorted(NODE_COUNTS))
def test_reference_graph_round_trips_exactly(model: str, tmp_path: Path) -> None:
    graph = load_graph_file(REFERENCE_GRAPHS / f"{model}.json")
    path = tmp_path / f"{model}.json"
    save_graph_file(graph, path)
    again = load_graph_file(path)
    assert again == graph
    assert graph_to_json(again) == graph_to_json(graph)
    assert [p.name for p in tmp_path.iterdir()] == [f"{model}.json"]


def test_saved_file_has_the_reference_format(tmp_path: Path) -> None:
    graph = load_graph_file(_write(tmp_path, _small(), "diamond.json"))
    path = tmp_path / "out.json"
    save_graph_file(graph, path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert set(data) == {"model", "nodes"}
    assert data["model"] == "diamond"
    assert data["nodes"] == _small()["nodes"]  # already topological with ids 0..3: written back as is


def test_number_types_survive_the_round_trip(tmp_path: Path) -> None:
    """vgg16's first classifier layer has float parameter counts; an int must stay an int."""
    graph = build_graph(
        "types",
        [
            Node("x", "Input", False, 0, (1, 3), 0, ()),
            Node("fc", "Linear", False, 205533184.0, (1, 4096), 102764544.0, (0,)),
            Node("odd", "Linear", False, 0.1 + 0.2, (4096,), 1 / 3, (1,)),
        ],
    )
    path = tmp_path / "types.json"
    save_graph_file(graph, path)
    again = load_graph_file(path)
    assert again == graph
    assert [type(n.flop) for n in again.nodes] == [int, float, float]
    assert [type(n.param_count) for n in again.nodes] == [int, float, float]


def test_model_name_defaults_to_the_file_stem(tmp_path: Path) -> None:
    data = _small()
    del data["model"]
    assert load_graph_file(_write(tmp_path, data, "unnamed.json")).name == "unnamed"


def test_costs_and_other_top_level_keys_are_ignored(tmp_path: Path) -> None:
    data = _small()
    plain = load_graph_file(_write(tmp_path, data, "plain.json"))
    data["costs"] = {"m0": {"runtime_s": "not even numbers"}}
    data["batch_size"] = 1
    assert load_graph_file(_write(tmp_path, data, "extra.json")) == plain


# --- ids and order ---------------------------------------------------------------------------------


@needs_reference
def test_ids_are_labels_not_positions(tmp_path: Path) -> None:
    """Relabelled, non-contiguous, listed in reverse: a chain still has only one stage order."""
    data = _reference("linear")
    relabel = {n["id"]: 1000 - 7 * n["id"] for n in data["nodes"]}
    for n in data["nodes"]:
        n["id"] = relabel[n["id"]]
        n["inputs"] = [relabel[u] for u in n["inputs"]]
    data["nodes"].reverse()
    graph = load_graph_file(_write(tmp_path, data, "relabelled.json"))
    assert graph == load_graph_file(REFERENCE_GRAPHS / "linear.json")


@needs_reference
def test_non_topological_file_is_reordered_deterministically(tmp_path: Path) -> None:
    """resnet18_cifar has parallel branches, so its stage order is a choice: it must be the same
    choice every time, be topological, and keep every node and dependency."""
    original = load_graph_file(REFERENCE_GRAPHS / "resnet18_cifar.json")
    data = _reference("resnet18_cifar")
    random.Random(1234).shuffle(data["nodes"])
    path = _write(tmp_path, data, "shuffled.json")
    first, second = load_graph_file(path), load_graph_file(path)
    assert first == second
    assert [n.name for n in first.nodes] != [n["name"] for n in data["nodes"]]  # re-ordered
    assert all(u < v for u, v in first.edges)

    def named_edges(g: TrainingGraph) -> set[tuple[str, str]]:
        return {(g.nodes[u].name, g.nodes[v].name) for u, v in g.edges}

    assert named_edges(first) == named_edges(original)
    assert {n.name for n in first.nodes} == {n.name for n in original.nodes}


def test_small_non_topological_order_gets_the_stable_sort(tmp_path: Path) -> None:
    """Ties are broken by file position: c (listed before b) comes before b; d still reads b then c."""
    data = _small()
    nodes = data["nodes"]
    data["nodes"] = [nodes[3], nodes[2], nodes[1], nodes[0]]
    graph = load_graph_file(_write(tmp_path, data))
    assert [n.name for n in graph.nodes] == ["a", "c", "b", "d"]
    assert [n.inputs for n in graph.nodes] == [(), (0,), (0,), (2, 1)]


# --- refusals --------------------------------------------------------------------------------------


def _set(path: list[Any], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        target = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


def _delete(path: list[Any]) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        target = data
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return change


BAD_FILES: dict[str, tuple[Callable[[dict[str, Any]], None], tuple[str, ...]]] = {
    "missing nodes": (_delete(["nodes"]), ("missing field nodes",)),
    "nodes not a list": (_set(["nodes"], {"0": {}}), ("nodes must be a list",)),
    "no nodes": (_set(["nodes"], []), ("no nodes",)),
    "model not a string": (_set(["model"], 7), ("model must be a non-empty string", "7")),
    "node not an object": (_set(["nodes", 2], [1, 2]), ("node 2 must be a JSON object",)),
    "node missing flop": (_delete(["nodes", 1, "flop"]), ("node 1 ('b')", "missing", "flop")),
    "node missing id": (_delete(["nodes", 2, "id"]), ("node 2 ('c')", "missing", "id")),
    "node missing name": (_delete(["nodes", 2, "name"]), ("node 2:", "missing", "name")),
    "id not an int": (_set(["nodes", 1, "id"], "1"), ("node 1 ('b')", "id must be an integer", "'1'")),
    "id a float": (_set(["nodes", 1, "id"], 1.0), ("node 1 ('b')", "id must be an integer", "1.0")),
    "id a bool": (_set(["nodes", 1, "id"], True), ("node 1 ('b')", "id must be an integer", "True")),
    "name empty": (_set(["nodes", 1, "name"], ""), ("node 1", "name must be a non-empty string")),
    "name not a string": (_set(["nodes", 1, "name"], 5), ("node 1", "name must be a non-empty string", "5")),
    "op not a string": (_set(["nodes", 1, "op"], None), ("node 1 ('b')", "op must be", "None")),
    "backward not bool": (_set(["nodes", 3, "backward"], "yes"), ("node 3 ('d')", "backward", "'yes'")),
    "backward as 0/1": (_set(["nodes", 3, "backward"], 1), ("node 3 ('d')", "backward", "1")),
    "flop a string": (_set(["nodes", 1, "flop"], "10"), ("node 1 ('b')", "flop must be a number", "'10'")),
    "flop a bool": (_set(["nodes", 1, "flop"], True), ("node 1 ('b')", "flop must be a number", "True")),
    "flop null": (_set(["nodes", 1, "flop"], None), ("node 1 ('b')", "flop must be a number", "None")),
    "flop negative": (_set(["nodes", 1, "flop"], -5.0), ("node 1 ('b')", "flop", ">= 0", "-5.0")),
    "flop NaN": (_set(["nodes", 1, "flop"], float("nan")), ("node 1 ('b')", "flop", "finite", "nan")),
    "flop infinite": (_set(["nodes", 1, "flop"], float("inf")), ("node 1 ('b')", "flop", "finite", "inf")),
    "params a string": (_set(["nodes", 2, "param_count"], "2"), ("node 2 ('c')", "param_count", "'2'")),
    "params negative": (_set(["nodes", 2, "param_count"], -2), ("node 2 ('c')", "param_count", "-2")),
    "shape not a list": (_set(["nodes", 1, "out_shape"], 3), ("node 1 ('b')", "out_shape", "3")),
    "shape zero": (_set(["nodes", 1, "out_shape"], [1, 0]), ("node 1 ('b')", "out_shape", "[1, 0]")),
    "shape negative": (_set(["nodes", 1, "out_shape"], [-1, 2]), ("node 1 ('b')", "out_shape", "[-1, 2]")),
    "shape float": (_set(["nodes", 1, "out_shape"], [1, 2.0]), ("node 1 ('b')", "out_shape", "[1, 2.0]")),
    "shape bool": (_set(["nodes", 1, "out_shape"], [True]), ("node 1 ('b')", "out_shape", "[True]")),
    "shape string": (_set(["nodes", 1, "out_shape"], "1x2"), ("node 1 ('b')", "out_shape", "'1x2'")),
    "inputs not a list": (_set(["nodes", 1, "inputs"], 0), ("node 1 ('b')", "inputs must be a list", "0")),
    "input a name": (_set(["nodes", 1, "inputs"], ["a"]), ("node 1 ('b')", "inputs", "['a']")),
    "input a float": (_set(["nodes", 1, "inputs"], [0.0]), ("node 1 ('b')", "inputs", "[0.0]")),
    "unknown input id": (_set(["nodes", 3, "inputs"], [1, 99]), ("node 3 ('d')", "[99]", "not ids")),
    "duplicate id": (_set(["nodes", 2, "id"], 1), ("node 2 ('c')", "id 1", "node 1 ('b')")),
    "duplicate name": (_set(["nodes", 2, "name"], "b"), ("node 2 ('b')", "duplicate name")),
    "self input": (_set(["nodes", 2, "inputs"], [0, 2]), ("node 2 ('c')", "own output")),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_file_is_refused_naming_file_node_and_field(case: str, tmp_path: Path) -> None:
    change, fragments = BAD_FILES[case]
    data = copy.deepcopy(_small())
    change(data)
    message = _refusal(_write(tmp_path, data))
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_base_file_of_the_refusal_cases_is_valid(tmp_path: Path) -> None:
    """Every refusal above must come from its one change, not from a broken starting point."""
    graph = load_graph_file(_write(tmp_path, _small()))
    assert [n.name for n in graph.nodes] == ["a", "b", "c", "d"]
    assert graph.edges == ((0, 1), (0, 2), (1, 3), (2, 3))


def test_all_missing_node_fields_are_named(tmp_path: Path) -> None:
    data = _small()
    for field in ("flop", "op", "inputs"):
        del data["nodes"][1][field]
    message = _refusal(_write(tmp_path, data))
    assert "node 1 ('b')" in message
    for field in ("flop", "op", "inputs"):
        assert field in message


def test_cycle_is_refused_naming_its_nodes(tmp_path: Path) -> None:
    data = _small()
    data["nodes"][1]["inputs"] = [0, 3]  # b reads d, d reads b
    message = _refusal(_write(tmp_path, data))
    assert "cycle" in message
    assert "b -> d -> b" in message or "d -> b -> d" in message
    assert "'a'" not in message and " c " not in message


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{"model": "x", "nodes": [', "line 1, column 26"),
        ('{"model": "x",\n "nodes": [}\n', "line 2, column 12"),
        ("", "line 1, column 1"),
        ("nodes = []", "line 1, column 1"),
    ],
)
def test_invalid_json_gives_line_and_column(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text, encoding="utf-8")
    message = _refusal(path)
    assert "not valid JSON" in message
    assert where in message


@needs_reference
def test_truncated_reference_file_is_refused(tmp_path: Path) -> None:
    text = (REFERENCE_GRAPHS / "linear.json").read_text(encoding="utf-8")
    path = tmp_path / "linear.json"
    path.write_text(text[: len(text) // 2], encoding="utf-8")
    message = _refusal(path)
    assert "not valid JSON" in message
    assert "line 1, column" in message


@pytest.mark.parametrize("top", [[], "graph", 3, None])
def test_top_level_must_be_an_object(tmp_path: Path, top: object) -> None:
    message = _refusal(_write(tmp_path, top))
    assert "top level must be a JSON object" in message


def test_missing_file_is_refused_naming_it(tmp_path: Path) -> None:
    _refusal(tmp_path / "absent.json")


def test_non_utf8_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes(json.dumps(_small()).replace('"a"', '"\xe9"').encode("latin-1"))
    assert "UTF-8" in _refusal(path)


# --- atomic writes ---------------------------------------------------------------------------------


def test_write_text_atomic_creates_and_replaces(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    write_text_atomic(path, "one\n")
    assert path.read_text(encoding="utf-8") == "one\n"
    write_text_atomic(path, "two ü\n")
    assert path.read_bytes() == "two ü\n".encode()
    write_bytes_atomic(path, b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_overwrite_keeps_the_permission_bits(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_text("old", encoding="utf-8")
    path.chmod(0o640)
    write_text_atomic(path, "new")
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_missing_directory_is_a_poet_error(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "f.txt"
    with pytest.raises(PoetError, match="cannot write") as info:
        write_text_atomic(path, "x")
    assert str(path) in str(info.value)


def test_target_that_is_a_directory_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "dir"
    path.mkdir()
    with pytest.raises(PoetError, match="cannot write"):
        write_text_atomic(path, "x")
    assert [p.name for p in tmp_path.iterdir()] == ["dir"]
    assert list(path.iterdir()) == []


@pytest.mark.parametrize("failing", ["fsync", "replace"])
def test_failure_mid_write_keeps_the_old_file_and_removes_the_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    path = tmp_path / "f.txt"
    path.write_text("old", encoding="utf-8")

    def fail(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, failing, fail)
    with pytest.raises(PoetError) as info:
        write_text_atomic(path, "new")
    monkeypatch.undo()
    assert str(info.value) == f"{path}: cannot write: No space left on device"
    assert path.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_interrupt_mid_write_removes_the_temporary_and_propagates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "f.txt"

    def interrupt(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic.os, "replace", interrupt)
    with pytest.raises(KeyboardInterrupt):
        write_text_atomic(path, "new")
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []


def test_save_graph_to_an_unwritable_place_is_a_poet_error(tmp_path: Path) -> None:
    graph = load_graph_file(_write(tmp_path, _small()))
    with pytest.raises(PoetError, match="nowhere"):
        save_graph_file(graph, tmp_path / "nowhere" / "g.json")
