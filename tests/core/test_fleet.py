"""Fleet sweeps without a cluster: the grid, the keys, the CSV and resuming, and that the app and the
CLI start without loading Dask (an optional extra)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
from cli_runner import run_cli

import poet_gui.core.sweep
from poet_gui.cli import EXIT_BAD_INPUT, EXIT_PLAN
from poet_gui.core.device.profiles import load_profile
from poet_gui.core.errors import PoetError
from poet_gui.core.schedule.problem import Switches
from poet_gui.core.solve.milp import SolverOptions
from poet_gui.core.sweep import fleet
from poet_gui.core.sweep.fleet_csv import FLEET_COLUMNS, fleet_csv_text, read_fleet_csv

ROOT = Path(__file__).resolve().parents[2]
#: 2 models x 2 devices x 3 budgets, every point solved in well under a second.
GRID = ["--model", "linear,transformer", "--seq-len", "4", "--profile", "a72", "--profile", "m4",
        "--budgets", "60%,80%,100%", "--runtime-factors", "1.2"]  # fmt: skip


def key(graph, profile, **changes):
    args = {"ram_budget_bytes": 5000.0, "runtime_factor": 1.2, "switches": Switches(), "options": SolverOptions()}
    return fleet.point_key(graph, profile, **(args | changes))


def test_the_key_changes_with_everything_the_answer_depends_on(linear, a72, monkeypatch):
    m4 = load_profile("m4")
    base = key(linear, a72)
    assert key(linear, a72) == base and len(base) == 16
    assert key(linear, dataclasses.replace(a72, source="/elsewhere/a72.toml")) == base  # the file is no figure
    others = [
        key(linear, m4),
        key(linear, dataclasses.replace(a72, paging_power_w=a72.paging_power_w * 2)),
        key(linear, a72, ram_budget_bytes=5001.0),
        key(linear, a72, runtime_factor=1.5),
        key(linear, a72, switches=Switches(paging=False)),
        key(linear, a72, switches=Switches(budget_includes_params=True)),
        key(linear, a72, options=SolverOptions(time_limit_s=5.0)),
        key(linear, a72, options=SolverOptions(threads=SolverOptions().threads + 1)),
    ]
    monkeypatch.setattr(fleet, "__version__", "9.9.9")
    others.append(key(linear, a72))
    assert len({base, *others}) == len(others) + 1


def test_a_grid_sweep_streams_keyed_rows_and_a_rerun_solves_nothing(capsys, tmp_path):
    table = tmp_path / "fleet.csv"
    code, out, err = run_cli(capsys, "sweep", *GRID, "--jobs", "2", "--csv", str(table))
    assert code == EXIT_PLAN, err
    assert "12 points (2 models x 2 devices x 1 runtime factor x RAM budgets)" in out
    assert "12 solved, 0 already in the table" in out
    assert len([line for line in err.splitlines() if line.startswith("sweep: ")]) == 12
    rows = read_fleet_csv(table)
    assert len(rows) == 12 and len({r.key for r in rows}) == 12
    assert {(r.model, r.model_args, r.profile) for r in rows} == {
        ("linear", "", "a72"), ("linear", "", "m4"), ("transformer", "seq_len=4", "a72"),
        ("transformer", "seq_len=4", "m4"),
    }  # fmt: skip
    assert {r.status for r in rows} == {"optimal", "infeasible"}
    assert all(r.peak_ram_bytes <= r.ram_budget_bytes for r in rows if r.has_plan)
    first = table.read_bytes()
    assert first.decode().splitlines()[0] == ",".join(FLEET_COLUMNS)

    code, out, _ = run_cli(capsys, "sweep", *GRID, "--jobs", "2", "--csv", str(table))
    assert code == EXIT_PLAN and "0 solved, 12 already in the table" in out
    assert table.read_bytes() == first  # nothing re-solved, nothing rewritten


def test_a_partial_table_is_completed_without_solving_its_rows_again(capsys, tmp_path):
    """A killed sweep's table (here: the first five rows of a finished one) resumes where it stopped."""
    whole, table = tmp_path / "whole.csv", tmp_path / "partial.csv"
    assert run_cli(capsys, "sweep", *GRID, "--jobs", "2", "--csv", str(whole))[0] == EXIT_PLAN
    lines = whole.read_text().splitlines(keepends=True)
    table.write_text("".join(lines[:6]))
    code, out, _ = run_cli(capsys, "sweep", *GRID, "--jobs", "2", "--csv", str(table))
    assert code == EXIT_PLAN and "7 solved, 5 already in the table" in out
    kept = {r.key: r for r in read_fleet_csv(table)}
    assert len(kept) == 12
    for row in read_fleet_csv(whole)[:5]:
        assert kept[row.key] == row  # the old rows as they were, solve_s included


def test_the_csv_round_trips_byte_for_byte(capsys, tmp_path):
    table = tmp_path / "fleet.csv"
    assert run_cli(capsys, "sweep", *GRID, "--jobs", "2", "--csv", str(table))[0] == EXIT_PLAN
    assert fleet_csv_text(read_fleet_csv(table)) == table.read_text()


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda lines: ["ram_budget_bytes,status\n", *lines[1:]], "line 1: not a fleet sweep CSV"),
        (lambda lines: [*lines[:2], "abc,def\n"], "line 3: expected 21 cells, got 2"),
        (lambda lines: [lines[0], lines[1].replace(",optimal,", ",great,")], "line 2: status must be one of"),
        (lambda lines: [lines[0], lines[1].replace(",1.2,", ",fast,")], "line 2: runtime_factor must be a number"),
    ],
)
def test_a_malformed_table_is_refused_in_one_line_naming_the_line(capsys, tmp_path, edit, needle):
    table = tmp_path / "fleet.csv"
    assert run_cli(capsys, "sweep", *GRID, "--jobs", "2", "--csv", str(table))[0] == EXIT_PLAN
    table.write_text("".join(edit(table.read_text().splitlines(keepends=True))))
    code, out, err = run_cli(capsys, "sweep", *GRID, "--jobs", "2", "--csv", str(table))
    assert code == EXIT_BAD_INPUT and out == ""
    assert len(err.strip().splitlines()) == 1 and str(table) in err and needle in err
    with pytest.raises(PoetError, match="not a fleet sweep CSV"):
        read_fleet_csv(ROOT / "pyproject.toml")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--profile", "a72", "--points", "3"], "sweep needs a model"),
        (["--model", "linear", "--profile", "a72,m4", "--points", "3", "--png", "x.png"], "--png plots one model"),
        (["--model", "linear", "--resolution", "8", "--profile", "a72", "--points", "3"],
         "--resolution applies to none"),
        (["--model", "linear", "--profile", "a72", "--points", "3", "--scheduler", "x", "--dask-local", "2"],
         "not allowed with"),
    ],
)
def test_bad_grids_are_one_line_and_exit_2(capsys, tmp_path, args, needle):
    code, out, err = run_cli(capsys, "sweep", *args, "--csv", str(tmp_path / "x.csv"))
    assert code == EXIT_BAD_INPUT and out == ""
    assert len(err.strip().splitlines()) == 1 and needle in err


def test_a_profile_given_by_file_is_named_by_its_path_not_a_shipped_profiles_key(capsys, tmp_path):
    """A calibrated /tmp/.../m4.toml is not the shipped m4: its rows name the file, which loads again."""
    from poet_gui.core.device.profiles import DEFAULT_PROFILES_DIR

    copy = tmp_path / "m4.toml"
    calibrated = (DEFAULT_PROFILES_DIR / "m4.toml").read_text().replace("flop_per_s = 6369910.145264308",
                                                                          "flop_per_s = 7000000.0")  # fmt: skip
    copy.write_text(calibrated)
    table = tmp_path / "x.csv"
    code, _, err = run_cli(capsys, "sweep", "--model", "linear", "--profile", f"m4,{copy}", "--points", "2",
                           "--runtime-factors", "1.2", "--csv", str(table))  # fmt: skip
    assert code == EXIT_PLAN, err
    names = {row.profile for row in read_fleet_csv(table)}
    assert names == {"m4", str(copy.resolve())}
    assert load_profile(str(copy.resolve())).compute_flop_per_s == 7e6 != load_profile("m4").compute_flop_per_s


def test_two_sizes_of_a_model_in_one_table_are_two_models_in_the_report(capsys, tmp_path):
    """A table extended with another sequence length and with paging off: each variant gets its own
    label, chart and table rows, instead of one curve mixing their points."""
    from poet_gui.core.sweep.fleet_csv import model_labels
    from poet_gui.core.sweep.fleet_report import write_fleet_report
    from poet_gui.core.sweep.fleet_summary import fleet_summary

    table = tmp_path / "fleet.csv"
    for extra in (["--seq-len", "4"], ["--seq-len", "8"], ["--seq-len", "4", "--no-paging"]):
        code, _, err = run_cli(capsys, "sweep", "--model", "transformer", *extra, "--profile", "a72", "--points", "2",
                               "--runtime-factors", "1.5", "--csv", str(table))  # fmt: skip
        assert code == EXIT_PLAN, err
    rows = read_fleet_csv(table)
    labels = set(model_labels(rows).values())
    assert labels == {"transformer (seq_len=4)", "transformer (seq_len=8)", "transformer (seq_len=4) [no paging]"}
    assert {c.model for c in fleet_summary(rows)} == labels
    assert len([p for p in write_fleet_report(rows, tmp_path / "report") if p.suffix == ".png"]) == 3
    one = [r for r in rows if r.model_args == "seq_len=8"]
    assert set(model_labels(one).values()) == {"transformer"}  # a single variant keeps its plain name


def test_a_report_path_that_is_a_file_is_refused_before_solving(capsys, tmp_path):
    taken = tmp_path / "report"
    taken.write_text("not a folder")
    code, out, err = run_cli(capsys, "sweep", "--model", "linear", "--profile", "a72", "--points", "3",
                             "--csv", str(tmp_path / "x.csv"), "--report", str(taken))  # fmt: skip
    assert code == EXIT_BAD_INPUT and out == "" and len(err.strip().splitlines()) == 1
    assert "it is a file, not a folder" in err and not (tmp_path / "x.csv").exists()


def test_without_dask_the_cluster_options_say_how_to_install_it(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if the [cluster] extra were not installed
    monkeypatch.delitem(sys.modules, "poet_gui.core.sweep.fleet_dask", raising=False)
    monkeypatch.delattr(poet_gui.core.sweep, "fleet_dask", raising=False)  # set once another test imported it
    for where in (["--scheduler", "tcp://127.0.0.1:8786"], ["--dask-local", "2"]):
        code, out, err = run_cli(capsys, "sweep", "--model", "linear", "--profile", "a72", "--points", "2", *where,
                                 "--csv", str(tmp_path / "x.csv"))  # fmt: skip
        assert code == EXIT_BAD_INPUT and out == ""
        assert len(err.strip().splitlines()) == 1 and 'pip install -e ".[cluster]"' in err and where[0] in err


def test_the_cli_and_the_app_start_without_loading_dask():
    probe = (
        "import importlib.util, sys\n"
        "import poet_gui.cli\n"
        "poet_gui.cli.main(['models'])\n"
        "if importlib.util.find_spec('PySide6'):\n"
        "    import poet_gui.ui.app, poet_gui.ui.main_window\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed'))\n"
        "print('loaded:', loaded)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "loaded: []"


def test_the_report_charts_each_model_and_names_the_cheapest_device_that_fits(capsys, tmp_path):
    table, report = tmp_path / "fleet.csv", tmp_path / "report"
    code, out, err = run_cli(capsys, "sweep", *GRID, "--jobs", "2", "--csv", str(table), "--report", str(report))
    assert code == EXIT_PLAN, err
    assert f"saved    fleet report {report} (5 files)" in out
    for model in ("linear", "transformer"):
        assert (report / f"{model}.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
        assert b"<svg" in (report / f"{model}.svg").read_bytes()[:500]
    text = (report / "fleet.md").read_text()
    summary = text.split("## linear")[0]
    # linear fits both; the m4 spends less energy. transformer's 28 MB of parameters fit only the a72.
    assert "| linear | 1.2× | m4 | 3,256 B | 4,449 B | 455.8 µJ | optimal (proven) |" in summary
    assert "| transformer | 1.2× | a72 | 120 KiB |" in summary
    assert "| 1.2× | m4 | 120 KiB | no swept budget fits the device | | |" in text
    assert "![linear: energy against RAM budget](linear.svg)" in text
