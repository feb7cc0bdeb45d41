"""What a solver is given: the POET MILP's columns, rows and bounds as numpy arrays, and how to read
its columns back as decisions.

Why arrays and not a modelling layer: PuLP needs seconds to build a 150k-variable model in Python
objects, while highspy takes the same model as numpy arrays in a fraction of a second. The CBC
back-end turns these arrays into PuLP objects; the HiGHS back-end passes them straight through.

Units, for solver numerics (FORMULATION §4 "Numerics"): the objective is scaled so a plain pass
costs ``OBJECTIVE_UNITS``; the runtime row so a plain pass takes ``RUNTIME_UNITS``; memory stays in
bytes so a one-byte budget change is visible to the solver.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property

import numpy as np

from poet_gui.core.schedule.plan import Decisions
from poet_gui.core.schedule.problem import Problem

OBJECTIVE_UNITS = 1e6
RUNTIME_UNITS = 1e6


class Family(StrEnum):
    """The 0/1 decision families of the MILP (FORMULATION §4)."""

    COMPUTE = "R"
    RESIDENT = "SR"
    STORED = "SS"
    PAGE_IN = "IN"
    PAGE_OUT = "OUT"


@dataclass(frozen=True)
class SparseMilp:
    """Minimise ``cost @ x + objective_offset`` s.t. ``row_lower <= A x <= row_upper``, column bounds and
    integrality, with ``A`` in CSR form (``row_start``, ``col_index``, ``value``): what a solver is given,
    for the whole model or for a part of it (:func:`milp_window.restrict`)."""

    cost: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    is_integer: np.ndarray
    row_start: np.ndarray
    col_index: np.ndarray
    value: np.ndarray
    row_lower: np.ndarray
    row_upper: np.ndarray
    objective_offset: float

    @property
    def num_cols(self) -> int:
        return len(self.cost)

    @property
    def num_rows(self) -> int:
        return len(self.row_lower)

    @property
    def num_nonzeros(self) -> int:
        return len(self.value)

    @cached_property
    def row_of_nonzero(self) -> np.ndarray:
        """The row of every nonzero (CSR expanded): computed once, as every window of a sweep needs it."""
        return np.repeat(np.arange(self.num_rows), np.diff(self.row_start))

    def row_activity(self, x: np.ndarray) -> np.ndarray:
        """``A x``."""
        return np.bincount(self.row_of_nonzero, weights=self.value * x[self.col_index], minlength=self.num_rows)


@dataclass(frozen=True)
class MilpModel(SparseMilp):
    """The POET MILP of one problem (FORMULATION §4), with what is needed to read its columns.

    ``index[family][t, i]`` is the column of that decision, or -1 where the decision is a constant.
    ``objective_offset`` is the scaled cost of the constant computes ``R[t,t] = 1``. ``col_stage[j]``
    is the stage a column belongs to and ``col_node[j]`` the tensor it decides about (-1 for a RAM
    level), so a window of stages or a group of tensors can be re-optimised on its own.
    """

    problem: Problem
    index: dict[Family, np.ndarray]
    col_names: tuple[str, ...]
    objective_scale: float
    build_s: float
    col_stage: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False)
    col_node: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False)
    free_cols: tuple[tuple[int, int, int, int], ...] = field(default=(), repr=False)  # (col, t, i, k)
    level_rows: tuple[tuple[int, int], ...] = field(default=(), repr=False)  # (U column, its defining row)

    def energy_j(self, scaled_objective: float) -> float:
        """Convert a scaled objective value (offset included) back to joules."""
        return scaled_objective / self.objective_scale

    def start_vector(self, d: Decisions) -> np.ndarray:
        """Every column's value for the schedule ``d`` — a MIP start for the solver.

        Decision columns come from ``d``; each ``FREE`` from its defining rule (FORMULATION §4.5); each
        ``U`` from its defining equality, in creation order (each refers only to earlier levels).
        Schedules built with the MILP's accounting (the heuristics', the MILP's own) satisfy every row;
        HiGHS checks a start and ignores one that does not.
        """
        x = np.zeros(self.num_cols)
        mats = {Family.COMPUTE: d.compute, Family.RESIDENT: d.resident, Family.STORED: d.stored,
                Family.PAGE_IN: d.page_in, Family.PAGE_OUT: d.page_out}  # fmt: skip
        for fam, idx in self.index.items():
            has = idx >= 0
            x[idx[has]] = mats[fam][has]
        n = len(self.problem.graph)
        succ = self.problem.graph.successors
        for col, t, i, k in self.free_cols:
            kept = t + 1 < n and d.resident[t + 1, i]
            read_later = any(d.compute[t, j] for j in succ[i] if k < j <= t)
            x[col] = float(d.compute[t, k] and not kept and not read_later)
        for col, row in self.level_rows:
            a, b = self.row_start[row], self.row_start[row + 1]
            cols, vals = self.col_index[a:b], self.value[a:b]
            others = cols != col
            x[col] = self.row_lower[row] - float(vals[others] @ x[cols[others]])
        return x

    def decisions_from(self, x: np.ndarray) -> dict[Family, np.ndarray]:
        """Round a solver's column values to the five boolean ``(T, T)`` decision matrices."""
        n = len(self.problem.graph)
        out: dict[Family, np.ndarray] = {}
        for fam in Family:
            mat = np.zeros((n, n), dtype=bool)
            idx = self.index.get(fam)
            if idx is not None:
                has = idx >= 0
                mat[has] = x[idx[has]] > 0.5
            out[fam] = mat
        out[Family.COMPUTE][np.arange(n), np.arange(n)] = True
        return out


def scaled_unit(plain: float, fallback: np.ndarray) -> float:
    """The quantity scaled to the model's unit: the plain pass's, or for a graph whose plain pass
    costs nothing (all 0-FLOP nodes) the largest paging cost, so scaling never divides by ~0."""
    if plain > 0:
        return plain
    largest = float(np.max(fallback)) if len(fallback) else 0.0
    return largest if largest > 0 else 1.0
