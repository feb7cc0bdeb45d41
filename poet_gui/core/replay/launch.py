"""Running ``replay`` as a child process and reading its answer, without PyTorch.

The app replays in a child (``python -c ... replay PLAN --onnx MODEL --json``) so that PyTorch, its
threads and its memory stay out of the GUI process and a cancel can kill the whole run at once. This
module is what both ends agree on: the command line, the progress lines the child writes on stderr,
the one-line error it leaves there, and which plans can be replayed at all (checked before a child
is started, so the app can say why in a tooltip).
"""

from __future__ import annotations

import re
from pathlib import Path

from poet_gui.core.model.graph import TrainingGraph

#: The ops of the zoo's and the reference's graphs, whose backward is a chain, not autodiff.
CHAIN_BACKWARD_OPS = frozenset({"GradientLayer", "Gradient"})

#: What the child runs: the CLI's ``main`` on its arguments (``main.py`` is not installed with the package).
_CHILD_CODE = "import sys; from poet_gui.cli import main; sys.exit(main(sys.argv[1:]))"

#: The environment variable by which the app names itself to its replay child: the child ends itself (and
#: whatever it started) when that process is gone, so an app that crashes or is killed leaves no replay running.
REQUESTER_PID_VARIABLE = "POET_REPLAY_REQUESTER_PID"

_PROGRESS_PREFIX = "poet: replay "
_PROGRESS = re.compile(r"^poet: replay +(\d{1,3})% (.*)$")
_ERROR_PREFIX = "poet: error: "


def replay_refusal(graph: TrainingGraph, model_path: str | None) -> str:
    """Why a plan of ``graph`` (imported from ``model_path``, if known) cannot be replayed; "" if it can.

    A zoo or reference graph has a chain backward (``Gradient`` nodes standing for the whole layer's
    backward), so there is no real kernel to run; any other graph needs the ONNX file its weights are in.
    """
    chain = sorted({n.op for n in graph.nodes if n.op in CHAIN_BACKWARD_OPS})
    if chain:
        return (
            f"{graph.name} has the reference's chain backward ({', '.join(chain)} nodes), not autodiff: "
            "there is no real backward to run. Replay needs an imported ONNX model."
        )
    if model_path is None or Path(model_path).suffix.lower() != ".onnx":
        return (
            "The app does not know the ONNX file this plan's weights are in: open the model "
            "(File ▸ Open, or an ONNX sample in the model menu) and solve, then replay."
        )
    if not Path(model_path).is_file():
        return f"{model_path}: no such file, so its weights cannot be read."
    return ""


def replay_arguments(plan: Path, onnx: Path, storage: Path, steps: int) -> list[str]:
    """The arguments after the Python interpreter that replay ``plan`` on ``onnx`` for ``steps`` SGD
    steps, paging into ``storage`` (emptied at the end), and print the report as one JSON object."""
    return [
        "-c", _CHILD_CODE, "replay", str(plan), "--onnx", str(onnx), "--storage", str(storage),
        "--steps", str(steps), "--json",
    ]  # fmt: skip


def progress_line(fraction: float, text: str) -> str:
    """The stderr line a replay writes as it goes (``fraction`` in [0, 1]): ``poet: replay  50% text``."""
    return f"{_PROGRESS_PREFIX}{fraction:4.0%} {text}"


def parse_progress(line: str) -> tuple[float, str] | None:
    """The fraction and text of a :func:`progress_line`, or None for any other line."""
    match = _PROGRESS.match(line.rstrip("\r\n"))
    if match is None:
        return None
    return min(int(match.group(1)), 100) / 100.0, match.group(2)


def error_line(stderr_text: str) -> str:
    """What went wrong, in one line, from a failed child's stderr: its last line that is not progress,
    without the CLI's ``poet: error:`` prefix ("" if it wrote nothing else)."""
    lines = [ln.strip() for ln in stderr_text.splitlines() if ln.strip() and parse_progress(ln) is None]
    if not lines:
        return ""
    last = lines[-1]
    return last.removeprefix(_ERROR_PREFIX)
