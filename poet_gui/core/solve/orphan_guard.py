"""End a solver process, and whatever it started, as soon as the process that asked for it is gone.

Solver processes (the CLI's and the app's solve child, the sweep's workers) are forked by
multiprocessing's forkserver and lead sessions of their own, so that one ``killpg`` stops them with
any solver binary they run. That also means nothing stops them when their requester dies without
cleaning up (``kill -9``, a crash): measured before this guard, sweep workers re-parented to PID 1
kept solving for up to 52 minutes. Two independent mechanisms close that gap:

- ``PR_SET_PDEATHSIG``: the kernel sends SIGKILL when the forkserver (the fork parent) exits, which
  it does as soon as its requester is gone. It works even while a solver holds the GIL.
- a daemon thread blocked on a pidfd of the requester kills the whole process group when the
  requester ends, which also reaches a solver binary started as a subprocess (PuLP runs CBC so).

Linux-only; elsewhere the thread polls the requester's pid once a second.
"""

from __future__ import annotations

import ctypes
import os
import select
import signal
import sys
import threading
import time

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def end_with(requester_pid: int) -> None:
    """Arrange for this process's group to be killed once ``requester_pid`` has ended.

    Call it in the child after ``os.setsid()`` (the group killed is this process's own). If the
    requester is already gone, the group is killed at once.
    """
    _set_parent_death_signal()
    try:
        fd = os.pidfd_open(requester_pid)
    except ProcessLookupError:
        end_group()
        return
    except (AttributeError, OSError):  # no pidfd (not Linux, or a kernel before 5.3)
        target, args = _poll_until_gone, (requester_pid,)
    else:
        target, args = _wait_until_gone, (fd,)
    threading.Thread(target=target, args=args, daemon=True, name="poet-orphan-guard").start()


def end_group() -> None:
    """Kill this process's group (this process included) at once, without a word: the requester that
    would read any message is gone, and a traceback on a terminal nobody watches helps no one."""
    os.killpg(os.getpgrp(), signal.SIGKILL)


def _set_parent_death_signal() -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return


def _wait_until_gone(fd: int) -> None:
    select.select([fd], [], [])  # a pidfd becomes readable when its process ends
    end_group()


def _poll_until_gone(pid: int) -> None:
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            end_group()
            return
        except PermissionError:
            pass
        time.sleep(1.0)
