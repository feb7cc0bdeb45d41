"""The ``replay`` subcommand's arguments and output, without PyTorch: the engine is imported only when
the command runs, so ``poet_gui.cli`` (and the app's start-up) never load torch, and a machine without
it gets one line saying how to install the extra."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from poet_gui.core.errors import ReplayError
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
    try:
        from poet_gui.core.replay.engine import replay_plan
    except ImportError as exc:
        if exc.name != "torch" and not str(exc.name or "").startswith("torch."):
            raise
        raise ReplayError(INSTALL_HINT) from None
    report = replay_plan(
        args.plan, args.onnx, steps=args.steps, storage=args.storage, keep_storage=args.keep_storage,
        seed=args.seed, learning_rate=args.lr,
        on_progress=None if args.json else _progress,
    )  # fmt: skip
    if args.json:
        print(json.dumps(report.to_json()))
    else:
        print(report_text(report))
    return 0 if report.is_faithful else 1


def _progress(fraction: float, text: str) -> None:
    print(f"poet: replay {fraction:4.0%} {text}", file=sys.stderr)
