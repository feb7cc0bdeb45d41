"""How good is the windowed approximation? Measured where the exact MILP gives a reference.

    python3 benchmarks/approximation_quality.py --exact benchmarks/rows.jsonl --out benchmarks/APPROXIMATION.md

For every case of the solver benchmark's rows file (``solver_benchmark.py --rows``) it solves the
same problem with ``--method windowed`` (same time limit) and compares with the exact run recorded
there: energy above the exact plan, energy above the exact run's *proven bound* (an upper bound on
the approximation's true distance from the optimum), and seconds. Cases already in ``--rows`` are
skipped, so a long run can be resumed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from _report import append_row, load_rows, publish, shown_arguments

from poet_gui.core.device.profiles import load_profile
from poet_gui.core.model.zoo import build_model
from poet_gui.core.schedule.problem import make_problem
from poet_gui.core.schedule.reference_points import reference_points_of
from poet_gui.core.solve.milp import Method, SolverOptions
from poet_gui.core.solve.planner import plan_problem


@dataclass
class Comparison:
    case: str
    exact_status: str
    exact_energy: float
    exact_bound: float
    exact_s: float
    windowed_energy: float
    windowed_s: float

    @property
    def above_exact(self) -> float:
        return self.windowed_energy / self.exact_energy - 1

    @property
    def above_bound(self) -> float:
        return self.windowed_energy / self.exact_bound - 1


def solve_windowed(case: str, time_limit: float) -> tuple[float, float]:
    model, device, fraction, factor = case.split("/")
    graph = build_model(model)
    profile = load_profile(device)
    ref = reference_points_of(graph, profile)
    budget = max(round(ref.plain_peak_ram_bytes * float(fraction.rstrip("%")) / 100), ref.min_ram_bytes)
    problem = make_problem(graph, profile, ram_budget_bytes=budget, runtime_factor=float(factor.rstrip("x")))
    started = time.perf_counter()
    result = plan_problem(problem, SolverOptions(time_limit_s=time_limit, method=Method.WINDOWED))
    if result.sim is None:
        raise SystemExit(f"{case}: the windowed method returned no plan ({result.plan.status.value})")
    return result.sim.energy_j, time.perf_counter() - started


def render(rows: list[Comparison], time_limit: float, note: str = "") -> str:
    above = [r.above_exact for r in rows]
    proven = [r for r in rows if r.exact_status == "optimal"]
    head = [
        "# Windowed approximation: measured quality",
        "",
        f"Command: `python3 benchmarks/approximation_quality.py {shown_arguments()}`  ",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores; Python {platform.python_version()}; time limit "
        f"{time_limit:g} s per solve (the windowed sweep stops earlier once a whole pass improves nothing).  ",
        "exact = the solver benchmark's run of the exact MILP on the same case; bound = its proven lower bound, "
        "so 'above bound' is an upper bound on how far the approximation is from the true optimum.",
        "",
        *([note, ""] if note else []),
        f"**{len(rows)} cases; energy above the exact plan: median {statistics.median(above):.4%}, worst "
        f"{max(above):.4%}; above the exact optimum on the {len(proven)} cases it is proven: worst "
        f"{max((r.above_exact for r in proven), default=0.0):.4%}.**"
        if rows
        else "**No cases.**",
        "",
        "| case | exact status | exact J | exact bound J | exact s | windowed J | windowed s | above exact |"
        " above bound |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    body = [
        f"| {r.case} | {r.exact_status} | {r.exact_energy:.8g} | {r.exact_bound:.8g} | {r.exact_s:.1f} | "
        f"{r.windowed_energy:.8g} | {r.windowed_s:.1f} | {r.above_exact:+.4%} | {r.above_bound:+.4%} |"
        for r in rows
    ]
    return "\n".join(head + body) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exact", type=Path, nargs="+", required=True, help="rows files of solver_benchmark.py")
    parser.add_argument("--models", help="comma-separated models to compare (default: every exact-solved model)")
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds per windowed solve (default 60)")
    parser.add_argument("--rows", type=Path, help="append each comparison here; skip cases already in it")
    parser.add_argument("--out", type=Path, help="also write the table (Markdown) to this file")
    parser.add_argument("--note", default="", help="a paragraph (Markdown) to print under the header")
    args = parser.parse_args()
    wanted = set(args.models.split(",")) if args.models else None
    done = load_rows(args.rows, Comparison)
    rows = []
    for path in args.exact:
        for line in path.read_text().splitlines():
            exact = json.loads(line)
            model = exact["case"].split("/")[0]
            if exact["ours_energy"] is None or exact["ours_strategy"].endswith("windowed"):
                continue  # no exact plan to compare with
            if (wanted and model not in wanted) or exact["ours_strategy"] == "plain":
                continue  # the plain-schedule proof needs no approximation
            c = done.get(exact["case"])
            if c is None:
                energy, seconds = solve_windowed(exact["case"], args.time_limit)
                c = Comparison(
                    case=exact["case"],
                    exact_status=exact["ours_status"],
                    exact_energy=exact["ours_energy"],
                    exact_bound=exact["ours_energy"] * (1 - (exact["ours_gap"] or 0.0)),
                    exact_s=exact["ours_s"],
                    windowed_energy=energy,
                    windowed_s=seconds,
                )
                append_row(args.rows, c)
            rows.append(c)
            print(f"{c.case:<34} windowed {c.windowed_s:6.1f} s  above exact {c.above_exact:+.4%}  "
                  f"above bound {c.above_bound:+.4%}", flush=True)  # fmt: skip
    publish(render(rows, args.time_limit, args.note), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
