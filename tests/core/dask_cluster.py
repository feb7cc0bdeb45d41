"""Real Dask clusters for the fleet tests: a ``dask scheduler`` and ``dask worker`` processes on
127.0.0.1 (free ports, no dashboard, one thread per worker), stopped by PID."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

#: A worker that cannot import the project, as on a machine where it is not installed.
WITHOUT_PROJECT = (
    "import sys; sys.modules['poet_gui'] = None; from distributed.cli.dask_worker import main; main()"
)


@dataclass
class Cluster:
    """The processes of one cluster; :meth:`stop` ends each by its PID (and the workers' children)."""

    address: str
    processes: list[subprocess.Popen] = field(default_factory=list)

    def stop(self) -> None:
        family = [psutil.Process(p.pid) for p in self.processes if p.poll() is None]
        children = [c for p in family for c in _children(p)]
        # The workers first, then the scheduler: a worker whose scheduler vanishes while it closes
        # waits 8 s before its nanny kills it.
        workers, scheduler = self.processes[1:], self.processes[:1]
        for group in (workers, scheduler):
            for proc in group:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            for proc in group:
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        _, alive = psutil.wait_procs(children, timeout=5)
        for child in alive:
            child.kill()


def _children(proc: psutil.Process) -> list[psutil.Process]:
    try:
        return proc.children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def start_cluster(folder: Path, *, workers: int = 2, has_project: bool = True) -> Cluster:
    """A scheduler and ``workers`` workers, each worker a nanny with one daemonic worker process (as
    ``dask worker --nworkers 1`` starts them), or, without the project, a worker that cannot import it."""
    log = (folder / "dask.log").open("ab")
    scheduler_file = folder / "scheduler.json"
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
         "--no-dashboard", "--scheduler-file", str(scheduler_file)],
        stdout=log, stderr=log, start_new_session=True,
    )  # fmt: skip
    cluster = Cluster("", [scheduler])
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists():
            assert scheduler.poll() is None and time.monotonic() < deadline, "the dask scheduler did not start"
            time.sleep(0.05)
        time.sleep(0.05)  # the file is written in one go, but give the writer its close
        cluster.address = json.loads(scheduler_file.read_text())["address"]
        common = [cluster.address, "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1", "--death-timeout", "60"]
        for _ in range(workers):
            if has_project:
                cmd = [sys.executable, "-m", "distributed.cli.dask_worker", *common, "--nworkers", "1"]
            else:  # no nanny: the import block must live in the worker's own process
                cmd = [sys.executable, "-c", WITHOUT_PROJECT, *common, "--no-nanny"]
            cluster.processes.append(
                subprocess.Popen(cmd, stdout=log, stderr=log, start_new_session=True, env=dict(os.environ))
            )
        if workers:
            wait_for_workers(cluster.address, workers)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def wait_for_workers(address: str, count: int, timeout_s: float = 60.0) -> None:
    from distributed import Client

    with Client(address, timeout=timeout_s, set_as_default=False) as client:
        client.wait_for_workers(count, timeout=timeout_s)
