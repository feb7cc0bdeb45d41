"""What the app and a replay child agree on, without PyTorch: which plans can be replayed, the command
line, the progress and error lines on stderr, and the report read back from ``--json``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from poet_gui.core.errors import ReplayError
from poet_gui.core.model.onnx_import import load_onnx_graph
from poet_gui.core.model.zoo import build_model
from poet_gui.core.replay.launch import (
    REQUESTER_PID_VARIABLE,
    error_line,
    parse_progress,
    progress_line,
    replay_arguments,
    replay_refusal,
)
from poet_gui.core.replay.report import ReplayReport

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "poet_gui" / "samples" / "small_cnn.onnx"

REPORT = ReplayReport(
    model="small_cnn", steps=2, seed=0, learning_rate=0.01, gradients_identical=True,
    max_rel_diff_vs_autograd=2.5e-7, loss=1.25, losses=(1.5, 1.25), resident_bytes_match=True,
    resident_mismatch="", predicted_peak_bytes_plan=1000, predicted_peak_bytes_keep_all=2000,
    measured_peak_bytes_plan=1500, measured_peak_bytes_keep_all=2600, bytes_paged_out=64, bytes_paged_in=64,
    storage_files=1, recomputes=3, step_seconds_plan=0.01, step_seconds_keep_all=0.005,
    node_seconds={"x": 0.0, "conv": 0.002}, resident_bytes=(0, 400, 1000, 600), storage="/tmp/s", kept_storage=False,
)  # fmt: skip


def test_a_zoo_model_is_refused_for_its_chain_backward() -> None:
    reason = replay_refusal(build_model("linear"), None)
    assert "chain backward" in reason and "GradientLayer" in reason and "ONNX" in reason


def test_an_imported_model_needs_its_onnx_file() -> None:
    graph = load_onnx_graph(SAMPLE).graph
    assert replay_refusal(graph, str(SAMPLE)) == ""
    assert "does not know the ONNX file" in replay_refusal(graph, "/somewhere/plan.json")
    assert "does not know the ONNX file" in replay_refusal(graph, None)
    assert replay_refusal(graph, "/gone/m.onnx") == "/gone/m.onnx: no such file, so its weights cannot be read."


def test_progress_lines_round_trip_and_other_lines_are_not_progress() -> None:
    line = progress_line(0.25, "step 1 of 2: plan")
    assert line == "poet: replay  25% step 1 of 2: plan"
    assert parse_progress(line + "\n") == (0.25, "step 1 of 2: plan")
    assert parse_progress(progress_line(1.0, "done")) == (1.0, "done")
    assert parse_progress("poet: error: x.onnx: no such file") is None
    assert parse_progress("poet: replay  xx% nonsense") is None


def test_the_error_line_is_the_last_line_that_is_not_progress() -> None:
    stderr = progress_line(0.0, "step 1 of 1: plan") + "\npoet: error: plan.json: step 3 is not valid\n"
    assert error_line(stderr) == "plan.json: step 3 is not valid"
    assert error_line(progress_line(0.5, "x") + "\n") == ""
    traceback = "Traceback (most recent call last):\n  File \"x\", line 1\nRuntimeError: boom\n"
    assert error_line(traceback) == "RuntimeError: boom"


def test_the_child_command_runs_the_cli(tmp_path: Path) -> None:
    """The arguments start the CLI's replay: a missing plan file is refused in one line with exit 2."""
    args = replay_arguments(tmp_path / "plan.json", SAMPLE, tmp_path / "flash", 2)
    assert args[2:] == ["replay", str(tmp_path / "plan.json"), "--onnx", str(SAMPLE), "--storage",
                        str(tmp_path / "flash"), "--steps", "2", "--json"]  # fmt: skip
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=tmp_path, timeout=120,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})  # fmt: skip
    assert done.returncode == 2 and done.stdout == ""
    assert "plan.json" in error_line(done.stderr) and done.stderr.count("\n") == 1


def test_a_child_whose_requester_is_gone_ends_itself(tmp_path: Path) -> None:
    """The app names itself in the child's environment: a child started for an app that has died (crashed,
    or killed with -9, so it never cancelled) kills its own session at once instead of running on."""
    args = [sys.executable, *replay_arguments(tmp_path / "plan.json", SAMPLE, tmp_path / "flash", 2)]
    gone = subprocess.Popen(["true"])
    gone.wait()
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    orphan = subprocess.run(args, capture_output=True, text=True, cwd=tmp_path, timeout=120, start_new_session=True,
                            env={**env, REQUESTER_PID_VARIABLE: str(gone.pid)})  # fmt: skip
    assert orphan.returncode == -9 and orphan.stdout == ""
    alive = subprocess.run(args, capture_output=True, text=True, cwd=tmp_path, timeout=120, start_new_session=True,
                           env={**env, REQUESTER_PID_VARIABLE: str(os.getpid())})  # fmt: skip
    assert alive.returncode == 2 and "plan.json" in error_line(alive.stderr)  # ran on to its own answer


def test_a_report_reads_back_from_its_json() -> None:
    assert ReplayReport.from_json(REPORT.to_json()) == REPORT


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("resident_bytes"), "no field 'resident_bytes'"),
        (lambda d: d.update(losses="many"), "malformed"),
        (lambda d: d.update(node_seconds=[1, 2]), "malformed"),
    ],
)
def test_a_malformed_report_is_refused_naming_the_field(change, message: str) -> None:
    data = REPORT.to_json()
    change(data)
    with pytest.raises(ReplayError, match=message):
        ReplayReport.from_json(data)


def test_a_report_of_another_kind_is_refused() -> None:
    with pytest.raises(ReplayError, match="malformed"):
        ReplayReport.from_json(["not", "an", "object"])  # type: ignore[arg-type]
