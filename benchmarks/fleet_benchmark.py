"""Benchmark: fleet-sweep throughput (points per minute) on local workers and on a real Dask cluster.

    python3 benchmarks/fleet_benchmark.py --out benchmarks/FLEET.md

One grid, solved from scratch four times in this process: local worker processes with 1 and with 2
workers (the baseline is 1), a `dask scheduler` with two `dask worker` processes (one thread each) on
127.0.0.1, and `--dask-local 2`. Each point is small_cnn on a72 or m4 at a RAM budget from 40 % to
90 % of the plain peak with a 2 s time limit, so every point does real solver work of about the same
size. Cluster start-up is timed separately and left out of the rate. Needs the [cluster] extra.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import distributed

from poet_gui.core.atomic import write_text_atomic
from poet_gui.core.device.profiles import load_profile
from poet_gui.core.model.onnx_import import load_onnx_graph
from poet_gui.core.schedule.problem import Switches
from poet_gui.core.solve.milp import SolverOptions
from poet_gui.core.sweep import fleet_dask
from poet_gui.core.sweep.fleet import FleetModel, fleet_tasks, local_executor, run_fleet

ROOT = Path(__file__).resolve().parents[1]
SMALL_CNN = ROOT / "poet_gui" / "samples" / "small_cnn.onnx"
FRACTIONS = (0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def grid(time_limit_s: float):
    model = FleetModel("small_cnn.onnx", "", load_onnx_graph(SMALL_CNN, dims={}).graph)
    return fleet_tasks(
        [model], [load_profile("a72"), load_profile("m4")],
        budgets=lambda ref: tuple(float(round(ref.plain_peak_ram_bytes * f)) for f in FRACTIONS),
        runtime_factors=(1.2,), switches=Switches(), options=SolverOptions(time_limit_s=time_limit_s),
    )  # fmt: skip


def timed(tasks, execute, folder: Path, name: str) -> float:
    """Points per minute of one run, from an empty table."""
    started = time.perf_counter()
    run = run_fleet(tasks, folder / f"{name}.csv", execute)
    elapsed = time.perf_counter() - started
    assert run.solved == len(tasks), run
    return len(tasks) / elapsed * 60.0


def start_scheduler(folder: Path) -> tuple[list[subprocess.Popen], str]:
    file = folder / "scheduler.json"
    procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                               "--port", "0", "--no-dashboard", "--scheduler-file", str(file)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]  # fmt: skip
    while not file.exists():
        time.sleep(0.05)
    time.sleep(0.1)
    address = json.loads(file.read_text())["address"]
    for _ in range(2):
        procs.append(subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address, "--nworkers", "1",
                                       "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))  # fmt: skip
    return procs, address


def stop(procs: list[subprocess.Popen]) -> None:
    for group in (procs[1:], procs[:1]):
        for p in group:
            p.terminate()
        for p in group:
            p.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-limit", type=float, default=2.0)
    parser.add_argument("--out", type=Path, help="write the Markdown report here")
    args = parser.parse_args()
    tasks = grid(args.time_limit)
    rates: dict[str, float] = {}
    startup: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rates["local, 1 worker process"] = timed(tasks, local_executor(1), folder, "local1")
        rates["local, 2 worker processes"] = timed(tasks, local_executor(2), folder, "local2")
        started = time.perf_counter()
        procs, address = start_scheduler(folder)
        try:
            client = fleet_dask.connect(address, timeout_s=60)
            client.wait_for_workers(2, timeout=60)
            startup["dask scheduler + 2 workers"] = time.perf_counter() - started
            with client:
                rates["dask scheduler + 2 dask workers (127.0.0.1)"] = timed(
                    tasks, fleet_dask.DaskExecutor(client), folder, "dask"
                )
        finally:
            stop(procs)
        started = time.perf_counter()
        cluster, client = fleet_dask.local_cluster(2)
        startup["--dask-local 2"] = time.perf_counter() - started
        with cluster, client:
            rates["--dask-local 2 (LocalCluster)"] = timed(tasks, fleet_dask.DaskExecutor(client), folder, "dasklocal")
    base = rates["local, 1 worker process"]
    lines = [
        "# Fleet sweep throughput",
        "",
        f"`python3 benchmarks/fleet_benchmark.py --out benchmarks/FLEET.md`, one run; {len(tasks)} points "
        f"(small_cnn.onnx on a72 and m4, RAM budgets {', '.join(f'{f:.0%}' for f in FRACTIONS)} of the plain peak, "
        f"runtime 1.2x, {args.time_limit:g} s time limit, one HiGHS thread per point), each mode from an empty table.",
        "",
        f"Machine: {platform.platform()}, {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}, distributed {distributed.__version__}, highspy {version('highspy')}.",
        "",
        "| where the points run | points per minute | ratio to local, 1 worker |",
        "|---|---|---|",
        *(f"| {name} | {rate:.1f} | {rate / base:.2f} |" for name, rate in rates.items()),
        "",
        "Start-up, not in the rates: " + "; ".join(f"{k} {v:.1f} s" for k, v in startup.items()) + ". "
        "The local rates include starting their worker processes (each run starts its own pool, as `sweep` "
        "does); the Dask workers were already running (not measured apart here: it may explain their lead "
        "on this small grid). "
        "With two cores, two workers can at best double the rate.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        write_text_atomic(args.out, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
