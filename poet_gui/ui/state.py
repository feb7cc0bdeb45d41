"""The app's single source of truth: one frozen :class:`Session`, swapped whole on every change.

Widgets draw from the snapshot they are given and keep no copies, so what the window shows is always
one consistent state (the model, device, budgets and the plan that belongs to them).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from poet_gui.core.device.profiles import DeviceProfile
from poet_gui.core.model.graph import TrainingGraph
from poet_gui.core.model.graph_io import load_graph_file
from poet_gui.core.model.onnx_import import load_onnx_graph
from poet_gui.core.model.zoo import build_model
from poet_gui.core.schedule.problem import Problem, Switches, make_problem
from poet_gui.core.schedule.reference_points import ReferencePoints, reference_points_of
from poet_gui.core.solve.milp import Progress, SolverOptions
from poet_gui.core.solve.planner import VerifiedPlan


class SolvePhase(StrEnum):
    """Where the background solve of the current budgets stands."""

    IDLE = "idle"
    SOLVING = "solving"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class ModelSource:
    """Where the graph comes from: a zoo model with its parameters, or a graph file (reference JSON,
    or ONNX with ``dims`` binding its symbolic dimensions)."""

    zoo_name: str | None = "linear"
    params: tuple[tuple[str, int], ...] = ()
    graph_path: str | None = None
    dims: tuple[tuple[str, int], ...] = ()

    def load(self) -> TrainingGraph:
        """Build or read the graph (raises a PoetError naming the file or parameter)."""
        if self.graph_path is not None:
            path = Path(self.graph_path)
            if path.suffix.lower() == ".onnx":
                return load_onnx_graph(path, dims=dict(self.dims)).graph
            return load_graph_file(path)
        assert self.zoo_name is not None
        return build_model(self.zoo_name, **dict(self.params))

    @property
    def label(self) -> str:
        if self.graph_path is not None:
            return Path(self.graph_path).name
        extra = ", ".join(f"{k}={v}" for k, v in self.params)
        return f"{self.zoo_name} ({extra})" if extra else str(self.zoo_name)


@dataclass(frozen=True)
class Session:
    """Everything the window shows.

    ``result`` is the latest plan of this model and device. While budgets or switches move, it can be
    a plan for the previous ones until the next solve answers: :meth:`plan_is_current` tells, so the
    window can say so rather than show an old plan as the answer to new budgets.
    """

    model: ModelSource
    graph: TrainingGraph
    profile: DeviceProfile
    reference: ReferencePoints
    ram_budget_bytes: float
    runtime_factor: float
    switches: Switches = Switches()
    options: SolverOptions = SolverOptions(time_limit_s=30.0)
    result: VerifiedPlan | None = None
    phase: SolvePhase = SolvePhase.IDLE
    progress: Progress | None = None
    message: str = ""

    def plan_is_current(self) -> bool:
        """True if the plan on show was made for these budgets and switches (or there is none)."""
        if self.result is None:
            return True
        p = self.result.plan.problem
        return (p.ram_budget_bytes, p.runtime_factor, p.switches) == (
            self.ram_budget_bytes, self.runtime_factor, self.switches,
        )  # fmt: skip

    def problem(self) -> Problem:
        return make_problem(
            self.graph,
            self.profile,
            ram_budget_bytes=self.ram_budget_bytes,
            runtime_factor=self.runtime_factor,
            switches=self.switches,
        )


def new_session(
    model: ModelSource,
    profile: DeviceProfile,
    *,
    ram_fraction: float = 0.6,
    runtime_factor: float = 1.5,
    switches: Switches = Switches(),
    options: SolverOptions = SolverOptions(time_limit_s=30.0),
) -> Session:
    """A session for ``model`` (read or built now) on ``profile``; see :func:`session_for`."""
    return session_for(
        model, model.load(), profile, ram_fraction=ram_fraction, runtime_factor=runtime_factor,
        switches=switches, options=options,
    )  # fmt: skip


def session_for(
    model: ModelSource,
    graph: TrainingGraph,
    profile: DeviceProfile,
    *,
    ram_budget_bytes: float | None = None,
    ram_fraction: float = 0.6,
    runtime_factor: float,
    switches: Switches,
    options: SolverOptions,
) -> Session:
    """A session planning ``graph``, which is already in hand.

    This never re-reads the model's source: a graph from a plan or workspace file is embedded there
    and its original file may be gone, and a change of device must not re-read a graph file that was
    edited since. Without ``ram_budget_bytes`` the budget is ``ram_fraction`` of the plain peak, never
    below the least RAM the model needs.
    """
    ref = reference_points_of(graph, profile, switches)
    if ram_budget_bytes is None:
        ram_budget_bytes = float(max(round(ref.plain_peak_ram_bytes * ram_fraction), ref.min_ram_bytes))
    return Session(model, graph, profile, ref, ram_budget_bytes, runtime_factor, switches, options)


class AppState(QObject):
    """Holds the current :class:`Session` and announces every new one."""

    changed = Signal(object)  # Session

    def __init__(self, session: Session, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._session = session

    @property
    def session(self) -> Session:
        return self._session

    def replace(self, session: Session) -> None:
        self._session = session
        self.changed.emit(session)

    def update(self, **changes: object) -> None:
        self.replace(replace(self._session, **changes))
