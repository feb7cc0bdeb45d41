"""The CLI: figures on stdout, one-line refusals on stderr, exit codes 0 / 1 / 2, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cli_runner import run_cli

from poet_gui.cli import EXIT_BAD_INPUT, EXIT_NO_PLAN, EXIT_PLAN

ROOT = Path(__file__).resolve().parents[2]
REQUIRED_KEYS = {
    "status", "energy_j", "compute_j", "pagein_j", "pageout_j", "runtime_s", "peak_ram_bytes", "recomputes",
    "pageins", "pageouts", "solve_s", "gap", "verified", "min_ram_bytes", "plain_energy_j", "plain_peak_ram_bytes",
    "fits_device", "warnings",
}  # fmt: skip


def test_solve_json_reports_an_optimal_verified_plan(capsys):
    code, out, err = run_cli(
        capsys, "solve", "--model", "linear", "--profile", "a72", "--ram-budget", "5000", "--runtime-budget", "1.5",
        "--json",
    )  # fmt: skip
    assert code == EXIT_PLAN, err
    data = json.loads(out)
    assert data.keys() >= REQUIRED_KEYS
    assert data["status"] == "optimal"
    assert data["verified"] is True
    assert data["energy_j"] == pytest.approx(0.006589424921697473, rel=1e-9)
    assert data["peak_ram_bytes"] <= 5000
    assert data["min_ram_bytes"] == 3256
    assert data["plain_peak_ram_bytes"] == 7416
    assert data["gap"] == pytest.approx(0.0, abs=1e-6)


def test_windowed_method_gives_a_labelled_verified_approximation(capsys, bound_gap_graph_file):
    """On a graph whose optimum lies above the eviction bound the windowed plan stays an approximation."""
    code, out, err = run_cli(
        capsys, "solve", "--graph", str(bound_gap_graph_file), "--profile", "m4", "--ram-budget", "58",
        "--runtime-budget", "1.01", "--count-paging-time", "--method", "windowed", "--time-limit", "20", "--json",
    )  # fmt: skip
    assert code == EXIT_PLAN, err
    data = json.loads(out)
    assert data["status"] == "feasible"
    assert data["verified"] is True
    assert data["solver"] == "milp-highs-windowed"
    assert data["message"].startswith("approximation")
    assert data["peak_ram_bytes"] <= 58


def test_windowed_method_with_cbc_is_refused_in_one_line(capsys):
    code, _out, err = run_cli(
        capsys, "solve", "--model", "linear", "--profile", "a72", "--ram-budget", "3708", "--runtime-budget", "1.2",
        "--method", "windowed", "--solver", "cbc",
    )  # fmt: skip
    assert code == EXIT_BAD_INPUT
    assert err.strip().count("\n") == 0 and "--method windowed needs --solver highs" in err


def test_infeasible_is_one_json_object_with_the_minimum_ram(capsys):
    code, out, _ = run_cli(
        capsys, "solve", "--model", "linear", "--profile", "m0", "--ram-budget", "2500", "--runtime-budget", "1.2",
        "--json",
    )  # fmt: skip
    assert code == EXIT_NO_PLAN
    data = json.loads(out)
    assert data["status"] == "infeasible"
    assert data["energy_j"] is None and data["verified"] is False
    assert data["min_ram_bytes"] == 3256
    assert "3,256" in data["message"]


def test_budget_as_percent_and_unit(capsys):
    code, out, _ = run_cli(
        capsys, "solve", "--model", "linear", "--profile", "a72", "--ram-budget", "50%", "--runtime-budget", "1.5",
        "--json",
    )  # fmt: skip
    assert code == EXIT_PLAN
    assert json.loads(out)["ram_budget_bytes"] == 3708
    code, out, _ = run_cli(
        capsys, "solve", "--model", "linear", "--profile", "a72", "--ram-budget", "7KiB", "--runtime-budget", "1",
        "--json",
    )  # fmt: skip
    assert json.loads(out)["ram_budget_bytes"] == 7 * 1024


def test_readable_summary_and_schedule(capsys):
    code, out, _ = run_cli(
        capsys, "solve", "--model", "linear", "--profile", "a72", "--ram-budget", "3708", "--runtime-budget", "1.5",
        "--schedule",
    )  # fmt: skip
    assert code == EXIT_PLAN
    assert "optimal (proven)" in out
    assert "verified by the simulator" in out
    assert "page in" in out and "recompute" in out


M4_LINEAR_20 = ["solve", "--model", "linear", "--batch-size", "20", "--profile", "m4", "--runtime-budget", "1"]


def test_a_plan_beyond_the_device_ram_is_a_warning_line_with_the_fix(capsys):
    """Issue 16 item 9: 145 KiB of activations on top of 170 KiB of parameters is verified for its
    budget but cannot run on the nRF52840's 256 KiB; the summary says so and names the option."""
    code, out, _ = run_cli(capsys, *M4_LINEAR_20, "--ram-budget", "100%")
    assert code == EXIT_PLAN
    lines = out.splitlines()
    assert "warning: activations 145 KiB + parameters 170 KiB exceed the nRF52840's 256 KiB" in lines
    assert "--budget-includes-params with --ram-budget 256 KiB or less" in lines[-1]
    code, out, _ = run_cli(capsys, *M4_LINEAR_20, "--ram-budget", "100%", "--json")
    data = json.loads(out)
    assert data["fits_device"] is False
    assert data["warnings"] == ["activations 145 KiB + parameters 170 KiB exceed the nRF52840's 256 KiB"]


def test_counting_the_parameters_in_a_device_sized_budget_clears_the_warning(capsys):
    args = [*M4_LINEAR_20, "--ram-budget", "256KiB", "--budget-includes-params"]
    code, out, _ = run_cli(capsys, *args)
    assert code == EXIT_PLAN and "warning" not in out
    code, out, _ = run_cli(capsys, *args, "--json")
    data = json.loads(out)
    assert (data["fits_device"], data["warnings"]) == (True, [])


def test_a_model_whose_parameters_alone_fill_the_device_says_no_plan_fits(capsys):
    code, out, _ = run_cli(
        capsys, "solve", "--model", "resnet18_cifar", "--profile", "m4", "--ram-budget", "100%",
        "--runtime-budget", "1",
    )  # fmt: skip
    assert code == EXIT_PLAN
    assert "warning: activations 2.34 MiB + parameters 972 KiB exceed the nRF52840's 256 KiB" in out
    assert "the parameters alone fill the device's RAM: no plan for this model fits it" in out


def test_no_plan_has_no_fit_to_judge(capsys):
    code, out, _ = run_cli(
        capsys, "solve", "--model", "linear", "--profile", "m0", "--ram-budget", "2500", "--runtime-budget", "1.2",
        "--json",
    )  # fmt: skip
    assert code == EXIT_NO_PLAN
    assert (json.loads(out)["fits_device"], json.loads(out)["warnings"]) == (None, [])


def test_models_and_profiles_list_their_figures(capsys):
    code, out, _ = run_cli(capsys, "models")
    assert code == EXIT_PLAN
    for name in ("linear", "vgg16", "resnet50", "bert"):
        assert name in out
    # Issue 16 item 22: every row's description starts in the header's column.
    lines = out.splitlines()
    column = lines[0].index("description")
    assert all(line[column - 2 : column] == "  " and line[column] != " " for line in lines[1:])
    code, out, _ = run_cli(capsys, "profiles")
    assert code == EXIT_PLAN
    assert "FLOP/s" in out and "m4" in out
    assert "jetson_tx2" in out and "unusable" in out and "flop_per_s" in out


def solve_argv(model: list[str], **overrides: str) -> list[str]:
    """``solve`` arguments for ``model`` with valid budgets, some replaced by ``overrides``."""
    opts = {"profile": "a72", "ram_budget": "5000", "runtime_budget": "1.5"} | overrides
    return ["solve", *model] + [x for k, v in opts.items() for x in (f"--{k.replace('_', '-')}", v)]


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (solve_argv(["--model", "nosuch"]), "nosuch"),
        (solve_argv(["--model", "linear"], profile="nosuch"), "nosuch"),
        (solve_argv(["--model", "linear"], profile="jetson_tx2"), "flop_per_s"),
        (solve_argv(["--model", "linear"], ram_budget="0"), "--ram-budget"),
        (solve_argv(["--model", "linear"], ram_budget="-5"), "ram-budget"),
        (solve_argv(["--model", "linear"], ram_budget="lots"), "lots"),
        (solve_argv(["--model", "linear"], runtime_budget="0"), "--runtime-budget"),
        (solve_argv(["--model", "linear"], runtime_budget="abc"), "abc"),
        (solve_argv(["--model", "linear", "--batch-size", "0"]), "--batch-size"),
        (solve_argv(["--model", "linear", "--batch-size", "two"]), "two"),
        (solve_argv(["--model", "vgg16", "--seq-len", "8"]), "seq_len"),
        (solve_argv(["--graph", "/nonexistent/graph.json"]), "graph.json"),
        (solve_argv(["--graph", "x.json", "--batch-size", "2"]), "--batch-size"),
        (["solve", "--model", "linear"], "required"),
        (["nosuch-command"], "nosuch-command"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, argv, needle):
    code, out, err = run_cli(capsys, *argv)
    assert code == EXIT_BAD_INPUT
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert needle in lines[0]
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ('{"nodes": [', "line"),
        ("not json at all", "line"),
        ('{"nodes": [{"id": 0, "name": "a", "op": "In", "backward": false, "flop": 0, "out_shape": [1],'
         ' "param_count": 0, "inputs": [1]}, {"id": 1, "name": "b", "op": "L", "backward": false, "flop": 1,'
         ' "out_shape": [1], "param_count": 0, "inputs": [0]}]}', "cycle"),
        ('{"nodes": [{"id": 0, "name": "a", "op": "In", "backward": false, "flop": -3, "out_shape": [1],'
         ' "param_count": 0, "inputs": []}]}', "flop"),
    ],
)  # fmt: skip
def test_bad_graph_files_are_refused_naming_the_file(capsys, tmp_path, content, needle):
    path = tmp_path / "model.json"
    path.write_text(content)
    code, _out, err = run_cli(
        capsys, "solve", "--graph", str(path), "--profile", "a72", "--ram-budget", "5000", "--runtime-budget", "1.5"
    )
    assert code == EXIT_BAD_INPUT
    assert "model.json" in err and needle in err.lower()
    assert len(err.strip().splitlines()) == 1


def test_bad_profile_file_names_file_and_field(capsys, tmp_path):
    bad = tmp_path / "dev.toml"
    text = (ROOT / "profiles" / "m4.toml").read_text().replace("flop_per_s = ", "flop_per_s = -", 1)
    bad.write_text(text)
    code, _, err = run_cli(
        capsys, "solve", "--model", "linear", "--profile", str(bad), "--ram-budget", "5000", "--runtime-budget", "1.5"
    )
    assert code == EXIT_BAD_INPUT
    assert "dev.toml" in err and "flop_per_s" in err


def test_main_py_subprocess_prints_clean_json_and_no_traceback():
    """The real entry point: stdout must be exactly one JSON object (no solver banner)."""
    cmd = [sys.executable, "main.py", "solve", "--model", "linear", "--profile", "m4", "--ram-budget", "3256"]
    ok = subprocess.run([*cmd, "--runtime-budget", "10", "--json"], cwd=ROOT, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["status"] == "optimal"
    bad = subprocess.run([*cmd, "--runtime-budget", "-1"], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


def test_main_py_help_says_no_subcommand_opens_the_app_and_lists_both():
    """Issue 16 item 17: one help describes the app's options and the subcommands, without Qt."""
    done = subprocess.run([sys.executable, "main.py", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "Without a subcommand, main.py opens the app" in text
    for option in ("--screenshot", "--size", "--model", "--profile", "--ram-budget", "--wait-sweep"):
        assert option in text
    for command in ("solve", "verify", "sweep", "models", "profiles"):
        assert f"  {command} " in text
    solve_help = subprocess.run([sys.executable, "main.py", "solve", "--help"], cwd=ROOT, capture_output=True,
                                text=True)  # fmt: skip
    assert "the app uses 30" in " ".join(solve_help.stdout.split())


def test_a_feasible_status_says_which_limit_stopped_the_search():
    """Issue 16 item 22: not 'the time limit or the requested gap', but the one that applied."""
    from poet_gui.cli import _why_stopped
    from poet_gui.core.solve.milp import SolverOptions

    options = SolverOptions(time_limit_s=30, rel_gap=0.01)
    assert _why_stopped(0.05, options) == "stopped at the 30 s time limit"
    assert _why_stopped(None, options) == "stopped at the 30 s time limit"
    assert _why_stopped(0.004, options) == "reached the requested gap 1.00%"
    assert _why_stopped(0.05, None) == "stopped before proving an optimum"


def test_a_feasible_status_names_the_limit_beside_what_the_search_did():
    """A note on how the plan was found (the tensor-group search) does not hide which limit stopped it."""
    from types import SimpleNamespace

    from poet_gui.cli import _status_line
    from poet_gui.core.schedule.plan import SolveStatus
    from poet_gui.core.solve.milp import SolverOptions

    plan = SimpleNamespace(status=SolveStatus.FEASIBLE, gap=0.334, bound_j=538e-6, strategy="milp-highs", solve_s=28.4,
                           message="before branch and bound, 3 of 23 tensor groups improved the plan")  # fmt: skip
    line = _status_line(SimpleNamespace(plan=plan), SolverOptions(time_limit_s=30))
    assert line == (
        "feasible, within 33.40% of optimal, bound 538 µJ (stopped at the 30 s time limit; before branch and "
        "bound, 3 of 23 tensor groups improved the plan), milp-highs, 28.40 s"
    )
