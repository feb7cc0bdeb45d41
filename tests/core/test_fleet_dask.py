"""Fleet sweeps on real Dask clusters: ``dask scheduler`` and ``dask worker`` processes on
127.0.0.1, started here and stopped by PID. The cluster's rows equal the local sweep's, a worker
killed mid-sweep loses no point and duplicates none, a resumed sweep re-solves nothing, Ctrl-C leaves
no solver running on any worker, and bad or unreachable schedulers and workers without the project
are one line and exit 2, never a hang."""

from __future__ import annotations

import math
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_runner import run_cli
from dask_cluster import Cluster, start_cluster
from distributed import Client

from poet_gui.cli import EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_PLAN
from poet_gui.core.device.profiles import load_profile
from poet_gui.core.model.onnx_import import load_onnx_graph
from poet_gui.core.model.zoo import build_model
from poet_gui.core.schedule.problem import Switches
from poet_gui.core.solve.milp import SolverOptions
from poet_gui.core.sweep import fleet_dask
from poet_gui.core.sweep.fleet import FleetModel, fleet_tasks, run_fleet
from poet_gui.core.sweep.fleet_csv import read_fleet_csv

ROOT = Path(__file__).resolve().parents[2]
SMALL_CNN = ROOT / "poet_gui" / "samples" / "small_cnn.onnx"
#: 2 models x 2 devices x 3 budgets, every point proven optimal (or infeasible) in well under a second.
GRID = ["--model", "linear,transformer", "--seq-len", "4", "--profile", "a72,m4",
        "--budgets", "60%,80%,100%", "--runtime-factors", "1.2"]  # fmt: skip
QUICK = ["sweep", "--model", "linear", "--profile", "a72", "--points", "2"]
#: What may differ between two runs of the same point: the solver's seconds.
TIMED = {"solve_s"}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Cluster:
    running = start_cluster(tmp_path_factory.mktemp("dask"))
    yield running
    running.stop()


@pytest.fixture
def client(cluster):
    with Client(cluster.address, set_as_default=False) as c:
        yield c


def assert_same_rows(a: Path, b: Path) -> None:
    """Same points, statuses and figures; energies within 1e-9 relative for proven optima."""
    left, right = ({r.key: r for r in read_fleet_csv(p)} for p in (a, b))
    assert left.keys() == right.keys()
    for k, x in left.items():
        y = right[k]
        assert x.status == y.status, (x, y)
        if x.is_optimal:
            assert math.isclose(x.energy_j, y.energy_j, rel_tol=1e-9), (x, y)
        for name in x.__dataclass_fields__:
            if name not in TIMED | {"energy_j"}:
                assert getattr(x, name) == getattr(y, name), (name, x, y)


def test_the_cluster_sweep_equals_the_local_one_and_resumes_without_solving(capsys, tmp_path, cluster, monkeypatch):
    local, remote = tmp_path / "local.csv", tmp_path / "remote.csv"
    code, _, err = run_cli(capsys, "sweep", *GRID, "--jobs", "2", "--csv", str(local))
    assert code == EXIT_PLAN, err
    code, out, err = run_cli(capsys, "sweep", *GRID, "--scheduler", cluster.address, "--csv", str(remote))
    assert code == EXIT_PLAN, err
    assert "12 points" in out and "12 solved, 0 already in the table" in out
    rows = read_fleet_csv(remote)
    assert len(rows) == 12 and {r.status for r in rows} == {"optimal", "infeasible"}
    assert_same_rows(local, remote)

    first = remote.read_bytes()
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", cluster.address)  # the other way to name the cluster
    code, out, err = run_cli(capsys, "sweep", *GRID, "--csv", str(remote))
    assert code == EXIT_PLAN, err
    assert "0 solved, 12 already in the table" in out and remote.read_bytes() == first


def test_a_local_dask_cluster_gives_the_same_rows(capsys, tmp_path):
    local, dask = tmp_path / "local.csv", tmp_path / "dask.csv"
    grid = ["--model", "linear", "--profile", "a72,m4", "--budgets", "60%,100%", "--runtime-factors", "1.2"]
    assert run_cli(capsys, "sweep", *grid, "--jobs", "1", "--csv", str(local))[0] == EXIT_PLAN
    code, out, err = run_cli(capsys, "sweep", *grid, "--dask-local", "2", "--csv", str(dask))
    assert code == EXIT_PLAN, err
    assert "4 solved" in out
    assert_same_rows(local, dask)


def test_a_worker_killed_mid_sweep_loses_no_point_and_duplicates_none(tmp_path):
    """Points of about a second each (small_cnn, 1 s limit) beside quick ones; once the first row is
    in, the worker running a point is killed (SIGKILL): Dask reruns its point elsewhere."""
    own = start_cluster(tmp_path)
    try:
        models = [FleetModel("linear", "", build_model("linear")),
                  FleetModel(str(SMALL_CNN), "", load_onnx_graph(SMALL_CNN, dims={}).graph)]  # fmt: skip
        tasks = fleet_tasks(
            models, [load_profile("a72"), load_profile("m4")],
            budgets=lambda ref: (ref.plain_peak_ram_bytes * 0.4, ref.plain_peak_ram_bytes * 0.6),
            runtime_factors=(1.2,), switches=Switches(), options=SolverOptions(time_limit_s=1.0),
        )  # fmt: skip
        assert len(tasks) == 8
        table = tmp_path / "fleet.csv"
        killed: list[int] = []
        with Client(own.address, set_as_default=False) as client:
            pids = client.run(os.getpid)

            def kill_a_busy_worker(row) -> None:
                if killed:
                    return
                busy = [addr for addr, keys in client.processing().items() if keys]
                assert busy, "no worker was running a point when the first row arrived"
                killed.append(pids[busy[0]])
                os.kill(pids[busy[0]], signal.SIGKILL)

            run = run_fleet(tasks, table, fleet_dask.DaskExecutor(client), on_row=kill_a_busy_worker)
        assert killed and run.solved == 8
        rows = read_fleet_csv(table)
        assert sorted(r.key for r in rows) == sorted(t.key for t in tasks)  # every point, each once
        assert all(r.status in ("optimal", "feasible", "infeasible") for r in rows)
    finally:
        own.stop()


def test_ctrl_c_stops_every_solver_on_the_workers(tmp_path, cluster, client):
    """Two points that take ~20 s each to prove; SIGINT once both run on the workers: the sweep
    exits 130 and no worker is left solving (client.cancel alone would leave both running)."""
    table = tmp_path / "fleet.csv"
    cmd = [sys.executable, "main.py", "sweep", "--onnx", str(SMALL_CNN), "--profile", "a72,m4", "--budgets", "40%",
           "--runtime-factors", "1.2", "--time-limit", "120", "--scheduler", cluster.address, "--csv", str(table)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while sum(client.run(fleet_dask.running_solves).values()) < 2:
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() else ""
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=40)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == EXIT_INTERRUPTED, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert lines[-2] == f"interrupted by SIGINT: 0 of 2 points written to {table}"
    assert lines[-1].startswith("stopped: no solver running on any Dask worker (")
    assert sum(client.run(fleet_dask.running_solves).values()) == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    ("address", "needle"),
    [
        ("nonsense", "missing port number"),
        ("foo://127.0.0.1:8786", "unknown address scheme 'foo'"),
        ("unreachable", "Timed out trying to connect"),
    ],
)
def test_a_bad_or_unreachable_scheduler_is_one_line_and_exit_2(capsys, tmp_path, address, needle):
    address = f"tcp://127.0.0.1:{_free_port()}" if address == "unreachable" else address
    started = time.monotonic()
    code, out, err = run_cli(capsys, *QUICK, "--scheduler", address, "--connect-timeout", "2",
                             "--csv", str(tmp_path / "x.csv"))  # fmt: skip
    assert code == EXIT_BAD_INPUT and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"poet: error: {address}: cannot connect to a Dask scheduler: ")
    assert needle in err and time.monotonic() - started < 30  # a connect timeout, not a hang


def test_a_worker_without_the_project_is_one_line_and_exit_2(capsys, tmp_path):
    own = start_cluster(tmp_path, workers=1, has_project=False)
    try:
        code, out, err = run_cli(capsys, *QUICK, "--scheduler", own.address, "--csv", str(tmp_path / "x.csv"))
    finally:
        own.stop()
    assert code == EXIT_BAD_INPUT and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "a Dask worker cannot run POET Studio" in lines[0] and "poet_gui" in lines[0]
    assert not (tmp_path / "x.csv").exists()


def test_no_worker_is_one_line_after_the_connect_timeout(capsys, tmp_path):
    own = start_cluster(tmp_path, workers=0)
    try:
        code, out, err = run_cli(capsys, *QUICK, "--scheduler", own.address, "--connect-timeout", "1",
                                 "--csv", str(tmp_path / "x.csv"))  # fmt: skip
    finally:
        own.stop()
    assert code == EXIT_BAD_INPUT and out == ""
    assert err.strip() == f"poet: error: {own.address}: no Dask worker joined the scheduler within 1 s"
