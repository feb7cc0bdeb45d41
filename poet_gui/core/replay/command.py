"""The ``replay`` subcommand's arguments and output, without PyTorch: the engine is imported only when
the command runs, so ``poet_gui.cli`` (and the app's start-up) never load torch, and a machine without
it gets one line saying how to install the extra."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from poet_gui.core.errors import ReplayError
from poet_gui.core.replay.launch import REQUESTER_PID_VARIABLE, progress_line
from poet_gui.core.replay.report import INSTALL_HINT, report_text

HELP = "run a plan's training steps on the real ONNX model with PyTorch; check gradients and memory"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("plan", type=Path, help="a plan file of an imported ONNX model (solve --onnx ... --out)")
    parser.add_argument("--onnx", type=Path, required=True, help="the ONNX model the plan was made for (its weights)")
    parser.add_argument("--steps", type=_positive_int, default=1, help="SGD training steps to run (default 1)")
    parser.add_argument("--storage", type=Path, help="folder for the paged-out tensors (default: a temporary one)")
    parser.add_argument("--keep-storage", action="store_true", help="leave the page-out files in --storage")
    parser.add_argument("--seed", type=int, default=0, help="seed of the input batch and targets (default 0)")
    parser.add_argument("--lr", type=float, default=0.01, help="SGD learning rate (default 0.01)")
    parser.add_argument("--json", action="store_true", help="print exactly one JSON object")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def run(args: argparse.Namespace) -> int:
    """Replay and print the report; 0 when every check held, 1 when one failed (a bug to find).
    Bad input raises a :class:`~poet_gui.core.errors.PoetError` (the CLI prints it, exit 2)."""
    requester = os.environ.get(REQUESTER_PID_VARIABLE, "")
    if requester.isdigit():  # started by the app, in a session of its own: end with the app
        from poet_gui.core.solve.orphan_guard import end_with

        end_with(int(requester))
    try:
        from poet_gui.core.replay.engine import replay_plan
    except ImportError as exc:
        if exc.name != "torch" and not str(exc.name or "").startswith("torch."):
            raise
        raise ReplayError(INSTALL_HINT) from None
    report = replay_plan(
        args.plan, args.onnx, steps=args.steps, storage=args.storage, keep_storage=args.keep_storage,
        seed=args.seed, learning_rate=args.lr,
        on_progress=_progress,
    )  # fmt: skip
    if args.json:
        print(json.dumps(report.to_json()))
    else:
        print(report_text(report))
    return 0 if report.is_faithful else 1


def _progress(fraction: float, text: str) -> None:
    """On stderr also with ``--json`` (stdout keeps its one object): the app reads it for its progress bar."""
    print(progress_line(fraction, text), file=sys.stderr, flush=True)


CALIBRATE_HELP = "measure this machine's compute rate and storage with PyTorch; write a device profile"


def add_calibrate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--onnx", type=Path, required=True, help="the model whose kernels are timed")
    parser.add_argument("--storage", type=Path, required=True, help="folder on the storage to measure (flash, SD)")
    parser.add_argument("--out", type=Path, required=True, help="profile file to write (profiles/NAME.toml)")
    parser.add_argument("--name", help="the profile's device name (default: this host, calibrated)")
    parser.add_argument("--compute-power-w", type=float, help="power while computing, W (default: RAPL counters)")
    parser.add_argument("--paging-power-w", type=float, help="power while paging, W (default: RAPL counters)")
    parser.add_argument("--dim", action="append", default=[], metavar="NAME=SIZE", help="a symbolic input size")


def run_calibrate(args: argparse.Namespace) -> int:
    """Calibrate and print the profile's figures; bad input raises a PoetError (exit 2)."""
    try:
        from poet_gui.core.replay.calibrate import calibrate
    except ImportError as exc:
        if exc.name != "torch" and not str(exc.name or "").startswith("torch."):
            raise
        raise ReplayError(INSTALL_HINT.replace("replay needs", "calibrate needs")) from None
    dims = {}
    for item in args.dim:
        key, _, value = item.partition("=")
        if not value.isdigit() or int(value) < 1:
            raise ReplayError(f"--dim {item!r}: expected NAME=SIZE with a positive whole size")
        dims[key] = int(value)
    result = calibrate(args.onnx, args.storage, args.out, name=args.name, compute_power_w=args.compute_power_w,
                       paging_power_w=args.paging_power_w, dims=dims)  # fmt: skip
    p = result.profile
    print(f"wrote     {args.out} ({p.name})")
    print(f"compute   {p.compute_flop_per_s:.4g} FLOP/s, {p.compute_flop_per_j:.4g} FLOP/J")
    print(f"page out  {p.pageout_latency_s:.3g} s + bytes / {p.pageout_bytes_per_s:.4g} B/s")
    print(f"page in   {p.pagein_latency_s:.3g} s + bytes / {p.pagein_bytes_per_s:.4g} B/s")
    for note in result.notes[-3:]:
        print(f"note      {note}")
    return 0
