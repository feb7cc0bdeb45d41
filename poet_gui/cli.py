"""Command-line interface over the core: ``solve``, ``verify``, ``sweep``, ``models``, ``profiles``.

Exit codes: 0 a plan was found (optimal or feasible) or a sweep finished, 1 no plan (infeasible, no
plan in time, cancelled), 2 bad input (unknown names, malformed or altered files, bad budgets), and
128 + the signal's number when one stopped it (130 Ctrl-C / SIGINT, 143 SIGTERM, 129 SIGHUP: each
stops the solver processes at once, and a sweep keeps the rows it finished). Every error is one line
on stderr, never a traceback; with ``--json`` stdout holds exactly one JSON object, also for "no
plan".
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TextIO

from poet_gui import __version__
from poet_gui.core.device.profiles import list_profiles, load_profile
from poet_gui.core.device.units import (
    format_bytes,
    format_energy,
    format_factor,
    format_gap,
    format_overhead,
    format_seconds,
    format_si,
    parse_bytes,
)
from poet_gui.core.errors import PoetError
from poet_gui.core.files.plan_io import PlanFile, read_plan, save_plan
from poet_gui.core.files.schedule_export import write_operations_csv
from poet_gui.core.model.graph import TrainingGraph
from poet_gui.core.model.graph_io import load_graph_file
from poet_gui.core.model.onnx_import import load_onnx_graph
from poet_gui.core.model.zoo import build_model, list_models
from poet_gui.core.replay import command as replay_command
from poet_gui.core.schedule.plan import OPTIMAL_GAP, SolveStatus
from poet_gui.core.schedule.problem import Switches, make_problem
from poet_gui.core.schedule.reference_points import ReferencePoints, reference_points_of
from poet_gui.core.solve.milp import (
    EXACT_MAX_COLUMNS,
    MAX_DEFAULT_THREADS,
    Method,
    Solver,
    SolverOptions,
    default_threads,
)
from poet_gui.core.solve.planner import VerifiedPlan
from poet_gui.core.solve.solve_process import solve_with_deadline
from poet_gui.core.sweep.fleet import Executor, FleetModel, done_keys, fleet_tasks, local_executor, run_fleet
from poet_gui.core.sweep.fleet_csv import FleetRow, read_fleet_csv
from poet_gui.core.sweep.tradeoff import SweepPoint, budget_grid

if TYPE_CHECKING:  # only a type here: importing it loads Dask
    from poet_gui.core.sweep.fleet_dask import DaskExecutor

EXIT_PLAN, EXIT_NO_PLAN, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
#: Each subcommand with its one-line help; main.py's own --help lists them below the app's options.
SUBCOMMANDS = {
    "solve": "plan one model on one device under RAM and runtime budgets",
    "verify": "re-check a plan file with the simulator",
    "sweep": "solve a grid of models x devices x RAM budgets x runtime factors, locally or on Dask",
    "replay": replay_command.HELP,
    "calibrate": replay_command.CALIBRATE_HELP,
    "models": "list the built-in models with their size",
    "profiles": "list the device profiles with their figures",
}


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line naming the program, not usage text plus a line."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see --help)\n")


#: The largest size a model dimension may be given (batch, resolution, sequence length, an ONNX --dim):
#: ONNX stores dimensions as int64, and far below that a tensor outgrows what byte counts can hold.
MAX_DIMENSION = 2**31 - 1


def _whole_number(maximum: int) -> Callable[[str], int]:
    """An argparse type: a whole number in 1..``maximum``, refused in one line otherwise."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{_short(text)} is not a whole number") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {_short(text)}")
        if value > maximum:
            raise argparse.ArgumentTypeError(f"must be at most {maximum:,}, got {_short(text)}")
        return value

    return parse


def _short(text: str) -> str:
    """An argument for a message, cut short: a 400-digit number must not fill the terminal."""
    return repr(text) if len(text) <= 40 else repr(text[:37] + "...")


_dimension = _whole_number(MAX_DIMENSION)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def _positive_floats(text: str) -> tuple[float, ...]:
    """A comma-separated list of factors, ascending and without repeats."""
    return tuple(sorted({_positive_float(part.strip()) for part in text.split(",") if part.strip()}))


def _dim_binding(text: str) -> tuple[str, int]:
    """``NAME=SIZE``: a size for one symbolic input dimension of an ONNX model."""
    name, sep, value = text.rpartition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=SIZE (e.g. batch=1), got {text!r}")
    try:
        return name, _dimension(value)
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"{name}: {exc}") from None


def _add_model_arguments(parser: argparse.ArgumentParser) -> None:
    model = parser.add_mutually_exclusive_group(required=True)
    model.add_argument("--model", help="a zoo model (see `models`)")
    model.add_argument("--graph", type=Path, help="a graph file in the reference JSON format")
    model.add_argument("--onnx", type=Path, metavar="FILE", help="an ONNX model (docs/onnx-backward.md)")
    parser.add_argument(
        "--dim",
        type=_dim_binding,
        action="append",
        metavar="NAME=SIZE",
        help="--onnx models: size of a symbolic input dimension (repeat: --dim batch=1 --dim seq=128)",
    )
    parser.add_argument("--batch-size", type=_dimension, help="zoo models: batch size (default 1)")
    parser.add_argument("--resolution", type=_dimension, help="zoo image models: input side in pixels")
    parser.add_argument("--seq-len", type=_dimension, help="zoo transformer/bert: sequence length")
    parser.add_argument("--profile", required=True, help="a profile key (see `profiles`) or a .toml file")


def _add_grid_arguments(parser: argparse.ArgumentParser) -> None:
    """sweep's models and devices: each option repeats or takes a comma-separated list."""
    parser.add_argument("--model", action="append", metavar="NAMES", help="zoo models (see `models`)")
    parser.add_argument("--graph", type=Path, action="append", metavar="FILE", help="graph files (reference JSON)")
    parser.add_argument("--onnx", action="append", metavar="FILES", help="ONNX models (docs/onnx-backward.md)")
    parser.add_argument(
        "--dim", type=_dim_binding, action="append", metavar="NAME=SIZE", help="--onnx models: a symbolic dimension"
    )
    parser.add_argument("--batch-size", type=_dimension, help="zoo models: batch size (default 1)")
    parser.add_argument("--resolution", type=_dimension, help="zoo image models: input side in pixels")
    parser.add_argument("--seq-len", type=_dimension, help="zoo transformer/bert: sequence length")
    parser.add_argument(
        "--profile", action="append", required=True, metavar="KEYS", help="device profiles (keys or .toml files)"
    )


def _add_switch_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-paging", action="store_true", help="never page tensors to storage")
    parser.add_argument("--no-remat", action="store_true", help="never recompute tensors")
    parser.add_argument(
        "--count-paging-time",
        action="store_true",
        help="charge paging time to the runtime budget (the reference does not)",
    )
    parser.add_argument(
        "--budget-includes-params",
        action="store_true",
        help="the RAM budget is the whole device RAM, parameters included",
    )


def _add_solver_arguments(parser: argparse.ArgumentParser, *, per: str, threads: int) -> None:
    parser.add_argument("--solver", choices=[s.value for s in Solver], default=Solver.HIGHS.value)
    parser.add_argument(
        "--time-limit",
        type=_positive_float,
        default=60.0,
        metavar="S",
        help=f"solver time limit in seconds{per} (default 60; the app uses 30, as it re-solves on every budget change)",
    )
    parser.add_argument(
        "--gap",
        type=_positive_float,
        default=OPTIMAL_GAP,
        help=f"relative optimality gap at which the solver stops (default {OPTIMAL_GAP:g}, what counts as optimal)",
    )
    parser.add_argument(
        "--threads",
        type=_whole_number(1024),
        default=threads,
        help=f"solver threads{per} (default {threads}"
        + (f": the cores available, at most {MAX_DEFAULT_THREADS})" if per == "" else ")"),
    )
    parser.add_argument(
        "--method",
        choices=[m.value for m in Method],
        default=Method.AUTO.value,
        help=f"exact MILP, or the windowed approximation (HiGHS only) for models too large to solve exactly "
        f"in time; auto picks windowed above {EXACT_MAX_COLUMNS:,} model columns (default auto)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="poet",
        description="POET Studio: plan energy-minimal on-device training.",
        epilog="Without a subcommand, python main.py opens the app: python main.py --help lists its options.",
    )
    parser.add_argument("--version", action="version", version=f"POET Studio {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    solve = sub.add_parser("solve", help=SUBCOMMANDS["solve"])
    _add_model_arguments(solve)
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
    _add_switch_arguments(solve)
    _add_solver_arguments(solve, per="", threads=default_threads())
    solve.add_argument("--json", action="store_true", help="print one JSON object instead of a summary")
    solve.add_argument("--schedule", action="store_true", help="also print the operation list")
    solve.add_argument("--out", type=Path, metavar="FILE", help="save the plan file (docs/plan-format.md)")
    solve.add_argument("--csv", type=Path, metavar="FILE", help="save the operation list as CSV")

    verify = sub.add_parser("verify", help=SUBCOMMANDS["verify"])
    verify.add_argument("plan", type=Path, help="a plan file written by `solve --out` or the app")
    verify.add_argument("--json", action="store_true", help="print one JSON object instead of a summary")

    sweep = sub.add_parser("sweep", help=SUBCOMMANDS["sweep"])
    _add_grid_arguments(sweep)
    grid = sweep.add_mutually_exclusive_group(required=True)
    grid.add_argument(
        "--budgets",
        metavar="LIST",
        help="comma-separated RAM budgets, each as for solve --ram-budget (30%%,50%%,100%% or 4000,6KiB)",
    )
    grid.add_argument(
        "--points",
        type=_whole_number(10_000),
        metavar="N",
        help="N budgets spaced geometrically from the least RAM any plan needs to the plain peak",
    )
    sweep.add_argument(
        "--runtime-factors",
        type=_positive_floats,
        default=(1.2, 1.5),
        metavar="LIST",
        help="comma-separated runtime budgets, multiples of one plain pass (default 1.2,1.5)",
    )
    _add_switch_arguments(sweep)
    _add_solver_arguments(sweep, per=" per point", threads=1)
    sweep.add_argument(
        "--jobs",
        type=_whole_number(1024),
        default=os.cpu_count() or 1,
        metavar="N",
        help="points solved in parallel, one worker process each (default: the number of CPUs)",
    )
    where = sweep.add_mutually_exclusive_group()
    where.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run the points on this Dask cluster, tcp://HOST:PORT (default: $DASK_SCHEDULER_ADDRESS, if set; "
        'needs pip install -e ".[cluster]")',
    )
    where.add_argument(
        "--dask-local",
        type=_whole_number(1024),
        metavar="N",
        help="run the points on a local Dask cluster of N worker processes",
    )
    sweep.add_argument(
        "--connect-timeout",
        type=_positive_float,
        default=10.0,
        metavar="S",
        help="--scheduler: seconds to wait for the scheduler to answer and for its first worker (default 10)",
    )
    sweep.add_argument(
        "--csv",
        type=Path,
        required=True,
        metavar="FILE",
        help="the table, one row per point, written as each arrives; points already in it are not solved again",
    )
    sweep.add_argument("--png", type=Path, metavar="FILE", help="one model on one device: energy against RAM budget")
    sweep.add_argument("--report", type=Path, metavar="DIR", help="write the fleet report (charts and a table) here")

    replay_command.add_arguments(sub.add_parser("replay", help=SUBCOMMANDS["replay"]))
    replay_command.add_calibrate_arguments(sub.add_parser("calibrate", help=SUBCOMMANDS["calibrate"]))
    sub.add_parser("models", help=SUBCOMMANDS["models"])
    profiles = sub.add_parser("profiles", help=SUBCOMMANDS["profiles"])
    profiles.add_argument("--dir", type=Path, help="profile directory (default: the app's profiles/)")
    return parser


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived: handled exactly like Ctrl-C (a :class:`KeyboardInterrupt`, so every
    cleanup that stops solver processes on Ctrl-C runs), remembering which signal it was."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _on_stop_signal(signum: int, _frame: object) -> None:
    """Raise :class:`Stopped` in the main thread. Further stop signals are ignored from here on, so a
    second one cannot cut short the cleanup that ends the solver processes (it takes milliseconds)."""
    for s in _STOP_SIGNALS:
        signal.signal(s, signal.SIG_IGN)
    raise Stopped(signum)


def _exit_code(exc: KeyboardInterrupt) -> int:
    """128 + the signal's number, the shell's convention (a plain Ctrl-C is SIGINT: 130)."""
    return 128 + getattr(exc, "signum", signal.SIGINT)


def _signal_name(exc: KeyboardInterrupt) -> str:
    return signal.Signals(_exit_code(exc) - 128).name


def main(argv: Sequence[str] | None = None, *, started_s: float | None = None) -> int:
    """Run the CLI; return the exit code (see the module docstring). ``started_s`` is when the
    program started (``time.monotonic()``; default now): a solve's time limit counts from it, so
    that loading the model and the solver child's start-up are inside the wall time a user waits."""
    started_s = time.monotonic() if started_s is None else started_s
    args = build_parser().parse_args(argv)
    # Signal handlers can only be set from the main thread (a script may call main() from another).
    is_main = threading.current_thread() is threading.main_thread()
    handlers = {s: signal.signal(s, _on_stop_signal) for s in _STOP_SIGNALS} if is_main else {}
    try:
        if args.command == "solve":
            return _solve(args, started_s)
        if args.command == "verify":
            return _verify(args)
        if args.command == "sweep":
            return _sweep(args)
        if args.command == "replay":
            return replay_command.run(args)
        if args.command == "calibrate":
            return replay_command.run_calibrate(args)
        if args.command == "models":
            return _models()
        return _profiles(args.dir)
    except PoetError as exc:
        print(f"poet: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt as exc:
        print(f"poet: interrupted by {_signal_name(exc)}", file=sys.stderr)
        return _exit_code(exc)
    finally:
        for s, handler in handlers.items():
            signal.signal(s, handler)


def _load_graph(args: argparse.Namespace) -> TrainingGraph:
    if args.dim and args.onnx is None:
        raise PoetError("--dim applies to --onnx models, whose input dimensions may be symbolic")
    if args.onnx is not None:
        return _load_onnx(args)
    if args.graph is not None:
        given = [f"--{n.replace('_', '-')}" for n in ("batch_size", "resolution", "seq_len") if getattr(args, n)]
        if given:
            raise PoetError(f"{', '.join(given)} apply to zoo models (--model), not to --graph files")
        return load_graph_file(args.graph)
    params = {n: getattr(args, n) for n in ("batch_size", "resolution", "seq_len") if getattr(args, n)}
    return build_model(args.model, **params)


def _load_onnx(args: argparse.Namespace) -> TrainingGraph:
    """Import an ONNX model; its warnings (estimated operators, unused ones) go to stderr, one line each."""
    given = [f"--{n.replace('_', '-')}" for n in ("batch_size", "resolution", "seq_len") if getattr(args, n)]
    if given:
        raise PoetError(
            f"{', '.join(given)} apply to zoo models (--model); size an --onnx model's symbolic dimensions with --dim"
        )
    dims: dict[str, int] = {}
    for name, size in args.dim or ():
        if dims.setdefault(name, size) != size:
            raise PoetError(f"--dim {name} is given twice, as {dims[name]} and {size}")
    imported = load_onnx_graph(args.onnx, dims=dims)
    for warning in imported.warnings:
        print(f"poet: warning: {args.onnx}: {warning}", file=sys.stderr)
    return imported.graph


def _switches(args: argparse.Namespace) -> Switches:
    return Switches(
        paging=not args.no_paging,
        remat=not args.no_remat,
        count_paging_time=args.count_paging_time,
        budget_includes_params=args.budget_includes_params,
    )


def _options(args: argparse.Namespace) -> SolverOptions:
    if args.method == Method.WINDOWED.value and args.solver != Solver.HIGHS.value:
        raise PoetError("--method windowed needs --solver highs (it re-solves parts of the model with HiGHS)")
    return SolverOptions(
        solver=Solver(args.solver),
        time_limit_s=args.time_limit,
        rel_gap=args.gap,
        threads=args.threads,
        method=Method(args.method),
    )


def _check_outputs(*options: tuple[str, Path | None]) -> None:
    """Refuse an output whose directory is missing before solving, not after minutes of work."""
    for option, path in options:
        if path is not None and not path.parent.is_dir():
            raise PoetError(f"{path}: cannot write ({option}): directory {path.parent} does not exist")


def _solve(args: argparse.Namespace, started_s: float) -> int:
    _check_outputs(("--out", args.out), ("--csv", args.csv))
    graph = _load_graph(args)
    profile = load_profile(args.profile)
    switches = _switches(args)
    # A budget given as "50%" is relative to the plain peak, which does not depend on the budget.
    plain_peak = reference_points_of(graph, profile, switches).plain_peak_ram_bytes
    budget = parse_bytes(args.ram_budget, what="--ram-budget", percent_of=plain_peak)
    problem = make_problem(
        graph, profile, ram_budget_bytes=budget, runtime_factor=args.runtime_budget, switches=switches
    )
    options = _options(args)
    # A child process, so it ends even if the solver overruns; the limit counts from the program's start.
    result = solve_with_deadline(problem, options, started_s=started_s)
    saved = []
    if args.out is not None:
        save_plan(result, args.out, options=options)
        saved.append(f"saved    plan file {args.out}")
    if args.csv is not None:
        if result.sim is None:
            print(f"poet: no operation list written to {args.csv}: {result.plan.status.value}", file=sys.stderr)
        else:
            write_operations_csv(result, args.csv)
            saved.append(f"saved    operation list {args.csv}")
    if args.json:
        print(json.dumps(summary_dict(result)))
    else:
        print("\n".join([_summary_text(result, options), *saved]))
        if args.schedule and result.sim is not None:
            print(_schedule_text(result))
    return EXIT_PLAN if result.plan.has_schedule else EXIT_NO_PLAN


def _verify(args: argparse.Namespace) -> int:
    """Exit 0 for a plan file that checks out, 1 for a valid file that records "no plan", and 2 (via
    the PoetError handler) for one that is malformed or was altered."""
    plan_file = read_plan(args.plan)
    result = plan_file.result
    if args.json:
        header = {"file": str(args.plan), "format_version": plan_file.version, "created_by": plan_file.created_by}
        print(json.dumps(header | summary_dict(result)))
    else:
        print(_verify_text(args.plan, plan_file))
    return EXIT_PLAN if result.plan.has_schedule else EXIT_NO_PLAN


def _verify_text(path: Path, plan_file: PlanFile) -> str:
    result = plan_file.result
    head = (
        f"{path}: a valid plan file (format version {plan_file.version}, written by {plan_file.created_by}); "
        "its graph matches the SHA-256 it states"
    )
    if result.sim is None:
        head += f", and it records no plan ({result.plan.status.value})."
    else:
        head += (
            f", and the simulator replayed its {len(result.sim.operations)} operations within the budgets "
            "and confirms every figure it states."
        )
    return f"{head}\n\n{_summary_text(result, plan_file.options)}"


def _sweep(args: argparse.Namespace) -> int:
    """Solve the grid (models x devices x budgets x factors) locally or on a Dask cluster, writing
    each row into the CSV as it arrives; points already there are skipped, so an interrupted sweep
    (Ctrl-C: exit 130) resumes where it stopped."""
    _check_outputs(("--csv", args.csv), ("--png", args.png), ("--report", args.report))
    if args.report is not None and args.report.exists() and not args.report.is_dir():
        raise PoetError(f"{args.report}: cannot write the report (--report): it is a file, not a folder")
    models = _fleet_models(args)
    profiles = [load_profile(key) for key in _listed(args.profile)]
    if args.png is not None and len(models) * len(profiles) > 1:
        raise PoetError("--png plots one model on one device; write a grid's charts with --report DIR")
    switches, options = _switches(args), _options(args)
    tasks = fleet_tasks(
        models, profiles, budgets=lambda ref: _sweep_budgets(args, ref, switches),
        runtime_factors=args.runtime_factors, switches=switches, options=options,
    )  # fmt: skip
    keys = {t.key for t in tasks}
    before = len(done_keys(args.csv) & keys)
    progress = SweepProgress(len(tasks) - before, sys.stderr)
    with contextlib.ExitStack() as stack:
        execute, dask = _fleet_executor(args, stack)
        try:
            with progress:
                run = run_fleet(tasks, args.csv, execute, on_row=progress.point_done)
        except KeyboardInterrupt as exc:
            # Counted on disk (a signal may land between a row and its report); the same command resumes.
            written = len(done_keys(args.csv) & keys) - before
            print(f"interrupted by {_signal_name(exc)}: {written} of {progress.total} points written to "
                  f"{args.csv}", file=sys.stderr)  # fmt: skip
            if dask is not None and dask.cancel_report:
                print(f"stopped: {dask.cancel_report}", file=sys.stderr)
            return _exit_code(exc)
    rows = [row for row in read_fleet_csv(args.csv) if row.key in keys]
    optimal = sum(r.status == SolveStatus.OPTIMAL for r in rows)
    feasible = sum(r.status == SolveStatus.FEASIBLE for r in rows)
    factors = _count(len(args.runtime_factors), "runtime factor")
    if len(models) * len(profiles) == 1:
        grid = f"{models[0].graph.name} on {profiles[0].key}: {run.points} points ({_count(run.points // len(args.runtime_factors), 'RAM budget')} x {factors})"  # noqa: E501
    else:
        grid = f"{run.points} points ({_count(len(models), 'model')} x {_count(len(profiles), 'device')} x {factors} x RAM budgets)"  # noqa: E501
    lines = [
        f"{grid}: {optimal} optimal, {feasible} feasible, {len(rows) - optimal - feasible} without a plan; "
        f"{run.solved} solved, {run.skipped} already in the table; {progress.elapsed_s:.1f} s",
        f"saved    fleet table {args.csv}",
    ]
    if args.png is not None:
        # Imported here: matplotlib takes a noticeable time to load, and only --png needs it.
        from poet_gui.core.sweep.tradeoff_plot import write_sweep_png

        points = [SweepPoint(r.ram_budget_bytes, r.runtime_factor, r.status, r.energy_j, r.runtime_s,
                             r.peak_ram_bytes, r.gap) for r in rows]  # fmt: skip
        write_sweep_png(
            points,
            args.png,
            title=f"{models[0].graph.name} on {profiles[0].name}",
            subtitle=_sweep_subtitle(switches, options),
            reference=reference_points_of(models[0].graph, profiles[0], switches),
        )
        lines.append(f"saved    plot {args.png}")
    if args.report is not None:
        from poet_gui.core.sweep.fleet_report import write_fleet_report

        written = write_fleet_report(rows, args.report, subtitle=_sweep_subtitle(switches, options))
        lines.append(f"saved    fleet report {args.report} ({_count(len(written), 'file')})")
    print("\n".join(lines))
    return EXIT_PLAN


def _listed(values: Sequence[str] | None) -> list[str]:
    """Repeated and comma-separated values, in order, each once."""
    items = [part.strip() for value in values or () for part in str(value).split(",")]
    return list(dict.fromkeys(item for item in items if item))


def _fleet_models(args: argparse.Namespace) -> list[FleetModel]:
    """The grid's models. Sizes (--batch-size, ...) apply to its zoo models and --dim to its ONNX
    models; each is refused as for solve when the grid has no model it applies to."""
    zoo, graphs, onnx = _listed(args.model), _listed(args.graph), _listed(args.onnx)
    if not (zoo or graphs or onnx):
        raise PoetError("sweep needs a model: --model NAMES, --graph FILE or --onnx FILES")
    sizes = {n: getattr(args, n) for n in ("batch_size", "resolution", "seq_len") if getattr(args, n)}
    base = {**vars(args), "model": None, "graph": None, "onnx": None}
    no_sizes = dict.fromkeys(sizes) if zoo else {}
    takes = {info.name: info.defaults for info in list_models()}
    unused = [k for k in sizes if zoo and not any(k in takes.get(name, {k: 0}) for name in zoo)]
    if unused:
        raise PoetError(f"--{unused[0].replace('_', '-')} applies to none of the zoo models {', '.join(zoo)}")
    models = []
    for name in zoo:
        own = {k: v for k, v in sizes.items() if k in takes.get(name, sizes)}  # an unknown name: the zoo says so
        one = argparse.Namespace(**{**base, **dict.fromkeys(sizes), **own, "model": name,
                                    "dim": None if onnx else args.dim})  # fmt: skip
        models.append(FleetModel(name, ";".join(f"{k}={v}" for k, v in own.items()), _load_graph(one)))
    for path in graphs:
        one = argparse.Namespace(**{**base, **no_sizes, "graph": Path(path), "dim": None if onnx else args.dim})
        models.append(FleetModel(path, "", _load_graph(one)))
    for path in onnx:
        one = argparse.Namespace(**{**base, **no_sizes, "onnx": Path(path)})
        dims = ";".join(f"{k}={v}" for k, v in args.dim or ())
        models.append(FleetModel(path, dims, _load_graph(one)))
    return models


def _fleet_executor(args: argparse.Namespace, stack: contextlib.ExitStack) -> tuple[Executor, DaskExecutor | None]:
    """Local worker processes (--jobs), or a Dask cluster: --dask-local N, else --scheduler or
    $DASK_SCHEDULER_ADDRESS. Its client (and a local cluster) are closed when ``stack`` closes."""
    address = args.scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS", "").strip()
    if args.dask_local is None and not address:
        return local_executor(args.jobs), None
    option = "--scheduler" if args.scheduler else "DASK_SCHEDULER_ADDRESS"
    option = "--dask-local" if args.dask_local is not None else option
    try:
        from poet_gui.core.sweep import fleet_dask
    except ImportError as exc:
        raise PoetError(f'{option} needs Dask ({exc}): pip install -e ".[cluster]"') from None
    if args.dask_local is not None:
        cluster, client = fleet_dask.local_cluster(args.dask_local)
        stack.callback(cluster.close)
    else:
        client = fleet_dask.connect(address, timeout_s=args.connect_timeout)
    stack.callback(client.close)
    executor = fleet_dask.DaskExecutor(client)
    return executor, executor


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _sweep_budgets(args: argparse.Namespace, ref: ReferencePoints, switches: Switches) -> tuple[float, ...]:
    """The RAM budgets of the grid, ascending: ``--budgets`` parsed as ``solve --ram-budget`` (a
    percentage is of the plain peak) and rounded down to whole bytes, or ``--points`` spread over the
    range where the answer changes (shifted by the parameters' bytes when the budget includes them)."""
    if args.points is not None:
        offset = ref.param_bytes if switches.budget_includes_params else 0.0
        return tuple(b + offset for b in budget_grid(ref, args.points))
    parts = [part.strip() for part in args.budgets.split(",") if part.strip()]
    if not parts:
        raise PoetError(f"--budgets: no budget given in {args.budgets!r}; write e.g. 30%,50%,100% or 4000,6KiB")
    # "30%" of a peak is rarely whole; a fraction of a byte is no budget anyone has, and 2224 reads better.
    peak = ref.plain_peak_ram_bytes
    return tuple(sorted({float(math.floor(parse_bytes(p, what="--budgets", percent_of=peak))) for p in parts}))


_SOLVER_NAMES = {Solver.HIGHS: "HiGHS", Solver.CBC: "CBC"}


def _sweep_subtitle(switches: Switches, options: SolverOptions) -> str:
    allowed = [name for name, on in (("paging", switches.paging), ("recomputation", switches.remat)) if on]
    budget = "whole RAM incl. parameters" if switches.budget_includes_params else "RAM budget for activations"
    return (
        f"{' and '.join(allowed) or 'no paging, no recomputation'}; {budget}; "
        f"{_SOLVER_NAMES[options.solver]}, time limit {options.time_limit_s:g} s per point"
    )


class SweepProgress:
    """A sweep's progress on stderr: a bar redrawn in place on a terminal; elsewhere (a log file, CI)
    one line per finished point, because carriage returns garble a log."""

    _WIDTH = 30

    def __init__(self, total: int, stream: TextIO) -> None:
        self._total, self._stream = total, stream
        self._is_tty = stream.isatty()
        self._done = 0
        self._started = time.monotonic()
        if self._is_tty:  # an empty bar at once: the first point may take a while
            self._draw("")

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self._started

    @property
    def total(self) -> int:
        return self._total

    def point_done(self, point: FleetRow) -> None:
        self._done += 1
        energy = "" if point.energy_j is None else f", {format_energy(point.energy_j)}"
        budgets = f"RAM {format_bytes(point.ram_budget_bytes)} x {point.runtime_factor:g}"
        last = f"{point.model} on {point.profile}, {budgets}: {point.status}{energy}"
        if self._is_tty:
            self._draw(f"  (last: {last})")
        else:
            self._stream.write(f"sweep: {self._done}/{self._total} {last} ({self.elapsed_s:.1f} s)\n")
            self._stream.flush()

    def _draw(self, note: str) -> None:
        filled = self._WIDTH * self._done // self._total
        bar = "#" * filled + "." * (self._WIDTH - filled)
        self._stream.write(f"\rsweep [{bar}] {self._done}/{self._total} points, {self.elapsed_s:.0f} s{note}\x1b[K")
        self._stream.flush()

    def __enter__(self) -> SweepProgress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        """End the bar's line however the sweep ends, so what follows starts on a fresh one."""
        if self._is_tty:
            self._stream.write("\n")
            self._stream.flush()


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
        "fits_device": result.fit.fits_device,
        "warnings": list(result.fit.warnings),
    }


def _status_line(result: VerifiedPlan, options: SolverOptions | None) -> str:
    plan = result.plan
    if plan.status is SolveStatus.OPTIMAL:
        return f"optimal (proven), {plan.strategy}, {plan.solve_s:.2f} s"
    if plan.status is SolveStatus.FEASIBLE:
        gap = "unknown gap" if plan.gap is None else f"within {format_gap(plan.gap)} of optimal"
        bound = "" if plan.bound_j is None else f", bound {format_energy(plan.bound_j)}"
        why = _why_stopped(plan.gap, options) + (f"; {plan.message}" if plan.message else "")
        return f"feasible, {gap}{bound} ({why}), {plan.strategy}, {plan.solve_s:.2f} s"
    return f"{plan.status.value}: {plan.message}"


def _why_stopped(gap: float | None, options: SolverOptions | None) -> str:
    """Which of the two limits ended a search that proved no optimum."""
    if options is None:
        return "stopped before proving an optimum"
    if gap is not None and gap <= options.rel_gap:
        return f"reached the requested gap {format_gap(options.rel_gap)}"
    return f"stopped at the {options.time_limit_s:g} s time limit"


def _summary_text(result: VerifiedPlan, options: SolverOptions | None) -> str:
    plan, sim, ref = result.plan, result.sim, result.reference
    p = plan.problem
    lines = [
        f"model    {p.graph.name}: {len(p.graph)} nodes, parameters {format_bytes(ref.param_bytes)}",
        f"device   {p.profile.key}: {p.profile.name}",
        f"budgets  RAM {format_bytes(p.ram_budget_bytes)} ({p.ram_budget_bytes / ref.plain_peak_ram_bytes:.0%} of "
        f"plain peak), runtime {format_factor(p.runtime_factor)} plain pass; "
        f"paging {'on' if p.switches.paging else 'off'}, "
        f"recomputation {'on' if p.switches.remat else 'off'}",
        f"plain    energy {format_energy(ref.plain_energy_j)}, runtime {format_seconds(ref.plain_runtime_s)}, "
        f"peak RAM {format_bytes(ref.plain_peak_ram_bytes)}; "
        f"least RAM any plan needs {format_bytes(ref.min_ram_bytes)}",
        f"status   {_status_line(result, options)}",
    ]
    if sim is not None:
        lines += [
            f"energy   {format_energy(sim.energy_j)} ({format_overhead(sim.energy_j, ref.plain_energy_j)}): "
            f"compute {format_energy(sim.compute_j)}, page-in {format_energy(sim.pagein_j)}, "
            f"page-out {format_energy(sim.pageout_j)}",
            f"runtime  {format_seconds(sim.compute_s)} compute + {format_seconds(sim.paging_s)} paging",
            f"memory   peak {format_bytes(sim.peak_ram_bytes)} of {format_bytes(sim.budget_bytes)} budget",
            f"actions  {_count(sim.recomputes, 'recompute')}, {_count(sim.pageins, 'page-in')}, "
            f"{_count(sim.pageouts, 'page-out')}; "
            "verified by the simulator",
        ]
    return "\n".join(lines + _warning_lines(result))


def _warning_lines(result: VerifiedPlan) -> list[str]:
    """``warning: ...`` for what a user must know before putting the plan on the device, with the
    option that fixes it: a verified plan is only as real as the budget it was given."""
    warnings = result.fit.warnings
    if not warnings:
        return []
    p = result.plan.problem
    ram = format_bytes(p.profile.ram_bytes or 0)
    if p.costs.param_bytes >= (p.profile.ram_bytes or 0):
        fix = "the parameters alone fill the device's RAM: no plan for this model fits it"
    elif p.switches.budget_includes_params:
        fix = f"lower --ram-budget to at most {ram}"
    else:
        fix = f"--budget-includes-params with --ram-budget {ram} or less counts the parameters in the budget"
    return [f"warning: {w}" for w in warnings] + [f"         ({fix})"]


def _schedule_text(result: VerifiedPlan) -> str:
    assert result.sim is not None
    nodes = result.plan.problem.graph.nodes
    lines = ["", "stage  action     node"]
    for op in result.sim.operations:
        label = "recompute" if op.is_recompute else op.action.value
        lines.append(f"{op.stage:5d}  {label:<9}  {nodes[op.node].name}")
    return "\n".join(lines)


def _models() -> int:
    rows = [
        (info.name, build_model(info.name), ", ".join(f"{k}={v}" for k, v in info.defaults.items()), info.description)
        for info in list_models()
    ]
    width = max(len("parameters (defaults)"), *(len(params) for _, _, params, _ in rows))
    print(f"{'model':<16} {'nodes':>5} {'params':>12}  {'parameters (defaults)':<{width}}  description")
    for name, graph, params, description in rows:
        print(f"{name:<16} {len(graph):>5} {graph.total_params:>12,.0f}  {params:<{width}}  {description}")
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
            f"{'':<11} compute {format_si(pr.compute_flop_per_s, 'FLOP/s')}, "
            f"{format_si(pr.compute_flop_per_j, 'FLOP/J')}, {pr.bytes_per_element} B/element\n"
            f"{'':<11} page-in {format_seconds(pr.pagein_latency_s)} + {format_si(pr.pagein_bytes_per_s, 'B/s')}, "
            f"page-out {format_seconds(pr.pageout_latency_s)} + {format_si(pr.pageout_bytes_per_s, 'B/s')}, "
            f"paging power {format_si(pr.paging_power_w, 'W')}"
        )
    return EXIT_PLAN
