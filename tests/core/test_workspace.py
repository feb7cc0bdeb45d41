"""Workspace files: save -> read gives back the same session, the graph travels inside the file, and
every malformed or altered file is refused with one message naming the file and the field."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from poet_gui.core.device.profiles import load_profile
from poet_gui.core.errors import PlanFormatError
from poet_gui.core.files.plan_io import plan_json_text, plan_to_json, save_plan
from poet_gui.core.files.workspace import (
    PinnedPlan,
    Workspace,
    _layout,
    file_format,
    plan_mismatch,
    read_workspace,
    save_workspace,
    unique_name,
    workspace_json_text,
)
from poet_gui.core.model.graph_io import save_graph_file
from poet_gui.core.model.zoo import build_model
from poet_gui.core.schedule.problem import Switches, make_problem
from poet_gui.core.solve.milp import Solver, SolverOptions
from poet_gui.core.solve.planner import VerifiedPlan, plan_problem

DOC = Path(__file__).resolve().parents[2] / "docs" / "workspace-format.md"
OPTIONS = SolverOptions(solver=Solver.HIGHS, time_limit_s=20.0, rel_gap=1e-8, threads=1)
SWITCHES = Switches(count_paging_time=True)


@pytest.fixture(scope="module")
def plans() -> dict[str, VerifiedPlan]:
    """The linear model (batch size 2) on a72: a tight plan that pages and recomputes, a loose one, and
    one without a schedule."""
    graph, a72 = build_model("linear", batch_size=2), load_profile("a72")

    def solve(ram: float) -> VerifiedPlan:
        return plan_problem(make_problem(graph, a72, ram_budget_bytes=ram, runtime_factor=1.5, switches=SWITCHES))

    return {"tight": solve(7416), "loose": solve(10000), "none": solve(3000)}


@pytest.fixture(scope="module")
def workspace(plans) -> Workspace:
    loose = plans["loose"].plan.problem
    return Workspace(
        zoo_name="linear",
        params=(("batch_size", 2),),
        graph_path=None,
        graph=loose.graph,
        profile=loose.profile,
        ram_budget_bytes=loose.ram_budget_bytes,
        runtime_factor=loose.runtime_factor,
        switches=SWITCHES,
        options=OPTIONS,
        current=plans["loose"],
        pinned=(
            PinnedPlan("tight", plans["tight"], OPTIONS),
            PinnedPlan("loose", plans["loose"], None),
            PinnedPlan("no plan", plans["none"], OPTIONS),
        ),
    )


@pytest.fixture
def saved(tmp_path, workspace) -> Path:
    path = tmp_path / "study.poet.json"
    save_workspace(workspace, path)
    return path


def test_a_workspace_reads_back_to_the_same_state(saved, workspace, plans):
    back = read_workspace(saved)
    for field in ("zoo_name", "params", "graph_path", "graph", "profile", "ram_budget_bytes", "runtime_factor",
                  "switches", "options"):  # fmt: skip
        assert getattr(back, field) == getattr(workspace, field), field
    assert [(p.name, p.options) for p in back.pinned] == [(p.name, p.options) for p in workspace.pinned]
    for mine, theirs in zip(workspace.pinned, back.pinned, strict=True):
        assert plan_to_json(theirs.result, options=theirs.options) == plan_to_json(mine.result, options=mine.options)
    assert back.current is not None and back.current.sim.energy_j == plans["loose"].sim.energy_j
    assert back.pinned[0].result.sim.pageins > 0  # the tight plan pages: it really is another plan
    assert back.pinned[2].result.sim is None
    # Writing what was read gives the same file, byte for byte.
    assert workspace_json_text(back) == saved.read_text(encoding="utf-8")
    assert file_format(saved) == "poet-workspace"


def test_the_layout_is_the_plan_files(plans):
    """Plans inside a workspace read as they do in their own files (one operation per line)."""
    for result in plans.values():
        assert _layout(plan_to_json(result, options=OPTIONS), 0, is_item=False)[0] + "\n" == plan_json_text(
            result, options=OPTIONS
        )


def test_a_graph_file_workspace_reopens_after_the_file_moved(tmp_path, workspace):
    graph_file = tmp_path / "model.json"
    save_graph_file(workspace.graph, graph_file)
    ws = dataclasses.replace(workspace, zoo_name=None, params=(), graph_path=str(graph_file), pinned=())
    path = tmp_path / "ws.json"
    save_workspace(ws, path)
    graph_file.unlink()
    back = read_workspace(path)
    assert back.graph_path == str(graph_file) and back.graph == workspace.graph and back.current is not None


def test_the_plan_on_show_must_belong_to_the_workspace(workspace, plans):
    assert plan_mismatch(workspace, plans["loose"]) == ""
    assert "RAM budget" in plan_mismatch(workspace, plans["tight"])
    with pytest.raises(PlanFormatError, match="does not belong"):
        workspace_json_text(dataclasses.replace(workspace, current=plans["tight"]))
    with pytest.raises(PlanFormatError, match="distinct names"):
        workspace_json_text(dataclasses.replace(workspace, pinned=workspace.pinned[:1] * 2))


def test_names_are_made_unique():
    assert unique_name("tight", set()) == "tight"
    assert unique_name(" tight ", {"tight", "tight (2)"}) == "tight (3)"
    assert unique_name("  ", set()) == "plan"


def altered(saved: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    data = json.loads(saved.read_text(encoding="utf-8"))
    edit(data)
    path = saved.with_name("altered.json")
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")
    return path


def refusal(path: Path) -> str:
    with pytest.raises(PlanFormatError) as info:
        read_workspace(path)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    assert "\n" not in message
    return message


def _set(*keys_and_value: Any) -> Callable[[dict[str, Any]], None]:
    *keys, value = keys_and_value

    def edit(data: dict[str, Any]) -> None:
        for key in keys[:-1]:
            data = data[key]
        data[keys[-1]] = value

    return edit


def _drop_operation(data: dict[str, Any]) -> None:
    del data["pinned"][0]["plan"]["operations"][3]


def _edit_flop(data: dict[str, Any]) -> None:
    data["model"]["graph"]["nodes"][1]["flop"] += 1


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (_set("version", 2), "workspace format version 2 is not supported (written by a newer POET Studio)"),
        (_set("format", "poet-plan"), "not a POET Studio workspace file (its format is 'poet-plan'"),
        (_set("surprise", 1), "unknown field(s) surprise"),
        (lambda d: d.pop("budgets"), "missing field(s) budgets"),
        (_set("budgets", "runtime_factor", -1), "budgets.runtime_factor must be a finite number > 0, got -1"),
        (_set("switches", "paging", "yes"), "switches.paging must be true or false, got 'yes'"),
        (_set("solver_options", "solver", "gurobi"), "solver_options.solver must be one of 'highs', 'cbc'"),
        (_set("profile", "compute_flop_per_s", 0), "profile.compute_flop_per_s must be a finite number > 0"),
        (_set("model", "zoo_name", "alexnet"), "model.zoo_name is 'alexnet', not a zoo model"),
        (_set("model", "params", {"seq_len": 4}), "model.params.seq_len is not a parameter of linear"),
        (_set("model", "params", {"batch_size": 0}), "model.params.batch_size must be an integer >= 1, got 0"),
        (
            _set("model", "params", {"batch_size": 10**9}),
            "model.params (batch_size=1000000000) build a linear graph other than the embedded model.graph",
        ),
        (_set("model", "graph_path", "x.json"), "model.zoo_name or model.graph_path must be set, and not both"),
        (_edit_flop, "model.graph.sha256 is"),
        (_set("pinned", "tight"), "pinned must be a list of pinned plans"),
        (_set("pinned", 1, "name", "tight"), "pinned[1].name is 'tight', the name of another pinned plan"),
        (_drop_operation, "pinned[0] ('tight'): plan: operations: step "),  # which step depends on the optimum's ties
        (_set("plan", "budgets", "ram_budget_bytes", 9999.0), "plan: simulation.activation_budget_bytes is 10000.0"),
    ],
)
def test_malformed_or_altered_files_are_refused_naming_the_file_and_field(saved, edit, needle):
    assert needle in refusal(altered(saved, edit))


def test_a_plan_on_show_for_other_budgets_is_refused(saved, plans):
    def swap_plan(data: dict[str, Any]) -> None:
        data["plan"] = plan_to_json(plans["tight"], options=OPTIONS)

    assert "plan was not made for the workspace's inputs: its RAM budget is 7416.0 B" in refusal(
        altered(saved, swap_plan)
    )


@pytest.mark.parametrize(
    ("content", "needle"),
    [("", "not valid JSON"), ('{"format": "poet-workspace", "version": 1', "looks truncated"), ("[]", "JSON object")],
)
def test_files_that_are_not_workspaces_are_refused(tmp_path, content, needle):
    path = tmp_path / "bad.json"
    path.write_text(content)
    assert needle in refusal(path)
    assert "no such workspace file" in refusal(tmp_path / "missing.json")


def test_file_format_tells_files_apart(tmp_path, plans):
    plan = tmp_path / "plan.json"
    save_plan(plans["tight"], plan)
    graph = tmp_path / "graph.json"
    save_graph_file(build_model("linear"), graph)
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    assert [file_format(p) for p in (plan, graph, broken, tmp_path / "missing.json")] == ["poet-plan", None, None, None]


def test_the_format_document_names_every_field():
    text = DOC.read_text(encoding="utf-8")
    from poet_gui.core.files import workspace as module

    for key in (*module._TOP_KEYS, *module._MODEL_KEYS, *module._PIN_KEYS):
        assert re.search(rf"`{key}`", text), f"{DOC} does not document `{key}`"
