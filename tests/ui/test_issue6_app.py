"""Deciding and handing on, in the app: pin plans, compare two, export them, reopen files and workspaces.

Every window here plans the linear model on the a72 profile, at a tight budget (recomputes, one
page-out and one page-in) and a loose one (fewer recomputes, no paging): two plans that differ. The
first test pins them as a user does, solving each in the window; the others start from a window that
already holds them (solved once for the module), so the suite stays quick.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QFileDialog, QMessageBox

from poet_gui.core.device.profiles import load_profile
from poet_gui.core.files.workspace import PinnedPlan
from poet_gui.core.model.zoo import build_model
from poet_gui.core.schedule.problem import Switches, make_problem
from poet_gui.core.solve.milp import SolverOptions
from poet_gui.core.solve.planner import VerifiedPlan, plan_problem
from poet_gui.ui.compare_view import DiffKind
from poet_gui.ui.main_window import MainWindow
from poet_gui.ui.recent_files import RecentFilesMenu, recent_paths
from poet_gui.ui.state import AppState, ModelSource, SolvePhase, new_session

SOLVE_TIMEOUT_MS = 60_000
OPTIONS = SolverOptions(time_limit_s=20)
TIGHT_BYTES, LOOSE_BYTES = 3708.0, 5000.0
SCREENSHOT = Path("/tmp/poet_compare.png")


@pytest.fixture
def settings_dir(monkeypatch, tmp_path, qapp) -> Iterator[Path]:
    """QSettings of the test in tmp. Qt reads XDG_CONFIG_HOME once per process, so the path is also
    set explicitly (and put back afterwards)."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    scope, fmt = QSettings.Scope.UserScope, QSettings.Format.NativeFormat
    before = Path(QSettings().fileName()).parents[1]
    QSettings.setPath(fmt, scope, str(tmp_path / "settings"))
    yield tmp_path / "settings"
    QSettings.setPath(fmt, scope, str(before))


def make_window(qtbot, **session_changes) -> MainWindow:
    session = new_session(ModelSource("linear"), load_profile("a72"), options=OPTIONS, **session_changes)
    w = MainWindow(AppState(session))
    qtbot.addWidget(w)
    w.resize(1280, 800)
    w.show()
    w.solver.sweeps.cancel()  # the trade-off sweep is not under test: leave the CPU to the solves
    return w


def wait_done(qtbot, w: MainWindow) -> None:
    qtbot.waitUntil(lambda: w.state.session.phase in (SolvePhase.DONE, SolvePhase.FAILED), timeout=SOLVE_TIMEOUT_MS)


def solve_at(qtbot, w: MainWindow, ram_budget_bytes: float) -> None:
    w.set_budgets(ram_budget_bytes=ram_budget_bytes)
    qtbot.waitUntil(
        lambda: (
            w.state.session.phase is SolvePhase.DONE
            and w.state.session.result is not None
            and w.state.session.result.plan.problem.ram_budget_bytes == ram_budget_bytes
            and w.state.session.result.plan.status.value == "optimal"
        ),
        timeout=SOLVE_TIMEOUT_MS,
    )


@pytest.fixture(scope="module")
def plans() -> dict[str, VerifiedPlan]:
    graph, a72 = build_model("linear"), load_profile("a72")
    return {
        name: plan_problem(make_problem(graph, a72, ram_budget_bytes=ram, runtime_factor=1.5), OPTIONS)
        for name, ram in (("tight", TIGHT_BYTES), ("loose", LOOSE_BYTES))
    }


@pytest.fixture
def window(qtbot, settings_dir, plans) -> Iterator[MainWindow]:
    """A window with two pinned plans, "tight" and "loose", showing the loose one (as after pinning
    them, see the first test)."""
    w = make_window(qtbot)
    w.state.update(ram_budget_bytes=LOOSE_BYTES, result=plans["loose"], phase=SolvePhase.DONE)
    w.budget_panel.show_session(w.state.session)
    w.pins.set_pins([PinnedPlan(name, plans[name], OPTIONS) for name in ("tight", "loose")])
    yield w
    w.close()


@pytest.fixture
def fresh(qtbot, settings_dir) -> Iterator[MainWindow]:
    """A second window, as after restarting the app: the default session, no pins."""
    w = make_window(qtbot)
    yield w
    w.close()


@pytest.fixture
def warnings(monkeypatch) -> list[str]:
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _parent, _title, text, *a, **k: shown.append(text))
    return shown


def figures(w: MainWindow) -> tuple:
    sim = w.state.session.result.sim
    return sim.energy_j, sim.runtime_s, sim.peak_ram_bytes, sim.recomputes, sim.pageins, sim.pageouts


def test_pinning_solved_plans_lists_their_key_figures(qtbot, settings_dir):
    window = make_window(qtbot)
    solve_at(qtbot, window, TIGHT_BYTES)
    assert window.pins.pin_current("tight") is not None
    solve_at(qtbot, window, LOOSE_BYTES)
    assert window.pins.pin_current("loose") is not None
    assert [p.name for p in window.pins.pinned] == ["tight", "loose"]
    assert window.pins.pinned[1].options == OPTIONS
    table = window.pinned_panel.table
    headers = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    row = {h: table.item(0, c).text() for c, h in enumerate(headers)}
    tight = window.pins.pinned[0].result.sim
    assert table.rowCount() == 2 and row["Name"] == "tight"
    assert row["Energy"].endswith("mJ") and row["Runtime"].endswith("µs") and row["Peak RAM"] == "3,680 B"
    assert (row["Recomputes"], row["Page-ins"], row["Page-outs"]) == (
        str(tight.recomputes),
        str(tight.pageins),
        str(tight.pageouts),
    )
    assert (row["Status"], row["Gap"]) == ("optimal", "0.00%")
    assert "3,708 B" in row["Made for"]
    # Renaming keeps names distinct; a pin outlives a change of device.
    table.item(1, 0).setText("tight")
    assert [p.name for p in window.pins.pinned] == ["tight", "tight (2)"]
    profiles = window.device_panel._combo
    profiles.setCurrentIndex(profiles.findData("m4"))
    assert len(window.pins.pinned) == 2 and window.pins.pinned[0].result.plan.problem.profile.key == "a72"
    window.close()


def test_compare_view_makes_the_differences_obvious(qtbot, window):
    view = window.pins.compare_plans(0, 1)
    assert view is not None and view.isVisible()
    timeline_image = view.timelines[0]._image
    d = view.difference
    assert d.count > 0 and d.stage_count > 0 and d.node_count > 0
    assert f"differ in {d.count} of" in view.summary.text()
    # The differences map and the washed-out overlays mark exactly the differing cells.
    assert (view.differences.image.image >= DiffKind.ONLY_A_WORKS).sum() == d.count
    overlay = view._overlays[0].image
    assert ((overlay[..., 3] == 0) == d.cells).all()
    # The figures table: both columns, and a difference for the figures that changed.
    table = view.table
    rows = {
        table.verticalHeaderItem(r).text(): [table.item(r, c).text() for c in range(3)] for r in range(table.rowCount())
    }
    assert rows["Recomputes"][0] == str(window.pins.pinned[0].result.sim.recomputes)
    assert rows["Peak RAM"][2].startswith("+") and rows["RAM budget"][2].startswith("+1,292 B")
    assert rows["Device"][2] == "same"

    view.resize(1500, 950)
    qtbot.wait(200)
    view.save_image(SCREENSHOT)  # a grab() of the view, written atomically
    assert SCREENSHOT.read_bytes().startswith(b"\x89PNG") and SCREENSHOT.stat().st_size > 50_000

    view.compare(1, 1)
    assert view.difference.count == 0 and "same decision in every cell" in view.summary.text()
    assert view.timelines[0]._image is timeline_image  # items are updated in place
    # The plan on show is offered too (the last entry): it is the loose plan, so it equals pin 1.
    view.compare(1, 2)
    assert view.difference.count == 0


def test_exported_plan_reopens_with_the_same_figures(qtbot, window, fresh, tmp_path):
    path = tmp_path / "chosen.json"
    assert window.files.export_plan(path)
    assert json.loads(path.read_text())["format"] == "poet-plan"
    assert fresh.files.open_path(path)
    s = fresh.state.session
    assert s.phase is SolvePhase.DONE and not fresh.solver.is_solving()  # shown as read, not re-solved
    assert figures(fresh) == figures(window)
    assert s.ram_budget_bytes == LOOSE_BYTES and s.profile.key == "a72"
    assert fresh.windowTitle().startswith("chosen.json")
    assert recent_paths()[0] == path.resolve()
    # A device change re-plans the embedded graph; the plan file is never read as a graph.
    profiles = fresh.device_panel._combo
    profiles.setCurrentIndex(profiles.findData("m4"))
    wait_done(qtbot, fresh)
    assert fresh.state.session.result.plan.problem.profile.key == "m4"
    assert fresh.state.session.graph == window.state.session.graph


def test_altered_plan_is_refused_with_the_step_and_the_app_keeps_working(qtbot, window, tmp_path, warnings):
    path = tmp_path / "plan.json"
    assert window.files.export_plan(path)
    data = json.loads(path.read_text())
    del data["operations"][0]  # the schedule now computes a node before its input exists
    path.write_text(json.dumps(data))
    before = window.state.session
    assert window.files.open_path(path) is False
    assert len(warnings) == 1 and warnings[0].startswith(str(path)) and "step 0" in warnings[0]
    assert window.state.session is before
    window.set_budgets(ram_budget_bytes=TIGHT_BYTES + 100)
    wait_done(qtbot, window)
    assert window.state.session.result.sim is not None


def test_operations_csv_and_plot_images_are_real_files(window, tmp_path):
    csv_path = tmp_path / "ops.csv"
    assert window.files.export_operations(csv_path)
    lines = csv_path.read_text().splitlines()
    assert (
        lines[0].startswith("step,stage,action") and len(lines) == len(window.state.session.result.sim.operations) + 1
    )

    written = window.files.export_plots(tmp_path)
    names = sorted(p.name for p in written)
    assert names == sorted(
        f"{plot}.{ext}" for plot in ("timeline", "memory", "energy", "tradeoff") for ext in ["png", "svg"]
    )
    for path in written:
        data = path.read_bytes()
        if path.suffix == ".png":
            assert data.startswith(b"\x89PNG") and len(data) > 5_000, path.name
        else:
            assert b"<svg" in data and len(data) > 5_000, path.name
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temporary files


def test_workspace_reopens_to_the_same_state(qtbot, window, fresh, tmp_path):
    window.budget_panel._paging_time.setChecked(True)  # a switch away from its default
    solve_at(qtbot, window, LOOSE_BYTES + 300)
    path = tmp_path / "study.poet.json"
    assert window.files.save_workspace(path)
    assert recent_paths()[0] == path.resolve()

    assert fresh.files.open_path(path)
    a, b = window.state.session, fresh.state.session
    assert b.model == a.model and b.graph == a.graph
    assert b.profile == a.profile
    assert (b.ram_budget_bytes, b.runtime_factor) == (a.ram_budget_bytes, a.runtime_factor)
    assert b.switches == a.switches == Switches(count_paging_time=True)
    assert b.options == a.options
    assert [p.name for p in fresh.pins.pinned] == ["tight", "loose"]
    for mine, theirs in zip(window.pins.pinned, fresh.pins.pinned, strict=True):
        assert theirs.result.sim.energy_j == mine.result.sim.energy_j
        assert theirs.result.sim.operations == mine.result.sim.operations
    assert b.phase is SolvePhase.DONE and figures(fresh) == figures(window)  # the plan on show, re-checked
    assert fresh.pinned_panel.table.rowCount() == 2 and fresh.pinned_panel.isVisible()  # its pins in sight
    assert fresh.budget_panel._paging_time.isChecked()
    assert fresh.windowTitle().startswith("study.poet.json")


def test_bad_workspace_is_refused_naming_file_and_field(window, tmp_path, warnings):
    path = tmp_path / "study.json"
    assert window.files.save_workspace(path)
    data = json.loads(path.read_text())
    data["pinned"][1]["plan"]["simulation"]["recomputes"] += 1
    path.write_text(json.dumps(data))
    before = (window.state.session, window.pins.pinned)
    assert window.files.open_path(path) is False
    assert warnings and warnings[0].startswith(f"{path}: pinned[1] ('loose')")
    assert "simulation.recomputes" in warnings[0]
    assert (window.state.session, window.pins.pinned) == before


def test_recent_files_menu_lists_and_opens_files(qtbot, window, tmp_path, warnings):
    first, second = tmp_path / "a.json", tmp_path / "b.poet.json"
    assert window.files.export_plan(first) and window.files.save_workspace(second)
    assert recent_paths()[:2] == [second.resolve(), first.resolve()]
    menu = RecentFilesMenu()
    menu.aboutToShow.emit()
    texts = [a.text() for a in menu.actions() if a.text()]
    assert texts[:2] == ["&1 b.poet.json", "&2 a.json"]
    with qtbot.waitSignal(menu.path_chosen) as chosen:
        menu.actions()[1].trigger()
    assert chosen.args == [first.resolve()]
    # A file that has gone is reported and dropped from the list.
    first.unlink()
    assert window.files.open_path(first.resolve()) is False
    assert warnings and first.resolve() not in recent_paths()


def test_menu_actions_go_through_their_file_dialogs(window, tmp_path, monkeypatch):
    answers = {"save": tmp_path / "x", "open": tmp_path / "x", "dir": tmp_path / "images"}
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(answers["save"]), ""))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(answers["open"]), ""))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(answers["dir"]))
    for name, act in (("plan.json", window.export_plan_action), ("ops.csv", window.export_action),
                      ("ws.json", window.save_workspace_action)):  # fmt: skip
        answers["save"] = tmp_path / name
        act.trigger()
        assert answers["save"].stat().st_size > 0, name
    answers["dir"].mkdir()
    window.export_plots_action.trigger()
    assert len(list(answers["dir"].iterdir())) == 8
    # A pinned plan is exported from the panel: the selected pin, not the plan on show.
    answers["save"] = tmp_path / "tight.json"
    window.pinned_panel.select_rows([0])
    window.pinned_panel._export.click()
    assert json.loads(answers["save"].read_text())["budgets"]["ram_budget_bytes"] == TIGHT_BYTES
    answers["open"] = answers["save"]
    window.open_action.trigger()
    assert window.state.session.ram_budget_bytes == TIGHT_BYTES
    assert QSettings().value("files/last_dir") == str(tmp_path)
