"""Command-line interface over the core: ``solve``, ``models``, ``profiles``.

Exit codes: 0 a plan was found (optimal or feasible), 1 no plan (infeasible, no plan in time,
cancelled), 2 bad input (unknown names, malformed files, bad budgets). Every error is one line on
stderr, never a traceback; with ``--json`` stdout holds exactly one JSON object, also for "no plan".
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from poet_gui import __version__
from poet_gui.core.errors import PoetError
from poet_gui.core.graph import TrainingGraph
from poet_gui.core.graph_io import load_graph_file
from poet_gui.core.milp import Solver, SolverOptions
from poet_gui.core.plan import SolveStatus
from poet_gui.core.planner import VerifiedPlan, plan_problem
from poet_gui.core.problem import Switches, make_problem
from poet_gui.core.profiles import list_profiles, load_profile
from poet_gui.core.reference_points import reference_points
from poet_gui.core.units import format_bytes, format_energy, format_seconds, parse_bytes
from poet_gui.core.zoo import build_model, list_models

EXIT_PLAN, EXIT_NO_PLAN, EXIT_BAD_INPUT = 0, 1, 2
SUBCOMMANDS = ("solve", "models", "profiles")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line naming the program, not usage text plus a line."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see --help)\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="poet", description="POET Studio: plan energy-minimal on-device training.")
    parser.add_argument("--version", action="version", version=f"POET Studio {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    solve = sub.add_parser("solve", help="plan one model on one device under RAM and runtime budgets")
    model = solve.add_mutually_exclusive_group(required=True)
    model.add_argument("--model", help="a zoo model (see `models`)")
    model.add_argument("--graph", type=Path, help="a graph file in the reference JSON format")
    solve.add_argument("--batch-size", type=_positive_int, help="zoo models: batch size (default 1)")
    solve.add_argument("--resolution", type=_positive_int, help="zoo image models: input side in pixels")
    solve.add_argument("--seq-len", type=_positive_int, help="zoo transformer/bert: sequence length")
    solve.add_argument("--profile", required=True, help="a profile key (see `profiles`) or a .toml file")
    solve.add_argument(
        "--ram-budget",
        required=True,
        metavar="BYTES",
        help="RAM budget: bytes (5000), with a unit (3.5MiB, 2MB) or %% of the plain peak (50%%)",
    )
    solve.add_argument(
        "--runtime-budget",
        required=True,
        type=_positive_float,
        metavar="FACTOR",
        help="runtime budget as a multiple of one plain forward+backward pass (1.0 = no overhead)",
    )
    solve.add_argument("--no-paging", action="store_true", help="never page tensors to storage")
    solve.add_argument("--no-remat", action="store_true", help="never recompute tensors")
    solve.add_argument(
        "--count-paging-time",
        action="store_true",
        help="charge paging time to the runtime budget (the reference does not)",
    )
    solve.add_argument(
        "--budget-includes-params",
        action="store_true",
        help="the RAM budget is the whole device RAM, parameters included",
    )
    solve.add_argument("--solver", choices=[s.value for s in Solver], default=Solver.HIGHS.value)
    solve.add_argument(
        "--time-limit",
        type=_positive_float,
        default=60.0,
        metavar="S",
        help="solver time limit in seconds (default 60)",
    )
    solve.add_argument(
        "--gap",
        type=_positive_float,
        default=1e-8,
        help="relative optimality gap at which the solver stops (default 1e-8)",
    )
    solve.add_argument("--threads", type=_positive_int, default=1, help="solver threads (default 1)")
    solve.add_argument("--json", action="store_true", help="print one JSON object instead of a summary")
    solve.add_argument("--schedule", action="store_true", help="also print the operation list")

    sub.add_parser("models", help="list the built-in models with their size")
    profiles = sub.add_parser("profiles", help="list the device profiles with their figures")
    profiles.add_argument("--dir", type=Path, help="profile directory (default: the app's profiles/)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code (see the module docstring)."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "solve":
            return _solve(args)
        if args.command == "models":
            return _models()
        return _profiles(args.dir)
    except PoetError as exc:
        print(f"poet: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("poet: interrupted", file=sys.stderr)
        return 130


def _load_graph(args: argparse.Namespace) -> TrainingGraph:
    if args.graph is not None:
        given = [f"--{n.replace('_', '-')}" for n in ("batch_size", "resolution", "seq_len") if getattr(args, n)]
        if given:
            raise PoetError(f"{', '.join(given)} apply to zoo models (--model), not to --graph files")
        return load_graph_file(args.graph)
    params = {n: getattr(args, n) for n in ("batch_size", "resolution", "seq_len") if getattr(args, n)}
    return build_model(args.model, **params)


def _solve(args: argparse.Namespace) -> int:
    graph = _load_graph(args)
    profile = load_profile(args.profile)
    switches = Switches(
        paging=not args.no_paging,
        remat=not args.no_remat,
        count_paging_time=args.count_paging_time,
        budget_includes_params=args.budget_includes_params,
    )
    # A budget given as "50%" is relative to the plain peak, which does not depend on the budget.
    probe = make_problem(graph, profile, ram_budget_bytes=1, runtime_factor=args.runtime_budget, switches=switches)
    plain_peak = reference_points(probe).plain_peak_ram_bytes
    budget = parse_bytes(args.ram_budget, what="--ram-budget", percent_of=plain_peak)
    problem = make_problem(
        graph, profile, ram_budget_bytes=budget, runtime_factor=args.runtime_budget, switches=switches
    )
    options = SolverOptions(
        solver=Solver(args.solver), time_limit_s=args.time_limit, rel_gap=args.gap, threads=args.threads
    )
    result = plan_problem(problem, options)
    if args.json:
        print(json.dumps(summary_dict(result)))
    else:
        print(_summary_text(result))
        if args.schedule and result.sim is not None:
            print(_schedule_text(result))
    return EXIT_PLAN if result.plan.has_schedule else EXIT_NO_PLAN


def summary_dict(result: VerifiedPlan) -> dict[str, object]:
    """The ``--json`` object: figures in SI units; plan figures are None when there is no plan."""
    plan, sim, ref = result.plan, result.sim, result.reference
    p = plan.problem
    return {
        "status": plan.status.value,
        "message": plan.message,
        "model": p.graph.name,
        "nodes": len(p.graph),
        "profile": p.profile.key,
        "ram_budget_bytes": p.ram_budget_bytes,
        "runtime_factor": p.runtime_factor,
        "paging": p.switches.paging,
        "remat": p.switches.remat,
        "count_paging_time": p.switches.count_paging_time,
        "budget_includes_params": p.switches.budget_includes_params,
        "solver": plan.strategy,
        "energy_j": sim.energy_j if sim else None,
        "compute_j": sim.compute_j if sim else None,
        "pagein_j": sim.pagein_j if sim else None,
        "pageout_j": sim.pageout_j if sim else None,
        "runtime_s": sim.compute_s if sim else None,
        "paging_s": sim.paging_s if sim else None,
        "peak_ram_bytes": sim.peak_ram_bytes if sim else None,
        "recomputes": sim.recomputes if sim else None,
        "pageins": sim.pageins if sim else None,
        "pageouts": sim.pageouts if sim else None,
        "solve_s": plan.solve_s,
        "gap": plan.gap,
        "bound_j": plan.bound_j,
        "verified": result.is_verified,
        "min_ram_bytes": ref.min_ram_bytes,
        "plain_energy_j": ref.plain_energy_j,
        "plain_runtime_s": ref.plain_runtime_s,
        "plain_peak_ram_bytes": ref.plain_peak_ram_bytes,
        "param_bytes": ref.param_bytes,
    }


def _status_line(result: VerifiedPlan) -> str:
    plan = result.plan
    if plan.status is SolveStatus.OPTIMAL:
        return f"optimal (proven), {plan.strategy}, {plan.solve_s:.2f} s"
    if plan.status is SolveStatus.FEASIBLE:
        gap = "unknown gap" if plan.gap is None else f"within {plan.gap:.2%} of optimal"
        bound = "" if plan.bound_j is None else f", bound {format_energy(plan.bound_j)}"
        return f"feasible, {gap}{bound} (time limit reached), {plan.strategy}, {plan.solve_s:.2f} s"
    return f"{plan.status.value}: {plan.message}"


def _summary_text(result: VerifiedPlan) -> str:
    plan, sim, ref = result.plan, result.sim, result.reference
    p = plan.problem
    lines = [
        f"model    {p.graph.name}: {len(p.graph)} nodes, parameters {format_bytes(ref.param_bytes)}",
        f"device   {p.profile.key}: {p.profile.name}",
        f"budgets  RAM {format_bytes(p.ram_budget_bytes)} ({p.ram_budget_bytes / ref.plain_peak_ram_bytes:.0%} of "
        f"plain peak), runtime {p.runtime_factor:g}x plain pass; paging {'on' if p.switches.paging else 'off'}, "
        f"recomputation {'on' if p.switches.remat else 'off'}",
        f"plain    energy {format_energy(ref.plain_energy_j)}, runtime {format_seconds(ref.plain_runtime_s)}, "
        f"peak RAM {format_bytes(ref.plain_peak_ram_bytes)}; "
        f"least RAM any plan needs {format_bytes(ref.min_ram_bytes)}",
        f"status   {_status_line(result)}",
    ]
    if sim is not None:
        lines += [
            f"energy   {format_energy(sim.energy_j)} (+{sim.energy_j / ref.plain_energy_j - 1:.3%} over plain): "
            f"compute {format_energy(sim.compute_j)}, page-in {format_energy(sim.pagein_j)}, "
            f"page-out {format_energy(sim.pageout_j)}",
            f"runtime  {format_seconds(sim.compute_s)} compute + {format_seconds(sim.paging_s)} paging",
            f"memory   peak {format_bytes(sim.peak_ram_bytes)} of {format_bytes(sim.budget_bytes)} budget",
            f"actions  {sim.recomputes} recomputes, {sim.pageins} page-ins, {sim.pageouts} page-outs; "
            "verified by the simulator",
        ]
    return "\n".join(lines)


def _schedule_text(result: VerifiedPlan) -> str:
    assert result.sim is not None
    nodes = result.plan.problem.graph.nodes
    lines = ["", "stage  action     node"]
    for op in result.sim.operations:
        label = "recompute" if op.is_recompute else op.action.value
        lines.append(f"{op.stage:5d}  {label:<9}  {nodes[op.node].name}")
    return "\n".join(lines)


def _models() -> int:
    print(f"{'model':<16} {'nodes':>5} {'params':>12}  parameters (defaults)  description")
    for info in list_models():
        g = build_model(info.name)
        params = ", ".join(f"{k}={v}" for k, v in info.defaults.items())
        print(f"{info.name:<16} {len(g):>5} {g.total_params:>12,.0f}  {params:<21}  {info.description}")
    return EXIT_PLAN


def _profiles(directory: Path | None) -> int:
    for entry in list_profiles(directory):
        if entry.profile is None:
            print(f"{entry.key:<11} unusable: {entry.error}")
            continue
        pr = entry.profile
        ram = "" if pr.ram_bytes is None else f", RAM {format_bytes(pr.ram_bytes)}"
        print(
            f"{entry.key:<11} {pr.name}{ram}\n"
            f"{'':<11} compute {pr.compute_flop_per_s:.6g} FLOP/s, {pr.compute_flop_per_j:.6g} FLOP/J, "
            f"{pr.bytes_per_element} B/element\n"
            f"{'':<11} page-in {format_seconds(pr.pagein_latency_s)} + {pr.pagein_bytes_per_s / 1e6:.4g} MB/s, "
            f"page-out {format_seconds(pr.pageout_latency_s)} + {pr.pageout_bytes_per_s / 1e6:.4g} MB/s, "
            f"paging power {pr.paging_power_w:g} W"
        )
    return EXIT_PLAN
