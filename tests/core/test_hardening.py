"""Hostile input through the CLI and the loaders the app uses (issue 16): each is refused in one line
that names the file and the field, never with a traceback or a numpy repr."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_runner import run_cli

from poet_gui.cli import EXIT_BAD_INPUT, EXIT_PLAN
from poet_gui.core.device.profiles import DEFAULT_PROFILES_DIR, load_profile
from poet_gui.core.errors import GraphError, PlanFormatError, ProfileError
from poet_gui.core.files.workspace import file_format, read_workspace
from poet_gui.core.model.graph import MAX_NODES
from poet_gui.core.model.graph_io import graph_to_json, load_graph_file
from poet_gui.core.model.zoo import build_model, list_models
from poet_gui.core.schedule.operations import build_operations
from poet_gui.core.schedule.problem import make_problem
from poet_gui.core.schedule.reference_points import plain_decisions, plain_operations, reference_points_of

SOLVE = ["--profile", "a72", "--ram-budget", "60%", "--runtime-budget", "1.5"]


def one_line(err: str) -> str:
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err.strip()


def linear_json(tmp_path: Path, name: str, node: int, **fields: object) -> Path:
    data = graph_to_json(build_model("linear"))
    data["nodes"][node].update(fields)
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


# --- deeply nested JSON (item 3) ---------------------------------------------------------------------


@pytest.fixture
def deep_json(tmp_path: Path) -> Path:
    path = tmp_path / "deep.json"
    path.write_text("[" * 200_000 + "]" * 200_000, encoding="utf-8")
    return path


@pytest.mark.parametrize(("command", "kind"), [("solve", "graph file"), ("verify", "plan file")])
def test_deeply_nested_json_is_one_line_in_the_cli(capsys, deep_json, command, kind):
    args = ["solve", "--graph", str(deep_json), *SOLVE] if command == "solve" else ["verify", str(deep_json)]
    code, _, err = run_cli(capsys, *args)
    assert code == EXIT_BAD_INPUT
    assert one_line(err).startswith(f"poet: error: {deep_json}: not a readable {kind}: its JSON is nested too deeply")


def test_deeply_nested_json_takes_the_apps_open_path_to_a_poet_error(deep_json):
    """The app's File ▸ Open asks file_format first, then a reader; each must answer with a PoetError."""
    assert file_format(deep_json) is None
    with pytest.raises(GraphError, match="not a readable graph file"):
        load_graph_file(deep_json)
    with pytest.raises(PlanFormatError, match="not a readable workspace file"):
        read_workspace(deep_json)


def test_an_integer_of_5000_digits_is_a_readable_refusal(capsys, tmp_path):
    path = tmp_path / "digits.json"
    path.write_text('{"model": "x", "nodes": [{"flop": 1' + "0" * 5000 + "}]}", encoding="utf-8")
    assert file_format(path) is None
    code, _, err = run_cli(capsys, "solve", "--graph", str(path), *SOLVE)
    assert code == EXIT_BAD_INPUT and "not a readable graph file: Exceeds the limit" in one_line(err)


def test_a_missing_json_is_not_called_a_graph_file(tmp_path):
    """The app opens every .json through the graph reader when the file cannot say what it is."""
    with pytest.raises(GraphError, match=r"missing\.json: no such file$"):
        load_graph_file(tmp_path / "missing.json")


# --- oversized integers (item 4) ---------------------------------------------------------------------


def test_a_shape_of_10_to_the_400_is_refused_naming_the_node_and_field(capsys, tmp_path):
    path = linear_json(tmp_path, "shape.json", 1, out_shape=[1, 10**400])
    code, _, err = run_cli(capsys, "solve", "--graph", str(path), *SOLVE)
    assert code == EXIT_BAD_INPUT
    line = one_line(err)
    assert "node 1 ('layer1_LinearLayer'): out_shape" in line and "about 10^400 elements" in line
    assert "0" * 100 not in line  # the 401-digit number is cut short


def test_a_flop_count_of_10_to_the_400_is_refused_naming_the_field(capsys, tmp_path):
    path = linear_json(tmp_path, "flop.json", 1, flop=10**400)
    code, _, err = run_cli(capsys, "solve", "--graph", str(path), *SOLVE)
    assert code == EXIT_BAD_INPUT and "node 1 ('layer1_LinearLayer'): flop must be a finite number" in one_line(err)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--onnx", "poet_gui/samples/mlp.onnx", "--dim", "batch=" + "1" + "0" * 30], "--dim: batch: must be at most"),
        (["--model", "linear", "--batch-size", "1" + "0" * 30], "--batch-size: must be at most 2,147,483,647"),
        (["--model", "linear", "--points", "1" + "0" * 12], "--points: must be at most 10,000"),
    ],
)
def test_oversized_cli_numbers_are_refused_naming_the_option(capsys, args, expected):
    command = "sweep" if "--points" in args else "solve"
    extra = ["--csv", "/tmp/unused.csv"] if command == "sweep" else ["--ram-budget", "60%", "--runtime-budget", "1.5"]
    code, _, err = run_cli(capsys, command, *args, "--profile", "a72", *extra)
    assert code == EXIT_BAD_INPUT and expected in one_line(err)


# --- profile figures that make a cost non-finite (item 6) ----------------------------------------------


def profile_file(tmp_path: Path, **figures: str) -> Path:
    text = (DEFAULT_PROFILES_DIR / "a72.toml").read_text(encoding="utf-8")
    lines = []
    for line in text.splitlines():
        key = line.split("=")[0].strip()
        lines.append(f"{key} = {figures[key]}" if key in figures else line)
    path = tmp_path / "edited.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_denormal_rate_is_refused_when_the_profile_loads(capsys, tmp_path):
    path = profile_file(tmp_path, flop_per_s="1e-320")
    with pytest.raises(ProfileError, match=r"\[compute\]\.flop_per_s must be at least 2\.23e-308"):
        load_profile(path)
    code, _, err = run_cli(
        capsys, "solve", "--model", "linear", "--profile", str(path), "--ram-budget", "60%", "--runtime-budget", "1.5"
    )
    assert code == EXIT_BAD_INPUT and "[compute].flop_per_s must be at least" in one_line(err)


def test_figures_that_overflow_on_a_model_are_refused_naming_the_node_and_figures(tmp_path):
    profile = load_profile(profile_file(tmp_path, flop_per_s="1e-300"))
    with pytest.raises(ProfileError, match=r"compute time of node \d+ .* flop / \[compute\]\.flop_per_s overflows"):
        make_problem(build_model("vgg16"), profile, ram_budget_bytes=1e9, runtime_factor=1.5)


def test_a_plan_file_with_a_denormal_profile_figure_is_refused(capsys, tmp_path):
    plan = tmp_path / "plan.json"
    base = ["solve", "--model", "linear", "--profile", "a72", "--ram-budget", "3300", "--runtime-budget", "1.0"]
    assert run_cli(capsys, *base, "--out", str(plan))[0] == EXIT_PLAN
    data = json.loads(plan.read_text(encoding="utf-8"))
    data["profile"]["pagein_bytes_per_s"] = 1e-320
    plan.write_text(json.dumps(data), encoding="utf-8")
    code, _, err = run_cli(capsys, "verify", str(plan))
    assert code == EXIT_BAD_INPUT and "profile.pagein_bytes_per_s must be at least" in one_line(err)


# --- verify prints plain numbers (item 7) --------------------------------------------------------------


@pytest.mark.parametrize(
    ("section", "key"), [("reference", "plain_energy_j"), ("simulation", "compute_s"), ("result", "energy_j")]
)
def test_verify_refusals_print_plain_numbers(capsys, tmp_path, section, key):
    plan = tmp_path / "plan.json"
    base = ["solve", "--model", "linear", "--profile", "a72", "--ram-budget", "3300", "--runtime-budget", "1.0"]
    assert run_cli(capsys, *base, "--out", str(plan))[0] == EXIT_PLAN
    data = json.loads(plan.read_text(encoding="utf-8"))
    data[section][key] *= 1.01
    if section == "result":  # keep the stated gap consistent, so the energy itself is what is refused
        data["result"]["bound_j"] = data["result"]["energy_j"]
    plan.write_text(json.dumps(data), encoding="utf-8")
    code, _, err = run_cli(capsys, "verify", str(plan))
    line = one_line(err)
    assert code == EXIT_BAD_INPUT and f"{section}.{key} is " in line
    assert "np." not in line and "float64" not in line


# --- graphs too large to plan (item 2) -------------------------------------------------------------------


def chain_json(tmp_path: Path, n: int) -> Path:
    """A graph file of ``n`` nodes in a chain (each reads the one before)."""
    nodes = [
        {"id": i, "name": f"n{i}", "op": "Linear", "backward": False, "flop": 100, "out_shape": [4],
         "param_count": 0, "inputs": [i - 1] if i else []}
        for i in range(n)
    ]  # fmt: skip
    path = tmp_path / f"chain{n}.json"
    path.write_text(json.dumps({"model": f"chain{n}", "nodes": nodes}), encoding="utf-8")
    return path


def test_plain_operations_equal_the_dense_plain_schedules_on_every_zoo_model():
    for info in list_models():
        graph = build_model(info.name)
        assert plain_operations(graph) == build_operations(graph, plain_decisions(graph)), info.name


@pytest.mark.parametrize("n", [20_000, 1_000_000])
def test_a_graph_beyond_the_planners_limit_is_refused_in_one_line(capsys, tmp_path, n):
    """Before this, 20,000 nodes tried to allocate 6 GiB and 10**6 nodes 14.6 TiB (np.indices)."""
    path = tmp_path / f"chain{n}.json"  # the count is refused before any node is read
    path.write_text(json.dumps({"model": f"chain{n}", "nodes": [{}] * n}), encoding="utf-8")
    code, _, err = run_cli(capsys, "solve", "--graph", str(path), *SOLVE)
    assert code == EXIT_BAD_INPUT
    assert f"chain{n}.json: {n:,} nodes is more than the planner handles ({MAX_NODES:,})" in one_line(err)


def test_the_reference_points_of_a_graph_at_the_limit_come_from_the_linear_plain_schedule(tmp_path):
    graph = load_graph_file(chain_json(tmp_path, MAX_NODES))
    profile = load_profile("a72")
    ref = reference_points_of(graph, profile)
    assert ref.plain_peak_ram_bytes == 2 * 4 * profile.bytes_per_element  # a node's input and its output
