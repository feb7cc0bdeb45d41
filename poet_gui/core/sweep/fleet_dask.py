"""Fleet sweeps on a Dask cluster: a scheduler's address, or a :class:`distributed.LocalCluster`.

The only module that imports Dask (an optional extra, ``pip install -e ".[cluster]"``; an
import-linter contract keeps it here), so the app and the CLI start without it.

Dask workers are daemonic processes and cannot start ``multiprocessing`` children, so each point is
solved in the worker's own process (:func:`~poet_gui.core.sweep.fleet.solve_task`) with the solver's
time limit inside HiGHS. ``client.cancel`` only forgets a running task, it does not stop it; so
every task also watches a cluster-wide :class:`distributed.Event` and interrupts its solver when the
sweep sets it (Ctrl-C), and the sweep waits until no worker reports a solve in progress before it
returns (:attr:`DaskExecutor.cancel_report` says how long that took). A worker lost mid-sweep is
Dask's to handle: its tasks are rescheduled on the others, and :func:`run_fleet` files each key once.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence

import distributed
import distributed.comm
from distributed import Client, Event, LocalCluster

from poet_gui import __version__
from poet_gui.core.errors import PoetError
from poet_gui.core.sweep.fleet import FleetTask, solve_task
from poet_gui.core.sweep.fleet_csv import FleetRow

#: How long connecting to a scheduler, and waiting for its first worker, may take.
CONNECT_TIMEOUT_S = 10.0
#: How often a running task checks the cancel event (the scheduler answers each check).
_CANCEL_POLL_S = 0.5
#: How long a cancelled sweep waits for the workers to report their solves stopped.
_STOP_WAIT_S = 30.0

_running = 0
_running_lock = threading.Lock()


def running_solves() -> int:
    """Solves in progress in this worker process (run on every worker by ``client.run``)."""
    return _running


def worker_version() -> str:
    """The program version a worker runs; it can only answer if the worker has the project installed."""
    return __version__


def solve_on_worker(task: FleetTask, cancel_event: str) -> FleetRow:
    """A Dask task: solve one point here, stopping the solver once the sweep sets ``cancel_event``."""
    global _running
    cancel, finished = threading.Event(), threading.Event()
    event = Event(cancel_event, client=distributed.get_client())
    watcher = threading.Thread(target=_watch, args=(event, cancel, finished), name="poet-cancel-watch", daemon=True)
    with _running_lock:
        _running += 1
    try:
        watcher.start()
        return solve_task(task, cancel)
    finally:
        finished.set()
        with _running_lock:
            _running -= 1


def _watch(event: Event, cancel: threading.Event, finished: threading.Event) -> None:
    """Poll the sweep's cancel event until the solve ends (a short question each time, not a wait
    held open on the scheduler). If the scheduler is gone the poll fails and the watch ends: the
    worker is then cut off anyway, and the solver's time limit still ends the solve."""
    while not finished.wait(_CANCEL_POLL_S):
        try:
            if event.is_set():
                cancel.set()
                return
        except (OSError, RuntimeError):
            return


def connect(address: str, *, timeout_s: float = CONNECT_TIMEOUT_S) -> Client:
    """A client of the scheduler at ``address`` whose workers all run this program's version.

    Refused in one line (a :class:`PoetError`), never a hang: a malformed address, a scheduler that
    does not answer within ``timeout_s``, no worker within ``timeout_s``, or a worker without the
    project (or with another version of it) installed.
    """
    try:
        asyncio.run(asyncio.wait_for(_handshake(address, timeout_s), timeout_s + 1.0))
    except Exception as exc:  # a malformed address, no answer, or a service that is no Dask scheduler
        raise PoetError(f"{address}: cannot connect to a Dask scheduler: {_reason(exc)}") from None
    # The handshake first: a Client that fails to start spends 20 s closing itself when collected.
    client = Client(address, timeout=timeout_s, set_as_default=False)
    try:
        check_workers(client, address, timeout_s=timeout_s)
    except BaseException:
        client.close()
        raise
    return client


async def _handshake(address: str, timeout_s: float) -> None:
    """Open a Dask connection to ``address`` and close it: its handshake proves a Dask peer answers."""
    comm = await distributed.comm.connect(address, timeout=timeout_s)
    await comm.close()


def local_cluster(workers: int) -> tuple[LocalCluster, Client]:
    """A :class:`LocalCluster` of ``workers`` processes with one thread each, and its client: the
    cluster path on one machine. Its workers start from this interpreter, so they have the project."""
    cluster = LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=logging.ERROR
    )
    client = Client(cluster, set_as_default=False)
    try:
        check_workers(client, "--dask-local", timeout_s=CONNECT_TIMEOUT_S)
    except BaseException:
        client.close()
        cluster.close()
        raise
    return cluster, client


def check_workers(client: Client, where: str, *, timeout_s: float) -> None:
    """Wait for a worker, then ask every worker for its program version (see :func:`connect`)."""
    try:
        client.wait_for_workers(1, timeout=timeout_s)
    except TimeoutError:
        raise PoetError(f"{where}: no Dask worker joined the scheduler within {timeout_s:g} s") from None
    try:
        versions = client.run(worker_version)
    except Exception as exc:  # whatever the worker raised while unpickling or running the probe
        raise PoetError(
            f"{where}: a Dask worker cannot run POET Studio ({_reason(exc)}); install the project on every "
            'worker (pip install -e ".[cluster]")'
        ) from exc
    other = {addr: v for addr, v in versions.items() if v != __version__}
    if other:
        addr, version = next(iter(other.items()))
        raise PoetError(f"{where}: Dask worker {addr} runs POET Studio {version}, this is {__version__}")


class DaskExecutor:
    """Runs fleet tasks on a client's cluster; an :data:`~poet_gui.core.sweep.fleet.Executor`."""

    def __init__(self, client: Client) -> None:
        self._client = client
        #: After an interrupted run: how the workers' solves were stopped, for the user.
        self.cancel_report: str | None = None

    def __call__(self, tasks: Sequence[FleetTask], on_row: Callable[[FleetRow], None]) -> None:
        run = uuid.uuid4().hex[:12]
        event_name = f"poet-fleet-cancel-{run}"
        futures = [
            self._client.submit(solve_on_worker, task, event_name, key=f"poet-point-{task.key}-{run}", pure=False)
            for task in tasks
        ]
        by_key = {f.key: task for f, task in zip(futures, tasks, strict=True)}
        try:
            for future in distributed.as_completed(futures, loop=self._client.loop):
                if future.status == "cancelled":  # not by us: the scheduler dropped it (its connection lost)
                    task = by_key[future.key]
                    raise PoetError(
                        f"the Dask scheduler cancelled the point {task.model} on {task.problem.profile.key} at "
                        f"{task.problem.ram_budget_bytes:.0f} B x {task.problem.runtime_factor:g} (is it still "
                        "running?); the rows finished so far are in the table, and a re-run resumes from them"
                    )
                if future.status == "error":
                    exc = future.exception()
                    task = by_key[future.key]
                    raise PoetError(
                        f"a Dask worker failed on {task.model} on {task.problem.profile.key} at "
                        f"{task.problem.ram_budget_bytes:.0f} B x {task.problem.runtime_factor:g}: {_reason(exc)}"
                    )
                on_row(future.result())
        except BaseException:
            self.cancel_report = self._stop(event_name, futures)
            raise

    def _stop(self, event_name: str, futures: list[distributed.Future]) -> str:
        """Cancel what has not started, tell running tasks to stop their solvers, and wait until no
        worker reports a solve in progress."""
        started = time.monotonic()
        try:
            Event(event_name, client=self._client).set()
            self._client.cancel(futures)
            while time.monotonic() - started < _STOP_WAIT_S:
                running = sum(self._client.run(running_solves).values())
                if running == 0:
                    return f"no solver running on any Dask worker ({time.monotonic() - started:.1f} s after the stop)"
                time.sleep(0.1)
        except (OSError, RuntimeError) as exc:
            return f"could not confirm that the Dask workers stopped: {_reason(exc)}"
        return f"{running} solves still running on the Dask workers after {_STOP_WAIT_S:g} s"


def _reason(exc: BaseException | None) -> str:
    """An exception as one line: its message, or its type when it has none."""
    if exc is None:
        return "unknown error"
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
