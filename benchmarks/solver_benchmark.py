"""Benchmark: our planner against a plain implementation of FORMULATION §4, same backend, same run.

    python3 benchmarks/solver_benchmark.py                 # full grid (hours: plain model is slow)
    python3 benchmarks/solver_benchmark.py --quick         # a representative subset (minutes)
    python3 benchmarks/solver_benchmark.py --quick --out benchmarks/RESULTS.md

For each case (zoo model × device × RAM budget as a share of the plain peak × runtime factor) it runs
``planner.plan_problem`` (heuristic start, reduced MILP, verification) and ``milp_plain.solve_plain``
(the literal model in PuLP) with HiGHS, and prints variables, constraints, build and solve seconds,
status, energy, gap and the speed ratio plain/ours. The median ratio is over cases where both proved
optimality. Figures are ratios measured in the same process, never absolute claims.
"""

from __future__ import annotations

import argparse
import itertools
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

from poet_gui.core.atomic import write_text_atomic
from poet_gui.core.milp import SolverOptions
from poet_gui.core.milp_model import build_model as build_milp
from poet_gui.core.milp_plain import solve_plain
from poet_gui.core.planner import plan_problem
from poet_gui.core.problem import make_problem
from poet_gui.core.profiles import load_profile
from poet_gui.core.reference_points import reference_points_of
from poet_gui.core.zoo import build_model, list_models

FULL = {
    "models": [m.name for m in list_models()],
    "devices": ["m4", "a72"],
    "fractions": [0.30, 0.50, 0.75],
    "factors": [1.2, 1.5],
}
QUICK = {
    "models": ["linear", "transformer", "vgg16_cifar", "resnet18_cifar"],
    "devices": ["a72"],
    "fractions": [0.50, 0.75],
    "factors": [1.2],
}


@dataclass
class Row:
    case: str
    nodes: int
    ours_vars: int
    ours_rows: int
    ours_build_s: float
    ours_s: float
    ours_status: str
    ours_energy: float | None
    ours_gap: float | None
    plain_vars: int | None = None
    plain_rows: int | None = None
    plain_build_s: float | None = None
    plain_s: float | None = None
    plain_status: str = "skipped"
    plain_energy: float | None = None

    @property
    def ratio(self) -> float | None:
        if self.plain_s is None or self.ours_status != "optimal" or self.plain_status != "optimal":
            return None
        return self.plain_s / max(self.ours_s, 1e-9)

    @property
    def same_energy(self) -> str:
        """Only two proven optima must agree; time-limited incumbents are compared by the energy columns."""
        if self.ours_status != "optimal" or self.plain_status != "optimal":
            return ""
        assert self.ours_energy is not None and self.plain_energy is not None
        return "yes" if abs(self.ours_energy - self.plain_energy) <= 1e-6 * self.plain_energy else "NO"


def run_case(model: str, device: str, fraction: float, factor: float, args: argparse.Namespace) -> Row:
    graph = build_model(model)
    profile = load_profile(device)
    ref = reference_points_of(graph, profile)
    budget = max(round(ref.plain_peak_ram_bytes * fraction), ref.min_ram_bytes)
    problem = make_problem(graph, profile, ram_budget_bytes=budget, runtime_factor=factor)
    options = SolverOptions(time_limit_s=args.time_limit, rel_gap=1e-8)
    milp = build_milp(problem)
    started = time.perf_counter()
    result = plan_problem(problem, options)
    ours_s = time.perf_counter() - started
    plan = result.plan
    row = Row(
        case=f"{model}/{device}/{fraction:.0%}/{factor}x",
        nodes=len(graph),
        ours_vars=milp.num_cols,
        ours_rows=milp.num_rows,
        ours_build_s=milp.build_s,
        ours_s=ours_s,
        ours_status=plan.status.value,
        ours_energy=None if result.sim is None else result.sim.energy_j,
        ours_gap=plan.gap,
    )
    if len(graph) <= args.plain_max_nodes:
        started = time.perf_counter()
        plain, stats = solve_plain(problem, options)
        row.plain_s = time.perf_counter() - started
        row.plain_vars, row.plain_rows = int(stats["variables"]), int(stats["constraints"])
        row.plain_build_s = stats["build_s"]
        row.plain_status = plain.status.value
        row.plain_energy = plain.energy_j
    else:
        row.plain_status = f"skipped (> {args.plain_max_nodes} nodes)"
    return row


def fmt(v: float | None, spec: str) -> str:
    return "" if v is None else format(v, spec)


def render(rows: list[Row], args: argparse.Namespace, grid: dict) -> str:
    ratios = [r.ratio for r in rows if r.ratio is not None]
    head = [
        "# Solver benchmark",
        "",
        f"Command: `python3 benchmarks/solver_benchmark.py {' '.join(sys.argv[1:])}`  ",
        f"Machine: {platform.machine()}, {platform.processor() or 'unknown CPU'}, "
        f"{__import__('os').cpu_count()} cores; Python {platform.python_version()}; "
        f"highspy {version('highspy')}, PuLP {version('pulp')}, numpy {version('numpy')}  ",
        f"Grid: models {grid['models']}, devices {grid['devices']}, budgets {grid['fractions']} of plain peak, "
        f"runtime factors {grid['factors']}; time limit {args.time_limit:g} s per solve, gap 1e-8, 1 thread.  ",
        "ours = planner (plain-schedule shortcut, heuristic start, reduced MILP, simulator check); "
        "plain = literal FORMULATION §4 model in PuLP; both HiGHS in this process.",
        "",
        f"**Median speed-up (plain s / ours s) over {len(ratios)} cases both proved optimal: "
        f"{statistics.median(ratios):.1f}x**"
        if ratios
        else "**No case was proved optimal by both.**",
        "",
        "| case | nodes | vars ours / plain | rows ours / plain | build s ours / plain | total s ours / plain |"
        " status ours / plain | energy J ours / plain | same optimum | gap ours | speed-up |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    body = [
        f"| {r.case} | {r.nodes} | {r.ours_vars:,} / {fmt(r.plain_vars, ',')} | {r.ours_rows:,} / "
        f"{fmt(r.plain_rows, ',')} | {r.ours_build_s:.2f} / {fmt(r.plain_build_s, '.2f')} | {r.ours_s:.2f} / "
        f"{fmt(r.plain_s, '.2f')} | {r.ours_status} / {r.plain_status} | {fmt(r.ours_energy, '.8g')} / "
        f"{fmt(r.plain_energy, '.8g')} | {r.same_energy} | {fmt(r.ours_gap, '.4%')} | {fmt(r.ratio, '.1f')} |"
        for r in rows
    ]
    return "\n".join(head + body) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a representative subset of the grid")
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds per solve (default 60)")
    parser.add_argument(
        "--plain-max-nodes",
        type=int,
        default=140,
        help="skip the plain model above this many nodes (its build alone takes minutes)",
    )
    parser.add_argument("--out", type=Path, help="also write the table (Markdown) to this file")
    args = parser.parse_args()
    grid = QUICK if args.quick else FULL
    rows = []
    for model, device, fraction, factor in itertools.product(*grid.values()):
        row = run_case(model, device, fraction, factor, args)
        rows.append(row)
        print(f"{row.case:<34} ours {row.ours_status:<16} {row.ours_s:7.2f} s   plain {row.plain_status:<16} "
              f"{fmt(row.plain_s, '7.2f'):>7} s   speed-up {fmt(row.ratio, '.1f')}", flush=True)  # fmt: skip
    text = render(rows, args, grid)
    print(text)
    if args.out:
        write_text_atomic(args.out, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
