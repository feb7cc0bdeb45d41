"""What a newcomer's afternoon with the window found (issue 16, items 11-22), each pinned by a test."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QPushButton

from poet_gui.core.device.profiles import load_profile
from poet_gui.core.model.zoo import build_model
from poet_gui.core.schedule.plan import SolveStatus
from poet_gui.core.schedule.problem import make_problem
from poet_gui.core.solve.milp import SolverOptions
from poet_gui.core.solve.planner import plan_problem
from poet_gui.samples import sample_models
from poet_gui.ui import workers
from poet_gui.ui.main_window import MainWindow
from poet_gui.ui.plots import TradeoffPlot, TradeoffPoint
from poet_gui.ui.solve_controller import DEBOUNCE_MS
from poet_gui.ui.state import AppState, ModelSource, SolvePhase, new_session, session_for
from poet_gui.ui.status_text import status_text

SOLVE_TIMEOUT_MS = 60_000
SCREENSHOT = Path("/tmp/poet_window_1366x768.png")


@pytest.fixture
def window_size() -> tuple[int, int]:
    """This module's window (tests/ui/conftest.py) is the size the screenshots and layout checks are of."""
    return 1366, 768


def solved(qtbot, w: MainWindow) -> None:
    w.solver.solve_now()
    qtbot.waitUntil(lambda: w.state.session.phase in (SolvePhase.DONE, SolvePhase.FAILED), timeout=SOLVE_TIMEOUT_MS)


def test_at_1366x768_the_budgets_are_in_sight_and_every_plot_shows_the_whole_plan(qtbot, window):
    solved(qtbot, window)
    qtbot.waitUntil(lambda: window.solver.sweeps.is_paused() is False, timeout=5_000)
    qtbot.wait(200)  # let the layout settle
    window.grab().save(str(SCREENSHOT))
    panel = window.budget_panel
    assert panel.visibleRegion().boundingRect().size() == panel.size()  # whole, not scrolled away
    n = len(window.state.session.graph)
    view = window.timeline.getPlotItem().getViewBox()
    (x0, x1), _ = view.viewRange()
    assert x0 <= -0.5 + 1e-9 and x1 >= n - 0.5 - 1e-9  # every stage, not 0-15 of 26
    for plot in (window.timeline, window.memory, window.energy, window.tradeoff):
        item = plot.getPlotItem()
        assert item.titleLabel.text, "every plot has a title"
        # Nothing of the plot's layout lies beyond the widget (a too-wide legend pushed it out).
        assert item.sceneBoundingRect().right() <= plot.width() + 1
        for legend, _ in plot._legends if hasattr(plot, "_legends") else ():
            assert legend.sceneBoundingRect().right() <= plot.width() + 1


def test_coincident_tradeoff_series_stay_visible_and_the_legend_is_outside_the_data(qtbot):
    plot = TradeoffPlot()
    qtbot.addWidget(plot)
    plot.resize(600, 400)
    same = [TradeoffPoint(b, f, "optimal", 1e-3) for f in (1.5, 2.0) for b in (3000.0, 4000.0)]
    plot.set_points(same)
    low, high = plot._series[1.5], plot._series[2.0]
    assert low.points.points()[0].size() > high.points.points()[0].size()  # 1.5x rings the 2x marker
    assert low.curve.opts["pen"].widthF() > high.curve.opts["pen"].widthF()
    assert low.points.zValue() < high.points.zValue()
    legend = plot._legends[0][0]
    assert legend.parentItem() is not plot.getPlotItem().getViewBox()  # below the axes, not over points


def test_a_sweep_without_any_plan_says_so_instead_of_a_fake_energy_axis(qtbot):
    plot = TradeoffPlot()
    qtbot.addWidget(plot)
    plot.set_points([TradeoffPoint(b, 1.5, "infeasible", None) for b in (1000.0, 2000.0)])
    assert plot._note.isVisible() and "No feasible plan" in plot._note.toPlainText()
    assert plot.getPlotItem().getAxis("left").style["showValues"] is False  # no -50..+50 mJ axis
    plot.set_points([TradeoffPoint(1000.0, 1.5, "optimal", 2e-3)])
    assert not plot._note.isVisible() and plot.getPlotItem().getAxis("left").style["showValues"]


def test_the_status_says_when_paging_time_is_not_charged_to_the_budget():
    graph, profile = build_model("linear"), load_profile("a72")
    result = plan_problem(make_problem(graph, profile, ram_budget_bytes=3708, runtime_factor=1.5), SolverOptions())
    assert result.sim is not None and result.sim.pageins > 0  # this budget pages (see test_plots)
    session = session_for(
        ModelSource("linear"), graph, profile, ram_budget_bytes=3708, runtime_factor=1.5,
        switches=result.plan.problem.switches, options=SolverOptions(),
    )  # fmt: skip
    text = status_text(session.__class__(**{**_fields(session), "result": result, "phase": SolvePhase.DONE}), 0.0)
    assert "(paging time not charged to the budget)" in text


def _fields(session) -> dict:
    return {name: getattr(session, name) for name in session.__dataclass_fields__}


def test_a_drag_starts_no_solve_until_release_and_the_old_plan_is_marked_out_of_date(qtbot, window):
    solved(qtbot, window)
    slider = window.budget_panel._ram_slider
    slider.setSliderDown(True)
    slider.setValue(slider.value() + 150)
    qtbot.wait(DEBOUNCE_MS + 300)
    assert not window.solver.is_solving()
    assert window._banner.isVisible() and window._banner.text().startswith("Out of date: the plots show the plan for")
    assert window._status.text().startswith("Out of date: showing the plan for")
    slider.setSliderDown(False)  # the release: now, and only now, a solve of the settled budget
    qtbot.waitUntil(window.solver.is_solving, timeout=DEBOUNCE_MS + 2_000)
    qtbot.waitUntil(lambda: window.state.session.phase is SolvePhase.DONE, timeout=SOLVE_TIMEOUT_MS)
    assert window.state.session.plan_is_current() and not window._banner.isVisible()


def test_keys_move_the_sliders_in_useful_steps(window):
    ram, runtime = window.budget_panel._ram_slider, window.budget_panel._rt_slider
    assert ram.singleStep() * 100 == ram.maximum() - ram.minimum()  # 1 % per arrow press
    assert ram.pageStep() * 10 == ram.maximum() - ram.minimum()  # 10 % per PageUp
    assert runtime.singleStep() == 5 and runtime.pageStep() == 25  # 0.05x and 0.25x


def test_after_an_onnx_import_the_panel_shows_its_dimensions_and_hides_the_zoo_boxes(qtbot, window):
    path = dict(sample_models())["tiny_transformer"]
    assert window.files.open_onnx(path, dims={"batch": 1, "seq": 16})
    panel = window.model_panel
    assert "tiny_transformer.onnx" in panel._file_label.text() and "seq = 16" in panel._file_label.text()
    assert not any(spin.isVisible() for spin in panel._spins.values())  # no stale greyed zoo values
    assert window.solver.is_solving() or window.state.session.result is not None
    window.solver.cancel()


def test_a_solver_that_cannot_start_is_one_sentence_not_a_traceback(qtbot, window, monkeypatch):
    dialogs: list[str] = []
    monkeypatch.setattr(QMessageBox, "critical", lambda *a, **k: dialogs.append(str(a)))

    def refuse(self) -> None:
        raise RuntimeError("the forkserver could not be reached")

    monkeypatch.setattr(workers.SolveProcess, "start", refuse)
    window.solver.solve_now()
    qtbot.waitUntil(lambda: window.state.session.phase is SolvePhase.FAILED, timeout=10_000)
    assert not dialogs
    expected = "Could not plan: could not start the solver process: the forkserver could not be reached"
    assert window._banner.text() == expected


def test_there_is_one_cancel_control_and_the_memory_curve_explains_itself_on_hover(qtbot, window):
    # Plan ▸ Cancel solve (Esc) is the one for the solve; the only button there stops a replay, beside its progress.
    assert [b.text() for b in window.statusBar().findChildren(QPushButton)] == ["Cancel replay"]
    solved(qtbot, window)
    result = window.state.session.result
    assert result.plan.status is SolveStatus.OPTIMAL
    k = result.sim.peak_index
    text = window.memory.tooltip_at(k + 0.5)
    assert text.startswith(f"operation {k} · stage {result.sim.operations[k].stage} · ")
    assert text.endswith(" in use") and "B" in text
    assert window.memory.tooltip_at(-1) == ""


def test_a_missing_file_is_named_as_missing_whatever_its_kind(window, monkeypatch, tmp_path):
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _parent, _title, text, *a, **k: shown.append(text))
    missing = tmp_path / "study.poet.json"
    assert not window.files.open_path(missing)
    assert shown == [f"{missing}: no such file"]  # not "no such graph file" for a workspace


def test_numbers_keep_their_units_and_the_device_list_shows_whole_names(window):
    facts = window.model_panel._facts.text()
    assert "7,416\u00a0B" in facts  # a wrapped line never parts a number from its unit
    window.device_panel.show_profile(load_profile("a72"))
    combo = window.device_panel._combo
    assert "write cache on" in combo.toolTip()
    assert combo.view().minimumWidth() >= combo.view().sizeHintForColumn(0)


def test_a_plan_beyond_the_device_ram_has_a_banner_and_a_button_that_counts_the_parameters(
    qtbot, tmp_path, monkeypatch
):
    """Issue 16 item 9: linear at batch 20 on the nRF52840 is verified at its plain peak (145 KiB of
    activations) but its 170 KiB of parameters leave no room; the banner says so, the status notes it,
    and the banner's button turns on "Budget includes parameters" at the device's 256 KiB, which fits."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    model = ModelSource("linear", params=(("batch_size", 20),))
    session = new_session(
        model, load_profile("m4"), ram_fraction=1.0, runtime_factor=1.0, options=SolverOptions(time_limit_s=20)
    )
    w = MainWindow(AppState(session))
    qtbot.addWidget(w)
    w.resize(1366, 768)
    w.show()
    solved(qtbot, w)
    nb = "\u00a0"
    expected = (
        f"Does not fit the device: activations 145{nb}KiB + parameters 170{nb}KiB exceed the nRF52840's "
        f"256{nb}KiB. The plan holds for its budget only; count the parameters in a budget of 256{nb}KiB "
        "to plan for the device itself."
    )
    assert w._banner.isVisible() and w._banner.text() == expected
    assert w._status.text().endswith(" · does not fit the nRF52840's RAM")
    button = w._params_button
    assert button.isVisible() and button.text() == f"Count parameters in a 256{nb}KiB budget"

    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    s = w.state.session
    assert s.switches.budget_includes_params and s.ram_budget_bytes == 262_144
    assert w.budget_panel._with_params.isChecked()
    qtbot.waitUntil(lambda: w.state.session.phase is SolvePhase.DONE and w.state.session.plan_is_current(),
                    timeout=SOLVE_TIMEOUT_MS)  # fmt: skip
    result = w.state.session.result
    assert result.sim is not None and result.fit.fits_device is True
    assert not w._banner.isVisible() and not button.isVisible()
    assert "does not fit" not in w._status.text()
    w.close()
