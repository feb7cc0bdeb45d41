"""The planner on real-model graphs (issue 13): imported ONNX with an autodiff backward, on m4 and a72.

    python benchmarks/real_benchmark.py --rows benchmarks/real_rows.jsonl --out benchmarks/REAL.md
    python benchmarks/real_benchmark.py --quick --time-limit 30          # one graph per family

Every graph of :mod:`real_graphs` is written to a temporary folder, imported through the normal path
(:func:`load_onnx_graph`) and planned at runtime 1.5x and at RAM budgets of "headroom" h = 0.1, 0.2
and 0.5: least RAM + h x (plain peak - least RAM), the least RAM being what any plan needs.  Each row
gives the first verified plan's time, the final status, gap and proven bound, the energy over the
plain pass, the best heuristic's energy over the plain pass and, with ``--plain-max-nodes``, the
literal FORMULATION §4 model's result at the same time limit.  One solve at a time: the machine's
other core is left to the OS so the figures are not a measure of contention.  ``--rows`` makes a run
resumable; it is not part of the test suite.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

from _report import append_row, load_rows, publish, shown_arguments
from real_graphs import CASES, QUICK, write_cases

from poet_gui.core.device.profiles import load_profile
from poet_gui.core.model.onnx_import import load_onnx_graph
from poet_gui.core.schedule.plan import OPTIMAL_GAP
from poet_gui.core.schedule.problem import make_problem
from poet_gui.core.schedule.reference_points import reference_points_of
from poet_gui.core.solve.heuristics import best_heuristic_plan
from poet_gui.core.solve.milp import SolverOptions, default_threads
from poet_gui.core.solve.milp_plain import solve_plain
from poet_gui.core.solve.planner import VerifiedPlan, plan_problem

PROFILES = ("m4", "a72")
HEADROOMS = (0.1, 0.2, 0.5)
RUNTIME_FACTOR = 1.5


@dataclass
class Row:
    case: str
    nodes: int
    budget_bytes: int
    first_plan_s: float | None
    total_s: float
    status: str
    gap: float | None
    bound_ratio: float | None
    energy_ratio: float | None
    heuristic_ratio: float | None
    plain_status: str = "skipped"
    plain_ratio: float | None = None


def run_case(path: Path, device: str, headroom: float, args: argparse.Namespace) -> Row:
    started = time.perf_counter()
    graph = load_onnx_graph(path).graph
    profile = load_profile(device)
    ref = reference_points_of(graph, profile)
    budget = round(ref.min_ram_bytes + headroom * (ref.plain_peak_ram_bytes - ref.min_ram_bytes))
    problem = make_problem(graph, profile, ram_budget_bytes=budget, runtime_factor=RUNTIME_FACTOR)
    options = SolverOptions(time_limit_s=args.time_limit, rel_gap=OPTIMAL_GAP, threads=args.threads)
    first: list[float] = []

    def on_interim(_quick: VerifiedPlan) -> None:
        first.append(time.perf_counter() - started)

    result = plan_problem(problem, options, on_interim=on_interim)
    total_s = time.perf_counter() - started  # import and build included: the wall time a user waits
    plan, plain_j = result.plan, ref.plain_energy_j
    heuristic = best_heuristic_plan(problem)
    row = Row(
        case=f"{path.stem}/{device}/h{headroom:g}",
        nodes=len(graph),
        budget_bytes=budget,
        first_plan_s=(first[0] if first else (total_s if result.sim is not None else None)),
        total_s=total_s,
        status=plan.status.value,
        gap=plan.gap,
        bound_ratio=None if plan.bound_j is None else plan.bound_j / plain_j,
        energy_ratio=None if result.sim is None else result.sim.energy_j / plain_j,
        heuristic_ratio=None if heuristic is None or heuristic.energy_j is None else heuristic.energy_j / plain_j,
    )
    if len(graph) <= args.plain_max_nodes:
        literal, _stats = solve_plain(problem, options)
        row.plain_status = literal.status.value
        row.plain_ratio = None if literal.energy_j is None else literal.energy_j / plain_j
    return row


def _cell(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def render(rows: list[Row], args: argparse.Namespace) -> str:
    lines = [
        "# The planner on real-model graphs",
        "",
        f"`python benchmarks/real_benchmark.py {shown_arguments()}` on {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, HiGHS {version('highspy')}; "
        f"one solve at a time on {args.threads} thread{'s' if args.threads > 1 else ''}, "
        f"time limit {args.time_limit:g} s, runtime {RUNTIME_FACTOR:g}x; "
        "headroom h: budget = least RAM + h x (plain peak - least RAM). Energies are over the plain pass. "
        "`first` and `total` are wall seconds from the start of the import.",
        "",
        *([args.note, ""] if args.note else []),
        "| case | nodes | budget | first s | total s | status | gap | bound | energy | best heuristic "
        "| literal model |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        literal = r.plain_status if r.plain_ratio is None else f"{r.plain_status} {r.plain_ratio:.3f}x"
        lines.append(
            f"| {r.case} | {r.nodes} | {r.budget_bytes:,} B | {_cell(r.first_plan_s, '.2f')} | {r.total_s:.1f} | "
            f"{r.status} | {_cell(None if r.gap is None else 100 * r.gap, '.2f')}{'' if r.gap is None else ' %'} | "
            f"{_cell(r.bound_ratio, '.3f')} | {_cell(r.energy_ratio, '.3f')} | {_cell(r.heuristic_ratio, '.3f')} | "
            f"{literal} |"
        )
    within_1 = [r for r in rows if r.nodes <= 300 and r.gap is not None]
    lines += [
        "",
        f"Graphs up to 300 nodes within 1 % of the bound: {sum(r.gap <= 0.01 for r in within_1)} of "
        f"{len(within_1)}; all graphs within 5 %: {sum(r.gap is not None and r.gap <= 0.05 for r in rows)} "
        f"of {len(rows)}; time limit overrun beyond 10 %: "
        f"{sum(r.total_s > 1.1 * args.time_limit for r in rows)} cases.",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one graph per family")
    parser.add_argument("--cases", help="comma-separated case names (default: all, or --quick's)")
    parser.add_argument("--profiles", default=",".join(PROFILES), help="comma-separated profiles (default m4,a72)")
    parser.add_argument("--time-limit", type=float, default=30.0, help="seconds per solve (default 30)")
    parser.add_argument(
        "--threads", type=int, default=default_threads(), help="solver threads (default: the solver's default)"
    )
    parser.add_argument(
        "--plain-max-nodes", type=int, default=0, help="also run the literal model on graphs up to this size"
    )
    parser.add_argument("--rows", type=Path, help="append each case as a JSON line here; skip cases already in it")
    parser.add_argument("--out", type=Path, help="also write the table (Markdown) to this file")
    parser.add_argument("--note", default="", help="a paragraph (Markdown) to print under the header")
    args = parser.parse_args()
    names = tuple(args.cases.split(",")) if args.cases else (QUICK if args.quick else tuple(c.name for c in CASES))
    done = load_rows(args.rows, Row)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as folder:
        paths = write_cases(Path(folder), names)
        for path, device, headroom in itertools.product(paths, args.profiles.split(","), HEADROOMS):
            key = f"{path.stem}/{device}/h{headroom:g}"
            row = done.get(key)
            if row is None:
                row = run_case(path, device, headroom, args)
                append_row(args.rows, row)
            rows.append(row)
            print(f"{key}: {row.status}, gap {row.gap}, {row.total_s:.1f} s", file=sys.stderr)
    publish(render(rows, args), args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
