"""The CLI's plan files (`solve --out/--csv`, `verify`) and sweeps (`sweep`): real files, honest exit
codes, one-line refusals, and an interrupted sweep that keeps its finished rows and leaves no process."""

from __future__ import annotations

import csv
import itertools
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_runner import run_cli

from poet_gui import cli
from poet_gui.cli import EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_NO_PLAN, EXIT_PLAN, main
from poet_gui.core.files.schedule_export import CSV_COLUMNS as OPERATION_COLUMNS
from poet_gui.core.schedule.plan import SolveStatus
from poet_gui.core.schedule.problem import make_problem
from poet_gui.core.solve.milp import SolverOptions
from poet_gui.core.sweep.fleet_csv import FLEET_COLUMNS
from poet_gui.core.sweep.tradeoff import solve_points

ROOT = Path(__file__).resolve().parents[2]
SOLVE = ["solve", "--model", "linear", "--profile", "a72", "--ram-budget", "3300", "--runtime-budget", "1.0"]
SWEEP = ["sweep", "--model", "linear", "--profile", "a72"]


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


# --- solve --out / --csv and verify -------------------------------------------------------------


@pytest.fixture(scope="module")
def plan_files(tmp_path_factory) -> tuple[Path, Path]:
    """A paging + recomputing plan of linear on a72, saved as a plan file and an operation CSV."""
    folder = tmp_path_factory.mktemp("plan")
    plan, ops = folder / "plan.json", folder / "ops.csv"
    assert main([*SOLVE, "--out", str(plan), "--csv", str(ops), "--json"]) == EXIT_PLAN
    return plan, ops


def test_solve_writes_a_plan_file_and_a_real_operation_csv(plan_files):
    plan, ops = plan_files
    data = json.loads(plan.read_text(encoding="utf-8"))
    assert data["format"] == "poet-plan" and data["result"]["status"] == "optimal"
    rows = read_rows(ops)
    assert tuple(rows[0]) == OPERATION_COLUMNS
    assert len(rows) == len(data["operations"]) > 0
    assert {"page out", "page in", "recompute"} <= {r["action"] for r in rows}


def test_verify_accepts_the_file_with_a_summary(capsys, plan_files):
    code, out, err = run_cli(capsys, "verify", str(plan_files[0]))
    assert code == EXIT_PLAN, err
    assert f"{plan_files[0]}: a valid plan file (format version 2" in out
    assert "the simulator replayed its" in out and "optimal (proven)" in out


def test_verify_json_is_one_object(capsys, plan_files):
    code, out, _ = run_cli(capsys, "verify", str(plan_files[0]), "--json")
    assert code == EXIT_PLAN
    data = json.loads(out)
    assert data["file"] == str(plan_files[0]) and data["verified"] is True and data["status"] == "optimal"
    assert data["pageins"] > 0 and data["recomputes"] > 0


def test_verify_names_the_version_of_an_older_file(capsys, plan_files, tmp_path):
    data = json.loads(plan_files[0].read_text(encoding="utf-8"))
    data["version"] = 1
    del data["fits_device"], data["warnings"]
    old = tmp_path / "v1.json"
    old.write_text(json.dumps(data), encoding="utf-8")
    code, out, err = run_cli(capsys, "verify", str(old))
    assert code == EXIT_PLAN, err
    assert f"{old}: a valid plan file (format version 1," in out
    code, out, _ = run_cli(capsys, "verify", str(old), "--json")
    assert json.loads(out)["format_version"] == 1


def test_verify_refuses_a_tampered_file_in_one_line(capsys, plan_files, tmp_path):
    data = json.loads(plan_files[0].read_text(encoding="utf-8"))
    data["budgets"]["ram_budget_bytes"] = data["simulation"]["peak_ram_bytes"] - 100
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(data), encoding="utf-8")
    code, out, err = run_cli(capsys, "verify", str(tampered))
    assert code == EXIT_BAD_INPUT and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    assert str(tampered) in lines[0] and "step " in lines[0] and "exceeds the budget" in lines[0]


def test_a_no_plan_result_is_saved_and_verifies_with_exit_1(capsys, tmp_path):
    plan, ops = tmp_path / "none.json", tmp_path / "none.csv"
    code, _, err = run_cli(
        capsys, *SOLVE[:-4], "--ram-budget", "2000", "--runtime-budget", "1.5", "--out", str(plan), "--csv", str(ops)
    )
    assert code == EXIT_NO_PLAN
    assert "no operation list written" in err and not ops.exists()
    code, out, _ = run_cli(capsys, "verify", str(plan))
    assert code == EXIT_NO_PLAN and "records no plan (infeasible)" in out


# --- sweep --------------------------------------------------------------------------------------


def test_sweep_writes_every_row_a_monotone_tradeoff_and_a_png(capsys, tmp_path):
    table, plot = tmp_path / "sweep.csv", tmp_path / "sweep.png"
    code, out, err = run_cli(
        capsys, *SWEEP, "--points", "5", "--runtime-factors", "1.2,1.5", "--jobs", "2", "--csv", str(table),
        "--png", str(plot),
    )  # fmt: skip
    assert code == EXIT_PLAN, err
    assert "10 points (5 RAM budgets x 2 runtime factors)" in out
    assert len([line for line in err.splitlines() if line.startswith("sweep: ")]) == 10  # not a TTY: one per point

    rows = read_rows(table)
    assert tuple(rows[0]) == FLEET_COLUMNS and len(rows) == 10
    keys = [(float(r["runtime_factor"]), float(r["ram_budget_bytes"])) for r in rows]
    assert keys == sorted(keys) and {k[0] for k in keys} == {1.2, 1.5}
    for a, b in itertools.pairwise(rows):
        if a["runtime_factor"] == b["runtime_factor"] and a["status"] == b["status"] == SolveStatus.OPTIMAL:
            # Both proven optimal (gap <= 1e-6): more RAM can only help.
            assert float(b["energy_j"]) <= float(a["energy_j"]) * (1 + 1e-6), (a, b)
    assert all(r["status"] == SolveStatus.OPTIMAL and float(r["peak_ram_bytes"]) <= float(r["ram_budget_bytes"])
               for r in rows)  # fmt: skip

    png = plot.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5_000


def test_sweep_budgets_as_percentages_and_no_plan_rows(capsys, tmp_path):
    table = tmp_path / "sweep.csv"
    code, _, err = run_cli(
        capsys, *SWEEP, "--budgets", "30%,50%,100%", "--runtime-factors", "1.5", "--jobs", "1", "--csv", str(table)
    )
    assert code == EXIT_PLAN, err
    rows = read_rows(table)
    assert [r["ram_budget_bytes"] for r in rows] == ["2224", "3708", "7416"]  # whole bytes of the plain peak
    assert rows[0]["status"] == SolveStatus.INFEASIBLE and rows[0]["energy_j"] == "" and rows[0]["gap"] == ""


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--budgets", "lots", "--csv", "x.csv"], "lots"),
        (["--budgets", ",", "--csv", "x.csv"], "--budgets"),
        (["--points", "0", "--csv", "x.csv"], "--points"),
        (["--points", "3", "--runtime-factors", "1,0", "--csv", "x.csv"], "--runtime-factors"),
        (["--points", "3", "--jobs", "0", "--csv", "x.csv"], "--jobs"),
        (["--points", "3"], "--csv"),
        (["--csv", "x.csv"], "--budgets"),
        (["--points", "3", "--csv", "/nonexistent/x.csv"], "directory /nonexistent does not exist"),
        (["--points", "3", "--csv", "x.csv", "--png", "/nonexistent/x.png"], "(--png)"),
    ],
)
def test_sweep_bad_input_is_one_line_and_exit_2(capsys, args, needle):
    code, out, err = run_cli(capsys, *SWEEP, *args)
    assert code == EXIT_BAD_INPUT and out == ""
    assert len(err.strip().splitlines()) == 1 and needle in err


def test_solve_points_terminates_its_workers_when_interrupted(linear, a72):
    problems = [make_problem(linear, a72, ram_budget_bytes=b, runtime_factor=1.0) for b in range(3300, 3500, 10)]
    finished = []
    before = set(multiprocessing.active_children())

    def stop_after_first(point):
        finished.append(point)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        solve_points(problems, SolverOptions(), jobs=2, on_point=stop_after_first)
    assert len(finished) == 1
    assert set(multiprocessing.active_children()) <= before  # every worker was ended and reaped


def test_interrupted_cli_sweep_keeps_finished_rows(capsys, tmp_path, monkeypatch):
    """Ctrl-C arriving right after the first point (raised from the progress report) exits 130."""
    calls = []

    def interrupt(self, point):
        calls.append(point)
        raise KeyboardInterrupt

    monkeypatch.setattr(cli.SweepProgress, "point_done", interrupt)
    before = set(multiprocessing.active_children())
    table = tmp_path / "sweep.csv"
    code, out, err = run_cli(capsys, *SWEEP, "--points", "12", "--jobs", "2", "--csv", str(table))
    assert code == EXIT_INTERRUPTED and out == ""
    assert err.strip() == f"interrupted by SIGINT: 1 of 24 points written to {table}"
    rows = read_rows(table)
    assert len(rows) == 1 and float(rows[0]["ram_budget_bytes"]) == calls[0].ram_budget_bytes
    assert set(multiprocessing.active_children()) <= before


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to find the worker processes")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_a_stop_signal_to_a_running_sweep_keeps_rows_and_leaves_no_process(tmp_path, sig):
    """The real thing: SIGINT (Ctrl-C), SIGTERM (kill, a job scheduler) or SIGHUP (a closed terminal)
    to `python main.py sweep` once its CSV has a row: the same clean stop, exit 128 + the signal."""
    table = tmp_path / "sweep.csv"
    cmd = [sys.executable, "main.py", *SWEEP, "--points", "40", "--runtime-factors", "1.0,1.1,1.2,1.3,1.5"]
    proc = subprocess.Popen(
        [*cmd, "--jobs", "2", "--csv", str(table)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while not (table.exists() and len(read_rows(table)) >= 1):
            assert proc.poll() is None and time.monotonic() < deadline, "the sweep ended before it could be interrupted"
            time.sleep(0.05)
        helpers = _descendants(proc.pid)
        assert helpers, "the sweep runs no worker processes"
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + sig, err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"interrupted by {sig.name}: ") and last.endswith(f"of 200 points written to {table}")
    kept = int(last.split()[3])
    assert 1 <= kept < 200 and len(read_rows(table)) == kept
    deadline = time.monotonic() + 2
    while (alive := [pid for pid in helpers if _is_running(pid)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert alive == [], f"processes left running: {alive}"


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (the forkserver and its workers), from /proc."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        children = [c for c, p in parents.items() if p in frontier]
        found += children
        frontier = children
    return found


def _is_running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
