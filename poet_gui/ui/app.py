"""Start POET Studio: ``python main.py [options]`` opens the window on a model and a device.

``--screenshot FILE.png`` opens the window offscreen, waits for the final plan (and, with
``--wait-sweep``, for the background trade-off sweep), saves a picture of the window, prints its path
and exits (for the README and for tests).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from poet_gui import __version__
from poet_gui.core.device.profiles import load_profile
from poet_gui.core.device.units import parse_bytes
from poet_gui.core.errors import PoetError
from poet_gui.core.schedule.problem import Switches
from poet_gui.core.solve.milp import Solver, SolverOptions

RESOURCES = Path(__file__).resolve().parents[2] / "resources"
DEFAULT_MODEL, DEFAULT_PROFILE = "linear", "m4"


def build_parser(epilog: str | None = None) -> argparse.ArgumentParser:
    """The app's options. ``epilog`` lets the launcher list the CLI's subcommands below them, so that
    ``python main.py --help`` describes both things main.py does."""
    parser = argparse.ArgumentParser(
        prog="main.py",
        description="POET Studio: plan energy-minimal on-device training.\n"
        "Without a subcommand, main.py opens the app on a model and a device profile, with these options.",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"POET Studio {__version__}")
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"zoo model to open (default {DEFAULT_MODEL})")
    parser.add_argument("--graph", type=Path, metavar="FILE", help="open a graph file instead of a zoo model")
    parser.add_argument("--batch-size", type=int, metavar="N", help="the zoo model's batch size")
    parser.add_argument("--resolution", type=int, metavar="PX", help="the zoo model's input resolution")
    parser.add_argument("--seq-len", type=int, metavar="N", help="the zoo transformer's sequence length")
    parser.add_argument("--profile", default=DEFAULT_PROFILE, help=f"device profile (default {DEFAULT_PROFILE})")
    parser.add_argument(
        "--ram-budget", default="45%", help="RAM budget: bytes, with a unit, or %% of the plain peak (default 45%%)"
    )
    parser.add_argument(
        "--runtime-budget", type=float, default=1.5, metavar="FACTOR", help="runtime budget (x plain pass, default 1.5)"
    )
    parser.add_argument("--no-paging", action="store_true", help="plan without paging")
    parser.add_argument("--no-remat", action="store_true", help="plan without recomputation")
    parser.add_argument("--solver", choices=[s.value for s in Solver], default=Solver.HIGHS.value)
    parser.add_argument(
        "--time-limit",
        type=float,
        default=30.0,
        help="solver time limit in seconds (default 30: the app re-solves on every budget change, so it "
        "stays interactive; the CLI's default is 60)",
    )
    parser.add_argument("--screenshot", type=Path, metavar="FILE.png", help="save a screenshot once solved, exit")
    parser.add_argument("--size", default="1440x900", help="window size for --screenshot (default 1440x900)")
    parser.add_argument(
        "--wait-sweep", action="store_true", help="with --screenshot: also wait for the trade-off sweep"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.screenshot is not None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from poet_gui.ui.main_window import MainWindow
    from poet_gui.ui.state import AppState, ModelSource, new_session

    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setOrganizationName("POET Studio")
    app.setApplicationName("POET Studio")
    style = RESOURCES / "style.qss"
    if style.is_file():
        app.setStyleSheet(style.read_text())
    try:
        if args.graph is not None:
            source = ModelSource(zoo_name=None, graph_path=str(args.graph))
        else:
            params = {k: getattr(args, k) for k in ("batch_size", "resolution", "seq_len") if getattr(args, k)}
            source = ModelSource(zoo_name=args.model, params=tuple(params.items()))
        session = new_session(
            source,
            load_profile(args.profile),
            runtime_factor=args.runtime_budget,
            switches=Switches(paging=not args.no_paging, remat=not args.no_remat),
            options=SolverOptions(solver=Solver(args.solver), time_limit_s=args.time_limit),
        )
        budget = parse_bytes(args.ram_budget, what="--ram-budget", percent_of=session.reference.plain_peak_ram_bytes)
    except PoetError as exc:
        print(f"poet-studio: error: {exc}", file=sys.stderr)
        return 2
    state = AppState(replace(session, ram_budget_bytes=budget))
    window = MainWindow(state)
    if args.screenshot is not None:
        width, _, height = args.size.partition("x")
        window.resize(int(width), int(height))
        pending = {"solve", "sweep"} if args.wait_sweep else {"solve"}

        def ready(what: str) -> None:
            pending.discard(what)
            if not pending:
                QTimer.singleShot(300, lambda: _save_and_quit(window, args.screenshot))

        window.solver.solve_ended.connect(lambda _s: ready("solve"))
        window.solver.sweeps.finished.connect(lambda: ready("sweep"))
        QTimer.singleShot(int((args.time_limit + 60) * 1000), lambda: _save_and_quit(window, args.screenshot))
    window.show()
    window.solver.solve_now()
    return app.exec()


def _save_and_quit(window, path: Path) -> None:
    from PySide6.QtWidgets import QApplication

    saved = window.grab().save(str(path))
    if saved:
        print(f"saved {path}")
    else:
        print(f"poet-studio: error: {path}: could not save the screenshot", file=sys.stderr)
    window.close()
    QApplication.exit(0 if saved else 1)
