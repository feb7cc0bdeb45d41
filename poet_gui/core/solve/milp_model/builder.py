"""The accumulator the MILP is built in: columns per decision family and rows, kept as numpy blocks
until :meth:`Builder.finish` assembles the CSR arrays.

Every family adds its columns and rows as whole arrays (a Python call per column or row is what made
an 869-node ResNet's model of 2.4 million columns take 16 s to build). The constraint families
themselves are in :mod:`~poet_gui.core.solve.milp_model.families`, one function per FORMULATION §4 item.
"""

from __future__ import annotations

import time

import numpy as np

from poet_gui.core.errors import SolveError
from poet_gui.core.schedule.problem import Problem
from poet_gui.core.solve.milp_model.arrays import OBJECTIVE_UNITS, Family, MilpModel, scaled_unit

#: What assembling the arrays (:meth:`Builder.finish`) takes, as a share of the build before it:
#: measured on resnet_50/m4 (2.4 million columns), 0.3-0.4 s after 1.4 s (the rows are sorted as they
#: are added, so it only joins them); twice that, for a machine whose memory is slower than its cores.
FINISH_SHARE = 0.5

#: Terms of rows: (row positions, columns, coefficients), one array each of the same length.
Terms = tuple[np.ndarray, np.ndarray, np.ndarray | float]


class BuildDeadlineError(Exception):
    """The model could not be built before its deadline (see :meth:`Builder.check_deadline`)."""


class Builder:
    """Accumulates columns and rows as arrays; one function per constraint family fills it.

    ``deadline`` (a ``perf_counter`` time, or None) is checked between the families (and inside the
    largest), so a model too large to build in the time a solve has is given up instead of overrunning
    it by more than a family's build.
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
        self.stages: list[np.ndarray] = []
        self.nodes: list[np.ndarray] = []
        self.ncols = 0
        self.term_rows: list[np.ndarray] = []
        self.term_cols: list[np.ndarray] = []
        self.term_vals: list[np.ndarray] = []
        self.row_lo: list[np.ndarray] = []
        self.row_hi: list[np.ndarray] = []
        self.nrows = 0
        self.energy_scale = OBJECTIVE_UNITS / scaled_unit(problem.plain_energy_j, problem.costs.pagein_j)
        self.index: dict[Family, np.ndarray] = {}
        self.free_cols = np.zeros((0, 4), dtype=np.int64)
        self.level_rows = np.zeros((0, 2), dtype=np.int64)

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
        idx = np.full((self.n, self.n), -1, dtype=np.int64)
        ts, is_ = np.nonzero(mask)
        count = len(ts)
        idx[ts, is_] = np.arange(self.ncols, self.ncols + count)
        costs = np.zeros(count) if unit_cost is None else unit_cost[is_] * self.energy_scale
        self._append_cols(costs, np.zeros(count), np.ones(count), np.ones(count, dtype=bool), ts, is_)
        self.index[fam] = idx

    def add_cols(self, lower: np.ndarray, upper: np.ndarray, stage: np.ndarray, node: np.ndarray) -> np.ndarray:
        """Cost-free continuous columns, one per entry, in the order given; returns their numbers."""
        count = len(stage)
        first = self.ncols
        self._append_cols(
            np.zeros(count),
            np.broadcast_to(np.asarray(lower, dtype=float), (count,)),
            np.broadcast_to(np.asarray(upper, dtype=float), (count,)),
            np.zeros(count, dtype=bool),
            stage,
            node,
        )
        return np.arange(first, first + count, dtype=np.int64)

    def _append_cols(
        self,
        cost: np.ndarray,
        lower: np.ndarray,
        upper: np.ndarray,
        integer: np.ndarray,
        stage: np.ndarray,
        node: np.ndarray,
    ) -> None:
        self.cost.append(cost)
        self.lower.append(lower)
        self.upper.append(upper)
        self.integer.append(integer)
        self.stages.append(np.asarray(stage, dtype=np.int64))
        self.nodes.append(np.asarray(node, dtype=np.int64))
        self.ncols += len(cost)

    def cols(self, fam: Family, t: np.ndarray, i: np.ndarray) -> np.ndarray:
        """Columns of decisions ``(t[k], i[k])``, -1 where one is a constant (0, or 1 for ``R[t,t]``)."""
        idx = self.index.get(fam)
        return np.full(np.shape(t), -1, dtype=np.int64) if idx is None else idx[t, i]

    # --- rows ----------------------------------------------------------------------------------
    def add_rows(
        self, key: np.ndarray, terms: list[Terms], lo: np.ndarray | float, hi: np.ndarray | float
    ) -> np.ndarray:
        """Rows ``lo <= sum coef * column <= hi``, one per entry of ``key`` (and of ``lo`` and ``hi``,
        or one for all), appended in ``key`` order (stable); returns each entry's row number.

        ``terms`` lists ``(row, column, coef)``: arrays of row positions (into ``key``), columns and
        coefficients (or one for all); within a row, terms keep the order of this list.
        """
        count = len(key)
        first = self.nrows
        order = np.argsort(key, kind="stable")
        number = np.empty(count, dtype=np.int64)
        number[order] = np.arange(first, first + count)
        if terms:
            # Sorted by row here, where the rows are one block, so finish() only joins the blocks.
            row = np.concatenate([number[rows] for rows, _, _ in terms])
            sort = np.argsort(row, kind="stable")
            self.term_rows.append(row[sort])
            self.term_cols.append(np.concatenate([np.asarray(cols, dtype=np.int64) for _, cols, _ in terms])[sort])
            values = [np.broadcast_to(np.asarray(coef, dtype=float), (len(rows),)) for rows, _, coef in terms]
            self.term_vals.append(np.concatenate(values)[sort])
        self.row_lo.append(np.broadcast_to(np.asarray(lo, dtype=float), (count,))[order])
        self.row_hi.append(np.broadcast_to(np.asarray(hi, dtype=float), (count,))[order])
        self.nrows += count
        return number

    def finish(self) -> MilpModel:
        values = _joined(self.term_vals, float)
        costs = _joined(self.cost, float)
        if not (np.isfinite(values).all() and np.isfinite(costs).all()):
            raise SolveError(
                f"{self.p.profile.source or self.p.profile.key}: the device figures make some costs too large or "
                "too small to represent (check flop_per_s, flop_per_j and the storage figures)"
            )
        counts = np.bincount(_joined(self.term_rows, np.int64), minlength=self.nrows)
        row_start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        offset = float(np.asarray(self.p.costs.compute_j).sum()) * self.energy_scale
        return MilpModel(
            problem=self.p,
            cost=costs,
            col_lower=_joined(self.lower, float),
            col_upper=_joined(self.upper, float),
            is_integer=_joined(self.integer, bool),
            row_start=row_start,
            col_index=_joined(self.term_cols, np.int64),
            value=values,
            row_lower=_joined(self.row_lo, float),
            row_upper=_joined(self.row_hi, float),
            index=self.index,
            objective_offset=offset,
            objective_scale=self.energy_scale,
            build_s=time.perf_counter() - self.started,
            col_stage=_joined(self.stages, np.int64),
            col_node=_joined(self.nodes, np.int64),
            free_cols=self.free_cols,
            level_rows=self.level_rows,
        )


def _joined(blocks: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(blocks).astype(dtype, copy=False) if blocks else np.zeros(0, dtype=dtype)
