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

import itertools
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property

import numpy as np

from poet_gui.core.model.graph import TrainingGraph
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
    objective_scale: float
    build_s: float
    col_stage: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False)
    col_node: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False)
    #: ``(column, t, i, k)`` of every ``FREE[t,(i,k)]``, in column order.
    free_cols: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), dtype=np.int64), repr=False)
    #: ``(column, defining row)`` of every RAM level ``U[t,k]``, in column order (stage, then step).
    level_rows: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), dtype=np.int64), repr=False)

    def energy_j(self, scaled_objective: float) -> float:
        """Convert a scaled objective value (offset included) back to joules."""
        return scaled_objective / self.objective_scale

    def start_vector(self, d: Decisions) -> np.ndarray:
        """Every column's value for the schedule ``d`` — a MIP start for the solver.

        Decision columns come from ``d``; each ``FREE`` from its defining rule (FORMULATION §4.5); each
        ``U`` from its defining equality, stage by stage (each refers only to earlier levels).
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
        col, t, i, k = self.free_cols.T
        kept = np.zeros(len(col), dtype=bool)
        inside = t + 1 < n
        kept[inside] = d.resident[t[inside] + 1, i[inside]]
        read_later = np.zeros(len(col), dtype=bool)
        owner, reader = readers_of(self.problem.graph, i)
        late = (reader > k[owner]) & (reader <= t[owner]) & d.compute[t[owner], reader]
        read_later[owner[late]] = True
        x[col] = d.compute[t, k] & ~kept & ~read_later
        # U[t,k] = U[t,k'] + (what its row adds), with U[t,0] starting each stage: every level row
        # read with all levels at 0 gives that increment, and a running sum per stage the levels.
        col, row = self.level_rows.T
        term_row, at = ranges(self.row_start[row], self.row_start[row + 1])
        added = np.bincount(term_row, weights=self.value[at] * x[self.col_index[at]], minlength=len(row))
        step = self.row_lower[row] - added
        stage = self.col_stage[col]
        bounds = np.flatnonzero(np.r_[True, stage[1:] != stage[:-1], True])
        for lo, hi in itertools.pairwise(bounds):  # a running sum per stage, never across
            x[col[lo:hi]] = np.cumsum(step[lo:hi])
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


def ranges(start: np.ndarray, stop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every ``(k, v)`` with ``start[k] <= v < stop[k]``, by ``k`` then ``v``, as two arrays: how a
    family of rows or a CSR slice is expanded without a Python loop."""
    start = np.asarray(start, dtype=np.int64)
    length = np.maximum(np.asarray(stop, dtype=np.int64) - start, 0)
    owner = np.repeat(np.arange(len(length)), length)
    first = np.cumsum(length) - length
    return owner, np.arange(len(owner)) - first[owner] + start[owner]


def edge_array(graph: TrainingGraph) -> np.ndarray:
    """The graph's edges ``(producer, consumer)`` as an ``(E, 2)`` array, by consumer then producer."""
    return np.asarray(graph.edges, dtype=np.int64).reshape(-1, 2)


def readers_of(graph: TrainingGraph, tensors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every ``(k, j)`` with ``j`` a reader of ``tensors[k]``, by ``k`` then ``j``, as two arrays."""
    edges = edge_array(graph)
    edges = edges[np.lexsort((edges[:, 1], edges[:, 0]))]  # by producer, then reader
    first = np.searchsorted(edges[:, 0], np.arange(len(graph) + 1))
    tensors = np.asarray(tensors, dtype=np.int64)
    owner, at = ranges(first[tensors], first[tensors + 1])
    return owner, edges[at, 1]
