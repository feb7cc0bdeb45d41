"""The literal POET MILP of FORMULATION §4, built in PuLP: the baseline, not the product.

Every family has all ``T*T`` variables and the frontier is imposed by constraints, as the reference
implementation does. It exists so tests can prove the reduced model (``milp_model``) finds the same
optimum, and so the benchmark can measure the reduced model against it on the same machine.
Do not use it to plan: it is slow by construction.
"""

from __future__ import annotations

import time

import numpy as np
import pulp

from poet_gui.core.schedule.plan import Decisions, Plan, SolveStatus, decisions_energy_j
from poet_gui.core.schedule.problem import Problem
from poet_gui.core.solve.highs_backend import INTEGRALITY_TOLERANCE, use_threads
from poet_gui.core.solve.milp import Solver, SolverOptions
from poet_gui.core.solve.milp_model import OBJECTIVE_UNITS, RUNTIME_UNITS


def solve_plain(problem: Problem, options: SolverOptions = SolverOptions()) -> tuple[Plan, dict[str, float]]:
    """Build and solve the literal model; return the plan and ``{variables, constraints, build_s}``."""
    started = time.perf_counter()
    prob, v = _build(problem)
    build_s = time.perf_counter() - started
    if options.solver is Solver.HIGHS:
        use_threads(options.threads)  # this thread's HiGHS scheduler may be one of ours, for another count
        solver = pulp.HiGHS(
            msg=False,
            timeLimit=options.time_limit_s,
            gapRel=options.rel_gap,
            threads=options.threads,
            mip_feasibility_tolerance=INTEGRALITY_TOLERANCE,  # the same HiGHS settings as ours
        )
    else:
        solver = pulp.PULP_CBC_CMD(
            msg=False, timeLimit=options.time_limit_s, gapRel=options.rel_gap, threads=options.threads
        )
    prob.solve(solver)
    stats = {"variables": len(prob.variables()), "constraints": len(prob.constraints), "build_s": build_s}
    solve_s = time.perf_counter() - started
    status = {
        pulp.LpSolutionOptimal: SolveStatus.OPTIMAL,
        pulp.LpSolutionIntegerFeasible: SolveStatus.FEASIBLE,
        pulp.LpSolutionInfeasible: SolveStatus.INFEASIBLE,
    }.get(prob.sol_status, SolveStatus.TIME_LIMIT)
    if status not in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE):
        return Plan(problem, status, f"plain-{options.solver.value}", None, solve_s=solve_s), stats
    n = len(problem.graph)

    def mat(name: str) -> np.ndarray:
        return np.array([[(v[name][t][i].varValue or 0) > 0.5 for i in range(n)] for t in range(n)])

    d = Decisions.of(mat("R"), mat("SR"), mat("SS"), mat("IN"), mat("OUT"))
    energy = sum(decisions_energy_j(problem, d))
    return Plan(problem, status, f"plain-{options.solver.value}", d, energy_j=energy, solve_s=solve_s), stats


def _build(problem: Problem) -> tuple[pulp.LpProblem, dict]:
    g, c, sw = problem.graph, problem.costs, problem.switches
    n = len(g)
    m = np.asarray(c.ram_bytes, dtype=float)
    escale = OBJECTIVE_UNITS / problem.plain_energy_j
    rscale = RUNTIME_UNITS / problem.plain_runtime_s
    rng = range(n)
    v = {
        name: [[pulp.LpVariable(f"{name}_{t}_{i}", cat=pulp.LpBinary) for i in rng] for t in rng]
        for name in ("R", "SR", "SS", "IN", "OUT")
    }
    R, SR, SS, IN, OUT = (v[k] for k in ("R", "SR", "SS", "IN", "OUT"))
    edges = list(g.edges)
    FREE = {(t, e): pulp.LpVariable(f"FREE_{t}_{e[0]}_{e[1]}", cat=pulp.LpBinary) for t in rng for e in edges}
    U = [[pulp.LpVariable(f"U_{t}_{k}", lowBound=0) for k in rng] for t in rng]
    prob = pulp.LpProblem("poet_plain", pulp.LpMinimize)
    prob += pulp.lpSum(
        R[t][i] * c.compute_j[i] * escale + IN[t][i] * c.pagein_j[i] * escale + OUT[t][i] * c.pageout_j[i] * escale
        for t in rng
        for i in rng
    )
    for t in rng:
        prob += R[t][t] == 1
        for i in rng:
            if i > t:
                prob += R[t][i] == 0
                prob += IN[t][i] == 0
                prob += OUT[t][i] == 0
            if i >= t:
                prob += SR[t][i] == 0
                prob += SS[t][i] == 0
            if not sw.paging:
                prob += IN[t][i] == 0
                prob += OUT[t][i] == 0
                prob += SS[t][i] == 0
            if not sw.remat and i != t:
                prob += R[t][i] == 0
    for t in rng:
        for u, w in edges:
            prob += R[t][w] <= R[t][u] + SR[t][u]
    for t in range(n - 1):
        for i in rng:
            prob += SR[t + 1][i] <= SR[t][i] + R[t][i] + IN[t][i]
            prob += SS[t + 1][i] <= SS[t][i] + OUT[t][i]
    for t in rng:
        for i in rng:
            prob += IN[t][i] <= SS[t][i]
            prob += OUT[t][i] <= SR[t][i]
    budget = problem.activation_budget_bytes
    for t in rng:
        prob += U[t][0] == R[t][0] * m[0] + pulp.lpSum(SR[t][i] * m[i] for i in rng)
        for k in range(n - 1):
            prob += U[t][k + 1] == U[t][k] + R[t][k + 1] * m[k + 1] - pulp.lpSum(
                m[i] * FREE[t, (i, kk)] for i, kk in edges if kk == k
            )
        for k in rng:
            prob += U[t][k] <= budget
        for i, k in edges:
            terms = [1 - R[t][k]] + ([SR[t + 1][i]] if t + 1 < n else [])
            terms += [R[t][j] for j in g.successors[i] if j > k]
            h = pulp.lpSum(terms)
            prob += 1 - FREE[t, (i, k)] <= h
            prob += h <= len(terms) * (1 - FREE[t, (i, k)])
    runtime = pulp.lpSum(R[t][i] * c.runtime_s[i] * rscale for t in rng for i in rng)
    if sw.count_paging_time:
        runtime += pulp.lpSum(
            IN[t][i] * c.pagein_s[i] * rscale + OUT[t][i] * c.pageout_s[i] * rscale for t in rng for i in rng
        )
    prob += runtime <= problem.runtime_factor * RUNTIME_UNITS
    return prob, v
