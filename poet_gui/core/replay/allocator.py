"""The allocator's own account of memory: the peak of the bytes PyTorch's CPU allocator hands out.

The profiler (``profile_memory=True``) records every allocation and release with its size; summing them
in time order gives the bytes allocated at each moment, whose maximum over a step is the step's peak
above what was allocated before it (the parameters and the batch; the gradient buffers are allocated
inside the step and counted). This is not the
executor's bookkeeping: it includes every temporary a kernel allocates, which the plan does not model.
The profiler attributes an operator's net allocation to its start, so a temporary that a kernel
allocates and frees within one operator is not seen.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import TypeVar

from torch.profiler import ProfilerActivity, profile

T = TypeVar("T")


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence the profiler's native start/stop lines (written to file descriptor 2 by Kineto)."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def peak_allocated_bytes(run: Callable[[], T]) -> tuple[int, T]:
    """Run ``run()`` under the memory profiler; return the peak bytes it held allocated, and its result."""
    with _quiet_stderr(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        result = run()
    level = peak = 0
    for event in sorted(prof.events(), key=lambda e: e.time_range.start):
        level += event.self_cpu_memory_usage
        peak = max(peak, level)
    return peak, result
