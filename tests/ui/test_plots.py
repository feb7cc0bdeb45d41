"""The four plan plots: they draw real plans, keep their items across updates, and blank on None."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QGridLayout, QToolTip, QWidget

from poet_gui.core.device.profiles import load_profile
from poet_gui.core.device.units import format_bytes, format_energy
from poet_gui.core.model.zoo import build_model
from poet_gui.core.schedule.plan import SolveStatus
from poet_gui.core.schedule.problem import make_problem
from poet_gui.core.solve.milp import SolverOptions
from poet_gui.core.solve.planner import VerifiedPlan, plan_problem
from poet_gui.ui.plots import EnergyPlot, MemoryPlot, TimelinePlot, TradeoffPlot, TradeoffPoint
from poet_gui.ui.plots.style import CellState

#: On linear/a72 this budget forces recomputes, one page-out and one page-in (see the brief of the plots).
_TIGHT_BUDGET_BYTES = 3708
_SCREENSHOT = Path("/tmp/poet_plots.png")


def _plan(ram_budget_bytes: float, runtime_factor: float = 1.5) -> VerifiedPlan:
    problem = make_problem(
        build_model("linear"), load_profile("a72"), ram_budget_bytes=ram_budget_bytes, runtime_factor=runtime_factor
    )
    return plan_problem(problem, SolverOptions(time_limit_s=20))


@pytest.fixture(scope="module")
def tight() -> VerifiedPlan:
    vp = _plan(_TIGHT_BUDGET_BYTES)
    assert vp.sim is not None and vp.plan.decisions is not None
    return vp


@pytest.fixture(scope="module")
def sweep() -> list[TradeoffPoint]:
    """A real sweep over budgets at 1.5x: below the minimum RAM (no plan) up to the plain peak."""
    points = []
    for budget in (3000, 3256, 3708, 4200, 5000, 7416):
        vp = _plan(budget)
        energy = vp.sim.energy_j if vp.sim is not None else None
        points.append(TradeoffPoint(budget, 1.5, vp.plan.status.value, energy))
    return points


def _synthetic_points() -> list[TradeoffPoint]:
    """Every status and two factors, without solving (the click and legend logic don't need real plans)."""
    return [
        TradeoffPoint(3000.0, 1.2, SolveStatus.INFEASIBLE.value, None),
        TradeoffPoint(4000.0, 1.2, SolveStatus.OPTIMAL.value, 6.7e-3),
        TradeoffPoint(6000.0, 1.2, SolveStatus.FEASIBLE.value, 6.6e-3),
        TradeoffPoint(4000.0, 1.5, SolveStatus.OPTIMAL.value, 6.65e-3),
        TradeoffPoint(6000.0, 1.5, SolveStatus.TIME_LIMIT.value, None),
    ]


# --- timeline -----------------------------------------------------------------------------------


def test_timeline_codes_follow_the_decisions(qtbot, tight: VerifiedPlan) -> None:
    plot = TimelinePlot()
    qtbot.addWidget(plot)
    d = tight.plan.decisions
    plot.show_plan(tight.plan.problem, d)
    image = plot._image
    plot.show_plan(tight.plan.problem, d)
    assert plot._image is image

    codes = image.image
    n = len(tight.plan.problem.graph)
    assert codes.shape == (n, n)
    assert all(codes[t, t] == CellState.FIRST_COMPUTE for t in range(n))
    recomputes = np.argwhere(d.compute & ~np.eye(n, dtype=bool))
    page_ins = np.argwhere(d.page_in)
    page_outs = np.argwhere(d.page_out)
    assert len(recomputes) and len(page_ins) and len(page_outs), "the tight linear plan should use all three"
    for stage, node in recomputes:
        assert codes[stage, node] == CellState.RECOMPUTE
        assert plot.action_at(stage, node) == "recompute"
    stage, node = page_ins[0]
    assert codes[stage, node] == CellState.PAGE_IN
    assert plot.action_at(stage, node) == "page in"
    stage, node = page_outs[0]
    assert plot.action_at(stage, node) == "page out"
    # Between its page-out and page-in a paged tensor is, for some stages, only in storage.
    only_stored = np.argwhere(d.stored & ~d.resident & ~d.page_in)
    assert len(only_stored)
    for stage, node in only_stored:
        assert plot.action_at(stage, node) == "in storage"
    assert plot.action_at(0, n - 1) == "not held"
    assert plot.action_at(n, 0) == ""


def test_timeline_tooltip_names_the_tensor_and_action(qtbot, tight: VerifiedPlan) -> None:
    plot = TimelinePlot()
    qtbot.addWidget(plot)
    problem = tight.plan.problem
    plot.show_plan(problem, tight.plan.decisions)
    stage, node = np.argwhere(tight.plan.decisions.page_in)[0]
    text = plot.tooltip_at(stage, node)
    info = problem.graph.nodes[node]
    assert f"stage {stage}" in text
    assert info.name in text and info.op in text
    assert format_bytes(float(problem.costs.ram_bytes[node])) in text
    assert "page in" in text


def test_timeline_hover_shows_the_cell_under_the_mouse(qtbot, tight: VerifiedPlan) -> None:
    plot = TimelinePlot()
    qtbot.addWidget(plot)
    plot.resize(640, 400)
    plot.show()
    qtbot.waitExposed(plot)
    plot.show_plan(tight.plan.problem, tight.plan.decisions)
    stage, node = (int(v) for v in np.argwhere(tight.plan.decisions.page_in)[0])
    scene_pos = plot.getPlotItem().getViewBox().mapViewToScene(QPointF(stage, node))
    plot.scene().sigMouseMoved.emit(scene_pos)
    assert QToolTip.text() == plot.tooltip_at(stage, node)
    QToolTip.hideText()


def test_timeline_none_blanks_and_keeps_items(qtbot, tight: VerifiedPlan) -> None:
    plot = TimelinePlot()
    qtbot.addWidget(plot)
    image = plot._image
    plot.show_plan(tight.plan.problem, None)
    assert plot._image is image and image.image is None
    assert plot.action_at(0, 0) == "" and plot.tooltip_at(0, 0) == ""
    plot.show_plan(tight.plan.problem, tight.plan.decisions)
    assert plot._image is image and plot.action_at(0, 0) == "first compute"


# --- memory -------------------------------------------------------------------------------------


def test_memory_marks_peak_and_budget(qtbot, tight: VerifiedPlan) -> None:
    plot = MemoryPlot()
    qtbot.addWidget(plot)
    sim = tight.sim
    plot.show_result(sim)
    items = (plot._ram, plot._peak, plot._budget, plot._stage_lines)
    plot.show_result(sim)
    assert (plot._ram, plot._peak, plot._budget, plot._stage_lines) == items

    x, y = plot._ram.getOriginalDataset()
    assert len(x) == len(y) == 2 * len(sim.operations)
    assert y.max() == sim.peak_ram_bytes
    px, py = plot._peak.getData()
    assert list(py) == [sim.peak_ram_bytes]
    assert sim.peak_index <= px[0] <= sim.peak_index + 1
    assert plot._peak_label.toPlainText() == f"peak {format_bytes(sim.peak_ram_bytes)}"
    assert plot._budget.isVisible() and plot._budget.value() == sim.budget_bytes
    stages = len({op.stage for op in sim.operations})
    assert len(plot._stage_lines.getData()[0]) == 2 * stages


def test_memory_none_blanks(qtbot, tight: VerifiedPlan) -> None:
    plot = MemoryPlot()
    qtbot.addWidget(plot)
    plot.show_result(tight.sim)
    curve = plot._ram
    plot.show_result(None)
    assert plot._ram is curve
    x, _ = plot._ram.getOriginalDataset()
    assert x is None or len(x) == 0
    assert len(plot._peak.getData()[0]) == 0
    assert not plot._budget.isVisible()
    assert plot._peak_label.toPlainText() == ""


# --- energy -------------------------------------------------------------------------------------


def test_energy_bars_are_the_sim_parts(qtbot, tight: VerifiedPlan) -> None:
    plot = EnergyPlot()
    qtbot.addWidget(plot)
    sim, plain = tight.sim, tight.reference.plain_energy_j
    plot.show_result(sim, plain)
    bars = plot._bars
    plot.show_result(sim, plain)
    assert plot._bars is bars

    np.testing.assert_allclose(bars.opts["height"], [plain, sim.compute_j, sim.pagein_j, sim.pageout_j])
    np.testing.assert_allclose(bars.opts["y0"], [0, 0, sim.compute_j, sim.compute_j + sim.pagein_j])
    labels = [label.text for _, label in plot._legend.items]
    assert labels[2] == f"page in: {format_energy(sim.pagein_j)}"
    assert plot._totals[1].toPlainText().startswith(format_energy(sim.energy_j))


def test_energy_none_blanks(qtbot, tight: VerifiedPlan) -> None:
    plot = EnergyPlot()
    qtbot.addWidget(plot)
    plot.show_result(tight.sim, tight.reference.plain_energy_j)
    plot.show_result(None, None)
    np.testing.assert_array_equal(plot._bars.opts["height"], np.zeros(4))
    assert [t.toPlainText() for t in plot._totals] == ["", ""]


# --- trade-off ----------------------------------------------------------------------------------


def test_tradeoff_reuses_items_per_factor(qtbot) -> None:
    plot = TradeoffPlot()
    qtbot.addWidget(plot)
    points = _synthetic_points()
    plot.set_points(points)
    series = dict(plot._series)
    assert sorted(series) == [1.2, 1.5]
    plot.set_points(points)
    assert all(plot._series[f] is s for f, s in series.items())
    assert len(series[1.2].points.data) == 3
    # The planned points only are joined by the curve; the no-plan point sits below every energy.
    assert len(series[1.2].curve.getOriginalDataset()[0]) == 2
    lowest = min(p.energy_j for p in points if p.energy_j is not None)
    assert all(spot.pos().y() < lowest for spot in series[1.2].points.points() if spot.data().energy_j is None)

    plot.set_points([p for p in points if p.runtime_factor == 1.5])
    assert plot._series[1.2] is series[1.2] and len(series[1.2].points.data) == 0
    legend = [label.text for _, label in plot._legend.items]
    assert "runtime 1.5×" in legend and "runtime 1.2×" not in legend


def test_tradeoff_click_emits_the_point(qtbot) -> None:
    plot = TradeoffPlot()
    qtbot.addWidget(plot)
    plot.resize(640, 400)
    plot.show()
    qtbot.waitExposed(plot)
    plot.set_points(_synthetic_points())
    target = TradeoffPoint(6000.0, 1.2, SolveStatus.FEASIBLE.value, 6.6e-3)
    scene_pos = plot.getPlotItem().getViewBox().mapViewToScene(QPointF(target.ram_budget_bytes, target.energy_j))
    with qtbot.waitSignal(plot.point_clicked, timeout=2000) as blocker:
        qtbot.mouseClick(plot.viewport(), Qt.MouseButton.LeftButton, pos=plot.mapFromScene(scene_pos))
    assert blocker.args == [target.ram_budget_bytes, target.runtime_factor]


def test_tradeoff_marks_current_plan(qtbot) -> None:
    plot = TradeoffPlot()
    qtbot.addWidget(plot)
    star = plot._current
    plot.mark_current(4000.0, 6.7e-3)
    assert [list(a) for a in star.getData()] == [[4000.0], [6.7e-3]]
    plot.mark_current(None, None)
    assert plot._current is star and len(star.getData()[0]) == 0
    plot.set_points([])
    assert plot._series == {}


def test_tradeoff_frames_a_single_point(qtbot) -> None:
    """Auto-range would zoom one point to a zero-width span; the view keeps ±5 % around it instead."""
    plot = TradeoffPlot()
    qtbot.addWidget(plot)
    plot.set_points([TradeoffPoint(75_000.0, 2.0, SolveStatus.FEASIBLE.value, 0.49)])
    (x0, x1), (y0, y1) = plot.getPlotItem().getViewBox().viewRange()
    assert x0 < 75_000.0 < x1 and x1 - x0 >= 0.1 * 75_000.0
    assert y0 < 0.49 < y1 and y1 - y0 >= 0.1 * 0.49


# --- all four -----------------------------------------------------------------------------------


def test_grid_screenshot(qtbot, tight: VerifiedPlan, sweep: list[TradeoffPoint]) -> None:
    """The four plots as the main window lays them out, saved for a person to look at."""
    window = QWidget()
    qtbot.addWidget(window)
    window.resize(1280, 800)
    grid = QGridLayout(window)
    timeline, memory, energy, tradeoff = TimelinePlot(), MemoryPlot(), EnergyPlot(), TradeoffPlot()
    for i, plot in enumerate((timeline, memory, energy, tradeoff)):
        grid.addWidget(plot, i // 2, i % 2)
    problem = tight.plan.problem
    timeline.show_plan(problem, tight.plan.decisions)
    memory.show_result(tight.sim)
    energy.show_result(tight.sim, tight.reference.plain_energy_j)
    tradeoff.set_points(sweep)
    tradeoff.mark_current(problem.ram_budget_bytes, tight.sim.energy_j)
    window.show()
    qtbot.waitExposed(window)
    qtbot.wait(200)  # let the axes settle their widths from the tick labels before grabbing
    assert window.grab().save(str(_SCREENSHOT))
    assert _SCREENSHOT.stat().st_size > 0
