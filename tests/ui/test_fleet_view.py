"""The Fleet window: File ▸ Open a fleet CSV made by a real sweep, its curves and table, a click on a
point planning it in the main window, and malformed tables refused with the window unchanged."""

from __future__ import annotations

import dataclasses
import math

import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QMessageBox

from poet_gui.cli import EXIT_PLAN, main
from poet_gui.core.schedule.plan import SolveStatus
from poet_gui.core.sweep.fleet_csv import read_fleet_csv, write_fleet_csv
from poet_gui.ui.file_controller import OPEN_FILTER
from poet_gui.ui.fleet_view import TABLE_COLUMNS
from poet_gui.ui.state import ModelSource, SolvePhase

#: 2 models x 2 devices x 3 budgets x 1 factor: 12 points, a second or two; some budgets give no plan.
GRID = ["sweep", "--model", "linear,transformer", "--seq-len", "4", "--profile", "a72,m4",
        "--budgets", "40%,70%,100%", "--runtime-factors", "1.2", "--time-limit", "10", "--jobs", "2"]  # fmt: skip


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """A fleet table and its CLI report from one real sweep, shared by the tests of this module."""
    folder = tmp_path_factory.mktemp("fleet")
    table, report = folder / "fleet.csv", folder / "report"
    assert main([*GRID, "--csv", str(table), "--report", str(report)]) == EXIT_PLAN
    return table, report / "fleet.md"


@pytest.fixture
def warnings(monkeypatch) -> list[str]:
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _parent, _title, text, *a, **k: shown.append(text))
    return shown


def test_opening_a_fleet_table_draws_one_curve_per_device_with_its_plans(qtbot, window, fleet):
    table, _ = fleet
    rows = read_fleet_csv(table)
    assert any(not r.has_plan for r in rows) and any(r.has_plan for r in rows)  # both kinds are exercised
    assert window.files.open_path(table) is True
    view = window.files.fleet.view
    assert view is not None and view.isVisible() and "fleet.csv" in view.windowTitle()
    assert [view.models.itemText(i) for i in range(view.models.count())] == ["linear", "transformer"]
    for model in ("linear", "transformer"):
        view.show_model(model)
        mine = [r for r in rows if r.model == model]
        series = view.plot.series()
        drawn = {key: s for key, s in series.items() if len(s.points.data) > 0}
        assert set(drawn) == {(r.profile, r.runtime_factor) for r in mine if r.has_plan}
        for (profile, factor), s in drawn.items():
            planned = [r for r in mine if (r.profile, r.runtime_factor) == (profile, factor) and r.has_plan]
            assert len(s.points.data) == len(planned)  # points without a plan are not drawn
            assert sorted(p.data().key for p in s.points.points()) == sorted(r.key for r in planned)
            assert list(s.curve.getData()[1]) == pytest.approx([math.log10(r.energy_j) for r in planned])
        without = sum(not r.has_plan for r in mine)
        assert f"{without} without a plan" in view.counts.text()  # ... but counted
    first = view.plot.series()
    view.show_model("linear")
    assert all(view.plot.series()[key] is s for key, s in first.items())  # refilled in place, not re-made


def test_the_table_shows_the_cli_reports_cheapest_device_per_model(qtbot, window, fleet):
    table, report = fleet
    assert window.files.open_path(table)
    view = window.files.fleet.view
    assert [view.table.horizontalHeaderItem(j).text() for j in range(view.table.columnCount())] == list(TABLE_COLUMNS)
    lines = report.read_text().split("## linear")[0].splitlines()  # the report's first table
    expected = [line for line in lines if line.startswith("| linear") or line.startswith("| transformer")]
    shown = []
    for i in range(view.table.rowCount()):
        cells = [view.table.item(i, j).text() for j in range(view.table.columnCount())]
        shown.append("|" + "|".join(f" {c} " if c else " " for c in cells) + "|")
    assert shown == expected and len(shown) == 2


def test_clicking_a_point_plans_it_in_the_main_window(qtbot, window, fleet):
    table, _ = fleet
    assert window.files.open_path(table)
    view = window.files.fleet.view
    view.resize(1000, 680)
    view.show_model("transformer")
    target = next(r for r in sorted(read_fleet_csv(table), key=lambda r: r.ram_budget_bytes)
                  if r.model == "transformer" and r.profile == "a72" and r.is_optimal)  # fmt: skip
    qtbot.waitUntil(lambda: view.plot.isVisible())
    vb = view.plot.getPlotItem().getViewBox()
    scene = vb.mapViewToScene(QPointF(target.ram_budget_bytes, math.log10(target.energy_j)))
    qtbot.mouseClick(view.plot.viewport(), Qt.MouseButton.LeftButton, pos=view.plot.mapFromScene(scene))
    s = window.state.session
    assert s.model == ModelSource(zoo_name="transformer", params=(("seq_len", 4),))
    assert (s.profile.key, s.ram_budget_bytes, s.runtime_factor) == ("a72", target.ram_budget_bytes, 1.2)
    assert (s.switches.paging, s.switches.remat, s.switches.budget_includes_params) == (True, True, False)
    qtbot.waitUntil(lambda: window.state.session.phase in (SolvePhase.DONE, SolvePhase.FAILED), timeout=60_000)
    result = window.state.session.result
    assert result.plan.status is SolveStatus.OPTIMAL and result.sim is not None  # re-checked by the simulator
    assert result.sim.energy_j == pytest.approx(target.energy_j, rel=1e-9)  # the sweep's optimum, solved again


def test_a_malformed_fleet_table_is_refused_naming_the_line_and_nothing_changes(qtbot, window, fleet, warnings,
                                                                                tmp_path):  # fmt: skip
    table, _ = fleet
    lines = table.read_text().splitlines(keepends=True)
    bad = tmp_path / "bad.csv"
    bad.write_text("".join([*lines[:2], lines[2].replace(",optimal,", ",bogus,").replace(",infeasible,", ",bogus,"),
                            *lines[3:]]))  # fmt: skip
    not_fleet = tmp_path / "ops.csv"
    not_fleet.write_text("step,action,node\n0,compute,x\n")
    before = window.state.session
    assert window.files.open_path(bad) is False
    assert window.files.open_path(not_fleet) is False
    assert len(warnings) == 2
    assert "bad.csv: line 3: status must be one of" in warnings[0]
    assert "ops.csv: line 1: not a fleet sweep CSV" in warnings[1]
    assert window.files.fleet.view is None and window.state.session is before

    assert window.files.open_path(table)  # an open Fleet window keeps its table too
    rows = window.files.fleet.view.rows
    assert window.files.open_path(bad) is False
    assert window.files.fleet.view.rows == rows and window.state.session is before


def test_a_point_whose_model_file_is_gone_is_a_message_and_the_window_stays(qtbot, window, fleet, warnings, tmp_path):
    table, _ = fleet
    row = dataclasses.replace(read_fleet_csv(table)[0], model="gone.json", model_args="")
    moved = tmp_path / "moved.csv"
    write_fleet_csv([row], moved)
    assert window.files.open_path(moved)
    before = window.state.session
    assert window.files.fleet.load_point(row) is False
    assert warnings and "model 'gone.json' is neither a built-in model nor a file" in warnings[0]
    assert window.state.session is before


def test_the_open_dialog_offers_fleet_tables():
    assert "Fleet sweep tables (*.csv)" in OPEN_FILTER and "*.csv" in OPEN_FILTER.split(";;")[0]
