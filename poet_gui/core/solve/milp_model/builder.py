"""The accumulator the MILP is built in: columns per decision family and rows, kept as plain lists and
numpy blocks until :meth:`Builder.finish` assembles the CSR arrays (numpy per column or row is slow).

The constraint families themselves are in :mod:`~poet_gui.core.solve.milp_model.families`, one function
per FORMULATION §4 item.
"""

from __future__ import annotations

import time

import numpy as np

from poet_gui.core.errors import SolveError
from poet_gui.core.schedule.problem import Problem
from poet_gui.core.solve.milp_model.arrays import OBJECTIVE_UNITS, Family, MilpModel, scaled_unit

#: What assembling the arrays (:meth:`Builder.finish`) takes, as a share of the build before it:
#: measured on resnet_50/m4 (2.4 million columns), 14 s of a 47 s profiled build, 8 s of 26 s plain.
FINISH_SHARE = 0.5


class BuildDeadlineError(Exception):
    """The model could not be built before its deadline (see :meth:`Builder.check_deadline`)."""


class Builder:
    """Accumulates columns and rows; one helper method per constraint family keeps each readable.

    ``deadline`` (a ``perf_counter`` time, or None) is checked by the families as they go, so a
    model too large to build in the time a solve has is given up instead of overrunning it.
    """

    def __init__(self, problem: Problem, deadline: float | None = None) -> None:
        self.p = problem
        self.deadline = deadline
        self.started = time.perf_counter()
        g = problem.graph
        self.n = len(g)
        self.succ = g.successors
        self.reach = np.asarray(g.last_descendant)
        self.m = np.asarray(problem.costs.ram_bytes, dtype=float)
        self.cost: list[np.ndarray] = []
        self.lower: list[np.ndarray] = []
        self.upper: list[np.ndarray] = []
        self.integer: list[np.ndarray] = []
        self.names: list[str] = []
        self.stages: list[np.ndarray] = []
        self.nodes: list[np.ndarray] = []
        self.single: list[tuple[float, float, bool, int, int]] = []  # (lower, upper, integer, stage, node)
        self.ncols = 0
        self.rows_r: list[int] = []
        self.rows_c: list[int] = []
        self.rows_v: list[float] = []
        self.row_lo: list[float] = []
        self.row_hi: list[float] = []
        self.energy_scale = OBJECTIVE_UNITS / scaled_unit(problem.plain_energy_j, problem.costs.pagein_j)
        self.index: dict[Family, np.ndarray] = {}
        self.free_cols: list[tuple[int, int, int, int]] = []
        self.level_rows: list[tuple[int, int]] = []

    def check_deadline(self, *, before_finish: bool = False) -> None:
        """Raise :class:`BuildDeadlineError` once the deadline has passed, or ``before_finish`` when
        :meth:`finish` (:data:`FINISH_SHARE` of the time so far) would end after it."""
        if self.deadline is None:
            return
        now = time.perf_counter()
        ahead = FINISH_SHARE * (now - self.started) if before_finish else 0.0
        if now + ahead > self.deadline:
            raise BuildDeadlineError(f"the model of {self.n} stages could not be built in the time given")

    # --- columns -------------------------------------------------------------------------------
    def add_family(self, fam: Family, mask: np.ndarray, unit_cost: np.ndarray | None) -> None:
        """Create one binary column per True entry of ``mask[t, i]`` (cost ``unit_cost[i]``)."""
        self.flush_single()
        idx = np.full((self.n, self.n), -1, dtype=np.int64)
        ts, is_ = np.nonzero(mask)
        count = len(ts)
        idx[ts, is_] = np.arange(self.ncols, self.ncols + count)
        self.ncols += count
        costs = np.zeros(count) if unit_cost is None else unit_cost[is_] * self.energy_scale
        self.cost.append(costs)
        self.lower.append(np.zeros(count))
        self.upper.append(np.ones(count))
        self.integer.append(np.ones(count, dtype=bool))
        self.stages.append(ts.astype(np.int64))
        self.nodes.append(is_.astype(np.int64))
        names = self.p.graph.nodes
        self.names.extend(f"{fam.value}[{t}][{names[i].name}]" for t, i in zip(ts, is_, strict=True))
        self.index[fam] = idx

    def add_col(self, name: str, stage: int, node: int, lower: float, upper: float, *, integer: bool) -> int:
        """One cost-free column; kept as plain tuples until :meth:`flush_single` (numpy per column is slow)."""
        col = self.ncols
        self.ncols += 1
        self.single.append((lower, upper, integer, stage, node))
        self.names.append(name)
        return col

    def flush_single(self) -> None:
        if not self.single:
            return
        lower, upper, integer, stage, node = zip(*self.single, strict=True)
        self.cost.append(np.zeros(len(lower)))
        self.lower.append(np.array(lower, dtype=float))
        self.upper.append(np.array(upper, dtype=float))
        self.integer.append(np.array(integer, dtype=bool))
        self.stages.append(np.array(stage, dtype=np.int64))
        self.nodes.append(np.array(node, dtype=np.int64))
        self.single = []

    def col(self, fam: Family, t: int, i: int) -> int:
        """Column of a decision, or -1 if it is a constant (0, or 1 for ``R[t,t]``)."""
        idx = self.index.get(fam)
        return -1 if idx is None else int(idx[t, i])

    # --- rows ----------------------------------------------------------------------------------
    def add_row(self, terms: list[tuple[int, float]], lo: float, hi: float) -> None:
        if terms:
            cols, values = zip(*terms, strict=True)
            self.rows_r.extend([len(self.row_lo)] * len(cols))
            self.rows_c.extend(cols)
            self.rows_v.extend(values)
        self.row_lo.append(lo)
        self.row_hi.append(hi)

    def add_rows(self, key: np.ndarray, terms: list[tuple[np.ndarray, np.ndarray, float]], hi: float) -> None:
        """Rows ``sum coef * column <= hi``, one per entry of ``key``, appended in ``key`` order.

        ``terms`` lists ``(row, column, coef)``: arrays of row positions (into ``key``) and columns with
        one coefficient; within a row, terms keep the order of this list (``finish`` sorts stably).
        """
        first = len(self.row_lo)
        rank = np.empty(len(key), dtype=np.int64)
        rank[np.argsort(key, kind="stable")] = np.arange(len(key))
        for rows, cols, coef in terms:
            self.rows_r.extend((first + rank[rows]).tolist())
            self.rows_c.extend(np.asarray(cols, dtype=np.int64).tolist())
            self.rows_v.extend([coef] * len(rows))
        self.row_lo.extend([-np.inf] * len(key))
        self.row_hi.extend([hi] * len(key))

    def finish(self) -> MilpModel:
        self.flush_single()
        values = np.asarray(self.rows_v, dtype=float)
        costs = np.concatenate(self.cost) if self.cost else np.zeros(0)
        if not (np.isfinite(values).all() and np.isfinite(costs).all()):
            raise SolveError(
                f"{self.p.profile.source or self.p.profile.key}: the device figures make some costs too large or "
                "too small to represent (check flop_per_s, flop_per_j and the storage figures)"
            )
        rows = np.asarray(self.rows_r, dtype=np.int64)
        order = np.argsort(rows, kind="stable")
        counts = np.bincount(rows, minlength=len(self.row_lo))
        row_start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        offset = float(np.asarray(self.p.costs.compute_j).sum()) * self.energy_scale
        return MilpModel(
            problem=self.p,
            cost=costs,
            col_lower=np.concatenate(self.lower) if self.lower else np.zeros(0),
            col_upper=np.concatenate(self.upper) if self.upper else np.zeros(0),
            is_integer=np.concatenate(self.integer) if self.integer else np.zeros(0, dtype=bool),
            row_start=row_start,
            col_index=np.asarray(self.rows_c, dtype=np.int64)[order],
            value=values[order],
            row_lower=np.asarray(self.row_lo, dtype=float),
            row_upper=np.asarray(self.row_hi, dtype=float),
            index=self.index,
            col_names=tuple(self.names),
            objective_offset=offset,
            objective_scale=self.energy_scale,
            build_s=time.perf_counter() - self.started,
            col_stage=np.concatenate(self.stages) if self.stages else np.zeros(0, dtype=np.int64),
            col_node=np.concatenate(self.nodes) if self.nodes else np.zeros(0, dtype=np.int64),
            free_cols=tuple(self.free_cols),
            level_rows=tuple(self.level_rows),
        )
