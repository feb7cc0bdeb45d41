"""Measure this machine as a device profile: compute rate from replayed kernels, storage from real files.

The compute rate is the model's FLOP (as the planner counts them) over the wall time of its nodes'
kernels in the keep-all schedule, the median of several steps after a warm-up, so a plan made with the
profile predicts this machine's runtime in the planner's own units. Storage throughput and latency
come from writing (with fsync) and reading back files of two sizes in the storage folder, the page
cache dropped before each read where the OS allows it; the line through the two sizes gives latency
(its intercept) and throughput (its slope). Power comes from the caller or from Linux's powercap (RAPL)
counters while the same work runs; the profile's comments say which, and that its energy figures are
only as good as its power figures. The profile is written atomically and is refused before writing if
it would not load.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from poet_gui.core.atomic import write_text_atomic
from poet_gui.core.device.profiles import DeviceProfile, parse_profile, profile_to_toml
from poet_gui.core.errors import ReplayError
from poet_gui.core.model.onnx_import import lower_onnx
from poet_gui.core.replay.executor import fresh_parameters, prepare, run_step
from poet_gui.core.schedule.reference_points import plain_operations

_RAPL = Path("/sys/class/powercap/intel-rapl:0/energy_uj")
#: The two file sizes the storage's latency and throughput are read off, in turn: a larger second file
#: when the first pair's large file was not slower (fsync latency or a cache can hide 1 MiB's transfer).
_SIZE_PAIRS = ((4096, 1 << 20), (4096, 16 << 20))
_REPEATS = 5


@dataclass(frozen=True, slots=True)
class Calibration:
    profile: DeviceProfile
    notes: tuple[str, ...]


def _rapl_joules() -> float | None:
    try:
        return int(_RAPL.read_text()) / 1e6
    except (OSError, ValueError):
        return None


def _measure_power(work: Callable[[], float]) -> tuple[float, float | None]:
    """Run ``work`` (returning the seconds it measured itself); the RAPL package power over it, if exposed."""
    before, started = _rapl_joules(), time.perf_counter()
    seconds = work()
    after, wall = _rapl_joules(), time.perf_counter() - started
    watts = None if before is None or after is None or after <= before else (after - before) / wall
    return seconds, watts


def _storage_times(folder: Path, size: int) -> tuple[float, float]:
    """Median seconds to write ``size`` bytes with fsync, and to read them back, in a file of ``folder``."""
    data = os.urandom(size)
    writes, reads = [], []
    for k in range(_REPEATS):
        path = folder / f"poet-calibrate-{size}-{k}.bin"
        try:
            started = time.perf_counter()
            with open(path, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            writes.append(time.perf_counter() - started)
            with open(path, "rb") as f:
                if hasattr(os, "posix_fadvise"):
                    os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
                started = time.perf_counter()
                got = f.read()
                reads.append(time.perf_counter() - started)
        except OSError as exc:
            raise ReplayError(f"{path}: cannot write and read back a test file ({exc.strerror or exc})") from exc
        finally:
            path.unlink(missing_ok=True)
        if len(got) != size:
            raise ReplayError(f"{folder}: read back {len(got)} of {size} bytes")
    return statistics.median(writes), statistics.median(reads)


def _line(sizes: tuple[int, int], times: list[float]) -> tuple[float, float] | None:
    """Latency (s, at least 1 ns: a profile's figures are > 0) and throughput (B/s) through two sizes;
    None when the large file was not slower than the small one (no throughput can be read off)."""
    (s0, s1), (t0, t1) = sizes, times
    if t1 <= t0:
        return None
    rate = (s1 - s0) / (t1 - t0)
    return max(t0 - s0 / rate, 1e-9), rate


def _storage_lines(storage: Path) -> tuple[tuple[int, int], tuple[float, float], tuple[float, float]]:
    """The sizes used and the (latency, throughput) of writes and of reads, trying a larger file when the
    first one was not slower than the small one; refused when even that was not."""
    for sizes in _SIZE_PAIRS:
        measured = [_storage_times(storage, size) for size in sizes]
        writes, reads = _line(sizes, [w for w, _ in measured]), _line(sizes, [r for _, r in measured])
        if writes is not None and reads is not None:
            return sizes, writes, reads
    small, large = _SIZE_PAIRS[-1]
    raise ReplayError(
        f"{storage}: a {large:,}-byte file took no longer to write or read than a {small:,}-byte one, so the "
        "storage's throughput cannot be measured here (a cache answered); give --storage a folder on the device's "
        "flash or SD card"
    )


def calibrate(
    onnx_path: Path,
    storage: Path,
    out: Path,
    *,
    name: str | None = None,
    compute_power_w: float | None = None,
    paging_power_w: float | None = None,
    dims: dict[str, int] | None = None,
) -> Calibration:
    """Measure, build and write the profile to ``out`` (see the module docstring). Every input is
    checked before the measurements, which take minutes on a slow board."""
    for what, given in (("compute", compute_power_w), ("paging", paging_power_w)):
        if given is None and _rapl_joules() is None:
            _power(what, None, None)  # refuses, saying which option to give
        elif given is not None:
            _power(what, given, None)
    if not out.parent.is_dir():
        raise ReplayError(f"{out}: cannot write the profile (--out): directory {out.parent} does not exist")
    try:
        storage.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReplayError(f"{storage}: cannot make the storage folder: {exc.strerror or exc}") from None
    lowered = lower_onnx(onnx_path, dims=dims)
    model = prepare(lowered, bytes_per_element=4, seed=0, source=str(onnx_path))
    graph = model.lowering.graph
    ops = plain_operations(graph)
    params = fresh_parameters(model)
    run_step(model, params, ops, storage=None)  # warm-up

    def compute() -> float:
        return statistics.median(sum(run_step(model, params, ops, storage=None).node_seconds) for _ in range(_REPEATS))

    seconds, rapl_compute_w = _measure_power(compute)
    flop = sum(n.flop for n in graph.nodes)
    lines: list[tuple[tuple[int, int], tuple[float, float], tuple[float, float]]] = []

    def paging() -> float:
        lines.append(_storage_lines(storage))
        return 0.0

    _, rapl_paging_w = _measure_power(paging)
    sizes, (out_latency, out_rate), (in_latency, in_rate) = lines[0]

    notes = [f"Calibrated by POET Studio on {platform.node() or 'this machine'} ({platform.machine()}), "
             f"{time.strftime('%Y-%m-%d')}, with {onnx_path.name} and storage {storage}."]  # fmt: skip
    notes.append(
        f"compute: {flop:.4g} FLOP (the planner's count) in {seconds:.4g} s of replayed kernels, median of "
        f"{_REPEATS} keep-all steps, 1 process"
    )
    notes.append(
        f"storage: files of {sizes[0]:,} and {sizes[1]:,} bytes written with fsync and read back, median of "
        f"{_REPEATS}; latency and throughput from the line through the two sizes"
    )
    compute_power_w, how_compute = _power("compute", compute_power_w, rapl_compute_w)
    paging_power_w, how_paging = _power("paging", paging_power_w, rapl_paging_w)
    notes += [f"compute power: {how_compute}", f"paging power: {how_paging}"]
    notes.append("This profile's energy figures are only as good as its power figures.")
    profile = DeviceProfile(
        key=out.stem,
        name=name or f"{platform.node() or 'this machine'} (calibrated)",
        compute_flop_per_s=flop / seconds,
        compute_flop_per_j=flop / seconds / compute_power_w,
        bytes_per_element=4,
        pagein_latency_s=in_latency,
        pagein_bytes_per_s=in_rate,
        pageout_latency_s=out_latency,
        pageout_bytes_per_s=out_rate,
        paging_power_w=paging_power_w,
        compute_power_w=compute_power_w,
        ram_bytes=_ram_bytes(),
        source=str(out),
    )
    text = "".join(f"# {note}\n" for note in notes) + profile_to_toml(profile)
    parse_profile(text, str(out), out.stem)  # refuse, before writing, a profile that would not load
    write_text_atomic(out, text)
    return Calibration(profile, tuple(notes))


def _power(what: str, given: float | None, rapl: float | None) -> tuple[float, str]:
    if given is not None:
        if not given > 0:
            raise ReplayError(f"--{what}-power-w must be > 0, got {given!r}")
        return given, f"{given:g} W given with --{what}-power-w"
    if rapl is not None:
        return rapl, f"{rapl:.4g} W, Linux powercap (RAPL) package energy over the {what} measurement"
    raise ReplayError(
        f"this machine exposes no readable powercap (RAPL) counters ({_RAPL}); give the {what} power with "
        f"--{what}-power-w"
    )


def _ram_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None
