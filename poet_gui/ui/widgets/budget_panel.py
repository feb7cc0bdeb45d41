"""Budgets and switches: RAM (slider + exact spin box), runtime factor, paging / recomputation, solver."""

from __future__ import annotations

import math
from dataclasses import replace

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from poet_gui.core.device.units import format_bytes
from poet_gui.core.schedule.problem import Switches
from poet_gui.core.solve.milp import EXACT_MAX_COLUMNS, Method, Solver, SolverOptions
from poet_gui.ui.state import Session

_RAM_STEPS = 1000  # slider positions, on a log scale between the model's least and 1.25x plain peak RAM
_RUNTIME_MAX_SLIDER = 5.0


class BudgetPanel(QGroupBox):
    """Emits :attr:`budgets_changed` on every change, during a drag too, so the figures follow the
    mouse; :meth:`is_dragging` tells the window to wait for the release before it solves."""

    budgets_changed = Signal(float, float)  # ram_budget_bytes, runtime_factor
    switches_changed = Signal(object)  # Switches
    options_changed = Signal(object)  # SolverOptions

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Budgets", parent)
        self._lo, self._hi, self._plain_peak = 1.0, 2.0, 1.0
        self._switches = Switches()
        self._options = SolverOptions()
        self._updating = False
        layout = QVBoxLayout(self)

        layout.addWidget(QLabel("RAM budget (activations and gradients)"))
        self._ram_slider = QSlider(Qt.Orientation.Horizontal)
        self._ram_slider.setRange(0, _RAM_STEPS)
        self._ram_slider.setSingleStep(_RAM_STEPS // 100)  # arrow keys: 1 % of the (log) range
        self._ram_slider.setPageStep(_RAM_STEPS // 10)  # PageUp / PageDown: 10 %
        self._ram_slider.setToolTip(
            "Drag to change the RAM budget; from the least RAM the model needs to 125% of "
            "the plain schedule's peak (log scale)"
        )
        self._ram_spin = QSpinBox()
        self._ram_spin.setRange(1, 2_000_000_000)
        self._ram_spin.setSuffix(" B")
        self._ram_spin.setGroupSeparatorShown(True)
        self._ram_spin.setKeyboardTracking(False)
        self._ram_spin.setToolTip("The exact RAM budget in bytes")
        self._ram_info = QLabel()
        self._ram_info.setToolTip("The budget in readable units and as a share of the plain schedule's peak RAM")
        layout.addWidget(self._ram_slider)
        layout.addWidget(self._ram_spin)
        layout.addWidget(self._ram_info)

        layout.addWidget(QLabel("Runtime budget (× one plain forward+backward pass)"))
        self._rt_slider = QSlider(Qt.Orientation.Horizontal)
        self._rt_slider.setRange(100, int(_RUNTIME_MAX_SLIDER * 100))
        self._rt_slider.setSingleStep(5)  # 0.05x, as the spin box steps
        self._rt_slider.setPageStep(25)
        self._rt_slider.setToolTip("Drag to allow more time for recomputation: 1.0× allows none")
        self._rt_spin = QDoubleSpinBox()
        self._rt_spin.setRange(0.01, 1000.0)
        self._rt_spin.setDecimals(2)
        self._rt_spin.setSingleStep(0.05)
        self._rt_spin.setSuffix(" ×")
        self._rt_spin.setKeyboardTracking(False)
        self._rt_spin.setToolTip("The exact runtime budget as a multiple of one plain pass")
        layout.addWidget(self._rt_slider)
        layout.addWidget(self._rt_spin)

        form = QFormLayout()
        self._paging = QCheckBox("Paging to storage")
        self._paging.setToolTip("Allow writing tensors to flash / SD card and reading them back")
        self._remat = QCheckBox("Recomputation")
        self._remat.setToolTip("Allow dropping tensors and recomputing them when needed")
        self._paging_time = QCheckBox("Charge paging time to the runtime budget")
        self._paging_time.setToolTip("The reference POET does not; on slow storage paging time can dominate")
        self._with_params = QCheckBox("Budget is total device RAM (parameters included)")
        self._with_params.setToolTip("Subtract the parameters' bytes from the budget before planning")
        for box in (self._paging, self._remat, self._paging_time, self._with_params):
            form.addRow(box)
            box.toggled.connect(self._on_switch_toggled)
        self._solver = QComboBox()
        for s in Solver:
            self._solver.addItem({Solver.HIGHS: "HiGHS", Solver.CBC: "CBC"}[s], s.value)
        self._solver.setToolTip("MILP solver: HiGHS is much faster on these models")
        self._time_limit = QDoubleSpinBox()
        self._time_limit.setRange(1, 3600)
        self._time_limit.setDecimals(0)
        self._time_limit.setSuffix(" s")
        self._time_limit.setToolTip("Stop the solver after this long and keep its best plan, with its gap")
        self._method = QComboBox()
        method_names = {Method.AUTO: "Auto", Method.EXACT: "Exact MILP", Method.WINDOWED: "Windowed (approximate)"}
        for m, label in method_names.items():
            self._method.addItem(label, m.value)
        self._method.setToolTip(
            "Exact proves optimality but may not finish on large models; windowed re-optimises parts of the "
            f"heuristic plan (HiGHS only) and is labelled approximate. Auto: windowed above {EXACT_MAX_COLUMNS:,} "
            "model columns (bert, resnet50)"
        )
        form.addRow("Solver", self._solver)
        form.addRow("Method", self._method)
        form.addRow("Time limit", self._time_limit)
        layout.addLayout(form)
        self._solver.currentIndexChanged.connect(self._on_options_changed)
        self._method.currentIndexChanged.connect(self._on_options_changed)
        self._time_limit.valueChanged.connect(self._on_options_changed)

        self._ram_slider.valueChanged.connect(self._on_ram_slider_valueChanged)
        self._ram_spin.valueChanged.connect(self._on_ram_spin_valueChanged)
        self._rt_slider.valueChanged.connect(self._on_rt_slider_valueChanged)
        self._rt_spin.valueChanged.connect(self._on_rt_spin_valueChanged)
        self._ram_slider.sliderReleased.connect(self._emit_budgets)
        self._rt_slider.sliderReleased.connect(self._emit_budgets)

    def is_dragging(self) -> bool:
        """True while the mouse holds a budget slider: the budgets are not settled yet."""
        return self._ram_slider.isSliderDown() or self._rt_slider.isSliderDown()

    # --- showing state ---------------------------------------------------------------------------
    def show_session(self, session: Session) -> None:
        self._updating = True
        try:
            ref = session.reference
            self._plain_peak = ref.plain_peak_ram_bytes
            self._lo = max(ref.min_ram_bytes, 1.0)
            self._hi = max(ref.plain_peak_ram_bytes * 1.25, self._lo * 1.01)
            self._ram_spin.setValue(round(session.ram_budget_bytes))
            self._ram_slider.setValue(self._ram_to_slider(session.ram_budget_bytes))
            self._show_ram_info(session.ram_budget_bytes)
            self._rt_spin.setValue(session.runtime_factor)
            self._rt_slider.setValue(round(min(session.runtime_factor, _RUNTIME_MAX_SLIDER) * 100))
            sw = session.switches
            self._switches = sw
            self._paging.setChecked(sw.paging)
            self._remat.setChecked(sw.remat)
            self._paging_time.setChecked(sw.count_paging_time)
            self._with_params.setChecked(sw.budget_includes_params)
            self._options = session.options
            self._solver.setCurrentIndex(self._solver.findData(session.options.solver.value))
            self._method.setCurrentIndex(self._method.findData(session.options.method.value))
            self._show_method_choice(session.options.solver)
            self._time_limit.setValue(session.options.time_limit_s)
        finally:
            self._updating = False

    def _show_ram_info(self, ram: float) -> None:
        self._ram_info.setText(f"{format_bytes(ram)}, {ram / self._plain_peak:.0%} of plain peak")

    def _ram_to_slider(self, ram: float) -> int:
        ram = min(max(ram, self._lo), self._hi)
        return round(_RAM_STEPS * math.log(ram / self._lo) / math.log(self._hi / self._lo))

    def _slider_to_ram(self, pos: int) -> int:
        return round(self._lo * (self._hi / self._lo) ** (pos / _RAM_STEPS))

    # --- user input ------------------------------------------------------------------------------
    def _emit_budgets(self) -> None:
        self.budgets_changed.emit(float(self._ram_spin.value()), float(self._rt_spin.value()))

    @Slot(int)
    def _on_ram_slider_valueChanged(self, pos: int) -> None:
        if self._updating:
            return
        ram = self._slider_to_ram(pos)
        self._updating = True
        self._ram_spin.setValue(ram)
        self._updating = False
        self._show_ram_info(ram)
        self._emit_budgets()

    @Slot(int)
    def _on_ram_spin_valueChanged(self, ram: int) -> None:
        if self._updating:
            return
        self._updating = True
        self._ram_slider.setValue(self._ram_to_slider(ram))
        self._updating = False
        self._show_ram_info(ram)
        self._emit_budgets()

    @Slot(int)
    def _on_rt_slider_valueChanged(self, pos: int) -> None:
        if self._updating:
            return
        self._updating = True
        self._rt_spin.setValue(pos / 100)
        self._updating = False
        self._emit_budgets()

    @Slot(float)
    def _on_rt_spin_valueChanged(self, value: float) -> None:
        if self._updating:
            return
        self._updating = True
        self._rt_slider.setValue(round(min(value, _RUNTIME_MAX_SLIDER) * 100))
        self._updating = False
        self._emit_budgets()

    @Slot(bool)
    def _on_switch_toggled(self, _checked: bool) -> None:
        if self._updating:
            return
        self._switches = Switches(
            paging=self._paging.isChecked(),
            remat=self._remat.isChecked(),
            count_paging_time=self._paging_time.isChecked(),
            budget_includes_params=self._with_params.isChecked(),
        )
        self.switches_changed.emit(self._switches)

    def _show_method_choice(self, solver: Solver) -> None:
        """The windowed approximation re-solves with HiGHS only: with CBC the exact model is solved."""
        self._method.setEnabled(solver is Solver.HIGHS)

    @Slot()
    def _on_options_changed(self) -> None:
        if self._updating:
            return
        solver = Solver(self._solver.currentData())
        self._show_method_choice(solver)
        self._options = replace(
            self._options,
            solver=solver,
            method=Method(self._method.currentData()),
            time_limit_s=float(self._time_limit.value()),
        )
        self.options_changed.emit(self._options)
