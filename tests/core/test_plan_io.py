"""Plan files: export -> import round-trips exactly, and every malformed or altered file is refused with
one message that starts with the file's path and names the step, field or mismatch."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from poet_gui.core.device.profiles import load_profile
from poet_gui.core.errors import PlanFormatError
from poet_gui.core.files.plan_io import (
    graph_sha256,
    load_plan,
    plan_from_json,
    plan_json_text,
    plan_to_json,
    read_plan,
    save_plan,
)
from poet_gui.core.model.zoo import build_model
from poet_gui.core.schedule.problem import Switches, make_problem
from poet_gui.core.solve.milp import Method, Solver, SolverOptions
from poet_gui.core.solve.planner import VerifiedPlan, plan_problem

DOC = Path(__file__).resolve().parents[2] / "docs" / "plan-format.md"
OPTIONS = SolverOptions(solver=Solver.HIGHS, time_limit_s=20.0, rel_gap=1e-8, threads=1)


@pytest.fixture(scope="module")
def paged(diamond_graph, toy) -> VerifiedPlan:
    """Diamond graph on the toy device at a tight budget: pages out, pages in and recomputes."""
    result = plan_problem(make_problem(diamond_graph, toy, ram_budget_bytes=1415.0, runtime_factor=1.0))
    assert result.sim is not None and result.sim.pageins and result.sim.recomputes
    return result


@pytest.fixture(scope="module")
def results(paged: VerifiedPlan) -> dict[str, VerifiedPlan]:
    linear, a72 = build_model("linear"), load_profile("a72")
    no_params = Switches(budget_includes_params=True, count_paging_time=True)
    return {
        "paged": paged,
        "plain": plan_problem(make_problem(linear, a72, ram_budget_bytes=8000, runtime_factor=1.0)),
        "remat": plan_problem(make_problem(linear, a72, ram_budget_bytes=4000, runtime_factor=1.5)),
        "switches": plan_problem(
            make_problem(linear, a72, ram_budget_bytes=180_000, runtime_factor=2.0, switches=no_params)
        ),
        "infeasible": plan_problem(make_problem(linear, a72, ram_budget_bytes=2000, runtime_factor=1.5)),
    }


@pytest.mark.parametrize("name", ["paged", "plain", "remat", "switches", "infeasible"])
@pytest.mark.parametrize("options", [OPTIONS, None])
def test_export_import_round_trips_exactly(tmp_path, results, name, options):
    original = results[name]
    path = tmp_path / "plan.json"
    save_plan(original, path, options=options)
    loaded = read_plan(path)
    back, plan = loaded.result, original.plan

    assert loaded.options == options
    assert loaded.created_by.startswith("POET Studio ")
    assert back.plan.problem.graph == plan.problem.graph
    assert back.plan.problem.profile == plan.problem.profile
    assert back.plan.problem.switches == plan.problem.switches
    assert (back.plan.problem.ram_budget_bytes, back.plan.problem.runtime_factor) == (
        plan.problem.ram_budget_bytes,
        plan.problem.runtime_factor,
    )
    for field in ("status", "strategy", "energy_j", "bound_j", "solve_s", "message", "solver_energy_j", "gap"):
        assert getattr(back.plan, field) == getattr(plan, field), field
    assert back.reference == original.reference
    if plan.decisions is None:
        assert back.plan.decisions is None and back.sim is None
    else:
        for field in dataclasses.fields(plan.decisions):
            assert np.array_equal(getattr(back.plan.decisions, field.name), getattr(plan.decisions, field.name))
        assert back.sim.operations == original.sim.operations
        for field in dataclasses.fields(original.sim):
            a, b = getattr(back.sim, field.name), getattr(original.sim, field.name)
            assert np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b, field.name
    # Writing what was read gives the same file, byte for byte.
    assert plan_json_text(back, options=loaded.options) == path.read_text(encoding="utf-8")
    assert plan_to_json(back, options=loaded.options) == json.loads(path.read_text(encoding="utf-8"))
    assert load_plan(path).plan.status is plan.status


def test_the_documented_example_is_a_valid_plan_file_written_as_shown():
    block = re.search(r"```json\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert block, f"{DOC} has no ```json example"
    loaded = plan_from_json(json.loads(block.group(1)), str(DOC))
    assert plan_json_text(loaded.result, options=loaded.options) == block.group(1)


def test_graph_hash_covers_every_node_field(diamond_graph):
    first = dataclasses.replace(diamond_graph.nodes[0], flop=0)  # 0.0 -> 0 is an edit too
    changed = dataclasses.replace(diamond_graph, nodes=(first, *diamond_graph.nodes[1:]))
    assert graph_sha256(diamond_graph) != graph_sha256(changed)
    assert re.fullmatch(r"[0-9a-f]{64}", graph_sha256(diamond_graph))


# --- altered and malformed files ----------------------------------------------------------------


@pytest.fixture()
def saved(tmp_path, paged) -> Path:
    path = tmp_path / "good.json"
    save_plan(paged, path, options=OPTIONS)
    return path


def altered(saved: Path, edit: Callable[[dict[str, Any]], None], name: str = "altered.json") -> Path:
    data = json.loads(saved.read_text(encoding="utf-8"))
    edit(data)
    path = saved.with_name(name)
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")
    return path


def refusal(path: Path) -> str:
    with pytest.raises(PlanFormatError) as info:
        read_plan(path)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    assert "\n" not in message
    return message


def drop_input_of_a_compute(data: dict[str, Any]) -> tuple[str, str]:
    """Remove a ``resident`` entry that a compute of the same stage reads; returns (node, input) names."""
    nodes = data["graph"]["nodes"]
    computed = {tuple(e) for e in data["decisions"]["compute"]}
    for t, u in data["decisions"]["resident"]:
        if u in nodes[t]["inputs"] and (t, u) not in computed:
            data["decisions"]["resident"].remove([t, u])
            return nodes[t]["name"], nodes[u]["name"]
    raise AssertionError("no resident input to drop")


def test_a_flipped_decision_is_refused_naming_the_step_and_the_missing_input(saved):
    names: list[tuple[str, str]] = []
    message = refusal(altered(saved, lambda d: names.append(drop_input_of_a_compute(d))))
    node, missing = names[0]
    assert re.search(_missing_tensor(node, missing), message), message


def _missing_tensor(node: str, missing: str) -> str:
    """The first operation that needs ``missing`` in RAM is named: ``node``'s compute, or a page-out of
    ``missing`` that the optimum (one of several of equal energy) schedules before it."""
    needs = rf"(compute {node} \(\w+\): input {missing}|page out {missing} \(\w+\): the tensor) is not in RAM"
    return rf"step \d+ \(stage \d+\), {needs}"


def test_an_edited_operation_list_is_refused_naming_the_step_and_the_reason(saved):
    def drop_first_compute_of_a(d: dict[str, Any]) -> None:
        d["operations"].remove([1, "compute", 1, False])

    message = refusal(altered(saved, drop_first_compute_of_a))
    assert re.search("operations: " + _missing_tensor("b", "a"), message), message


def test_operations_that_differ_from_the_decisions_are_refused_naming_the_first_difference(saved):
    def swap_two_frees(d: dict[str, Any]) -> None:
        ops = d["operations"]
        k = next(i for i in range(len(ops) - 1) if ops[i][1] == ops[i + 1][1] == "free")
        ops[k], ops[k + 1] = ops[k + 1], ops[k]

    message = refusal(altered(saved, swap_two_frees))
    assert re.search(r"operations: step \d+ is \(stage \d+, free \w+\) but the decisions give \(stage", message)


def test_a_budget_lowered_below_the_peak_is_refused_naming_the_budget(saved, paged):
    lowered = paged.sim.peak_ram_bytes - 50

    def lower(d: dict[str, Any]) -> None:
        d["budgets"]["ram_budget_bytes"] = lowered

    message = refusal(altered(saved, lower))
    assert re.search(rf"step \d+ \(stage \d+\), .*exceeds the budget of {lowered:,.0f} B", message)


def test_a_runtime_budget_lowered_below_the_schedule_is_refused(saved):
    def lower(d: dict[str, Any]) -> None:
        d["budgets"]["runtime_factor"] = 0.9

    assert "over the runtime budget" in refusal(altered(saved, lower))


def test_an_edited_graph_is_refused_by_its_hash(saved):
    def edit_flop(d: dict[str, Any]) -> None:
        d["graph"]["nodes"][2]["flop"] += 1

    message = refusal(altered(saved, edit_flop))
    assert "graph.sha256 is" in message and "the graph was changed" in message


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda d: d.__setitem__("version", 3), "version 3 is not supported (written by a newer POET Studio)"),
        (lambda d: d.__setitem__("fits_device", False), "fits_device is false but the plan and the profile give null"),
        (lambda d: d.__setitem__("fits_device", 0), "fits_device is 0 but the plan and the profile give null"),
        (lambda d: d.__setitem__("warnings", ["fine"]), 'warnings is ["fine"] but the plan and the profile give []'),
        (lambda d: d.__setitem__("warnings", None), "warnings is null but the plan and the profile give []"),
        (lambda d: d.pop("fits_device"), "missing field(s) fits_device"),
        (lambda d: d.__setitem__("version", "1"), "version must be an integer"),
        (lambda d: d.__setitem__("format", "poet-graph"), "not a POET Studio plan file"),
        (lambda d: d.pop("format"), "has no format field"),
        (lambda d: d.pop("budgets"), "missing field(s) budgets"),
        (lambda d: d["result"].pop("energy_j"), "result: missing field(s) energy_j"),
        (lambda d: d["switches"].__setitem__("pagign", True), "switches: unknown field(s) pagign"),
        (lambda d: d["budgets"].__setitem__("runtime_factor", "fast"), "budgets.runtime_factor must be a finite"),
        (lambda d: d["budgets"].__setitem__("ram_budget_bytes", -5), "budgets.ram_budget_bytes must be a finite"),
        (lambda d: d["switches"].__setitem__("paging", "yes"), "switches.paging must be true or false"),
        (lambda d: d["profile"].__setitem__("bytes_per_element", 2.5), "profile.bytes_per_element must be an int"),
        (lambda d: d["solver"]["options"].__setitem__("solver", "gurobi"), "solver.options.solver must be one of"),
        (lambda d: d["solver"]["options"].__setitem__("method", "guess"), "solver.options.method must be one of"),
        (lambda d: d["result"].__setitem__("status", "great"), "result.status must be one of"),
        (lambda d: d["result"].__setitem__("status", "infeasible"), "must be null for status 'infeasible'"),
        (lambda d: d.__setitem__("decisions", None), "decisions is null, but a plan with status 'optimal'"),
        (lambda d: d["decisions"]["compute"].append([3, 99]), "pair of integers in 0..10, got [3, 99]"),
        (lambda d: d["operations"].append([3, "teleport", 1, False]), "] must be [stage, action, node, is_recompute]"),
        (lambda d: d["graph"].pop("sha256"), "graph is missing field sha256"),
        (lambda d: d["graph"]["nodes"][1].__setitem__("inputs", [99]), "graph: node 1 ('a'): inputs [99]"),
        (lambda d: d["result"].__setitem__("energy_j", d["result"]["energy_j"] * 0.99), "result.energy_j is"),
        (lambda d: d["result"].__setitem__("gap", 0.5), "result.gap is 0.5"),
        (lambda d: d["simulation"].__setitem__("peak_ram_bytes", 1000.0), "simulation.peak_ram_bytes is 1000.0"),
        (lambda d: d["simulation"].__setitem__("pageins", 0), "simulation.pageins is 0"),
        (lambda d: d["reference"].__setitem__("min_ram_bytes", 1.0), "reference.min_ram_bytes is 1.0"),
        (lambda d: d["profile"].__setitem__("compute_flop_per_j", 8000.0), "reference.plain_energy_j is"),
    ],
)
def test_malformed_files_are_refused_naming_the_file_and_field(saved, edit, needle):
    assert needle in refusal(altered(saved, edit))


def test_the_solve_method_round_trips_and_files_without_it_mean_auto(tmp_path, paged):
    path = tmp_path / "windowed.json"
    save_plan(paged, path, options=dataclasses.replace(OPTIONS, method=Method.WINDOWED))
    assert read_plan(path).options.method is Method.WINDOWED
    older = altered(path, lambda d: d["solver"]["options"].pop("method"), "older.json")
    assert read_plan(older).options.method is Method.AUTO


def test_a_truncated_file_is_refused(saved):
    path = saved.with_name("truncated.json")
    text = saved.read_text(encoding="utf-8")
    path.write_text(text[: len(text) // 2], encoding="utf-8")
    message = refusal(path)
    assert "not valid JSON" in message and "truncated" in message


@pytest.mark.parametrize(
    ("content", "needle"),
    [(b"", "not valid JSON"), (b"[1, 2]", "top level must be a JSON object"), (b"\xff\xfe{}", "not UTF-8")],
)
def test_files_that_are_not_plans_are_refused(tmp_path, content, needle):
    path = tmp_path / "junk.json"
    path.write_bytes(content)
    assert needle in refusal(path)


def test_a_missing_file_is_refused(tmp_path):
    assert "no such plan file" in refusal(tmp_path / "absent.json")


def test_only_verified_plans_are_written(paged):
    unverified = dataclasses.replace(paged, sim=None)
    with pytest.raises(Exception, match="only a plan verified by the simulator"):
        plan_to_json(unverified)


def test_a_version_1_file_without_the_fit_fields_is_still_read(saved):
    """Version 2 added fits_device and warnings; files written before them stay readable."""

    def as_v1(d: dict[str, Any]) -> None:
        d["version"] = 1
        del d["fits_device"], d["warnings"]

    path = altered(saved, as_v1)
    loaded = read_plan(path)
    assert loaded.version == 1 and loaded.result.sim is not None


def test_a_version_1_file_with_the_fit_fields_is_refused(saved):
    assert "unknown field(s) fits_device, warnings" in refusal(altered(saved, lambda d: d.__setitem__("version", 1)))


def test_a_version_2_file_round_trips_with_its_fit_fields(saved):
    data = json.loads(saved.read_text(encoding="utf-8"))
    assert (data["version"], data["fits_device"], data["warnings"]) == (2, None, [])  # toy: no device RAM stated
    loaded = read_plan(saved)
    assert loaded.version == 2
    assert plan_json_text(loaded.result, options=loaded.options) == saved.read_text(encoding="utf-8")
