"""Replay a plan file on the real model: N SGD steps by the plan's operation list, checked three ways.

Each step runs the plan's operations (``executor.py``) and, beside it, the same executor on the plain
keep-all schedule with its own copy of the parameters; their losses and every parameter gradient
must be bit-identical, and ``torch.autograd`` on the same model and parameters must agree to
:data:`~poet_gui.core.replay.report.AUTOGRAD_TOLERANCE`. The executor's resident bytes after every
operation must equal the simulator's RAM curve. Then one more step of each schedule runs under the
allocator's profiler (``allocator.py``) for the measured peaks. The storage folder holds the page-out
files and is emptied at the end unless asked to keep them.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from poet_gui.core.errors import ReplayError
from poet_gui.core.files.plan_io import graph_sha256, read_plan
from poet_gui.core.model.graph import TrainingGraph
from poet_gui.core.model.onnx_import import lower_onnx
from poet_gui.core.replay.allocator import peak_allocated_bytes
from poet_gui.core.replay.executor import ReplayModel, StepRecord, fresh_parameters, prepare, run_step
from poet_gui.core.replay.executor import autograd_gradients as autograd
from poet_gui.core.replay.launch import CHAIN_BACKWARD_OPS
from poet_gui.core.replay.plan_dims import dims_from_plan
from poet_gui.core.replay.report import ReplayReport
from poet_gui.core.schedule.operations import Operation
from poet_gui.core.schedule.reference_points import plain_operations
from poet_gui.core.schedule.simulate import SimResult, simulate

ProgressFn = Callable[[float, str], None]


def replay_plan(
    plan_path: Path,
    onnx_path: Path,
    *,
    steps: int = 1,
    storage: Path | None = None,
    keep_storage: bool = False,
    seed: int = 0,
    learning_rate: float = 0.01,
    on_progress: ProgressFn | None = None,
) -> ReplayReport:
    """Replay the plan at ``plan_path`` on the ONNX model at ``onnx_path`` (see the module docstring).

    Refuses, in one line, before anything runs: a plan file that does not check out, a plan of a zoo
    model, a model whose imported graph is not the plan's graph, and operators without a kernel.
    """
    if steps < 1:
        raise ReplayError(f"--steps must be at least 1, got {steps}")
    verified = read_plan(plan_path).result
    if verified.sim is None:
        raise ReplayError(
            f"{plan_path}: the plan file records no plan ({verified.plan.status.value}): nothing to replay"
        )
    problem = verified.plan.problem
    graph = problem.graph
    _refuse_chain_backward(plan_path, graph)
    lowered = lower_onnx(onnx_path, dims=dims_from_plan(onnx_path, graph))
    imported = lowered.imported.graph
    if graph_sha256(imported) != graph_sha256(graph):
        raise ReplayError(
            f"{onnx_path}: its training graph ({imported.name}, {len(imported)} nodes, sha256 "
            f"{graph_sha256(imported)[:12]}…) is not the plan's ({graph.name}, {len(graph)} nodes, "
            f"{graph_sha256(graph)[:12]}…): the plan was made for another model or other dimensions"
        )
    model = prepare(lowered, bytes_per_element=problem.profile.bytes_per_element, seed=seed, source=str(onnx_path))
    keep_ops = plain_operations(graph)
    keep_sim = simulate(problem, keep_ops, budget_bytes=math.inf)

    made_storage = storage is None
    folder = Path(tempfile.mkdtemp(prefix="poet-replay-")) if storage is None else Path(storage)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReplayError(f"{folder}: cannot make the storage folder: {exc.strerror or exc}") from None
    before = set(folder.iterdir())
    try:
        return _run(model, verified.sim, keep_sim, keep_ops, folder, keep_storage, steps, seed, learning_rate,
                    on_progress)  # fmt: skip
    finally:
        if not keep_storage:
            for path in set(folder.iterdir()) - before:
                path.unlink(missing_ok=True)
            if made_storage:
                shutil.rmtree(folder, ignore_errors=True)


def _refuse_chain_backward(plan_path: Path, graph: TrainingGraph) -> None:
    chain = sorted({n.op for n in graph.nodes if n.op in CHAIN_BACKWARD_OPS})
    if chain:
        raise ReplayError(
            f"{plan_path}: the plan's graph ({graph.name}) has the reference's chain backward ({', '.join(chain)} "
            "nodes), not an autodiff one, so there is no real backward to run; replay plans of an imported ONNX "
            "model (solve --onnx)"
        )


def _run(
    model: ReplayModel,
    plan_sim: SimResult,
    keep_sim: SimResult,
    keep_ops: Sequence[Operation],
    folder: Path,
    keep_storage: bool,
    steps: int,
    seed: int,
    lr: float,
    on_progress: ProgressFn | None,
) -> ReplayReport:
    graph = model.lowering.graph
    plan_ops = plan_sim.operations
    params, keep_params = fresh_parameters(model), fresh_parameters(model)
    identical, max_diff, mismatch = True, 0.0, ""
    losses: list[float] = []
    seconds = np.zeros(len(graph))
    plan_time = keep_time = 0.0
    last: StepRecord | None = None
    for step in range(steps):
        _say(on_progress, step / (steps + 1), f"step {step + 1} of {steps}: plan")
        started = time.perf_counter()
        rec = run_step(model, params, plan_ops, storage=folder)
        plan_time += time.perf_counter() - started
        _say(on_progress, (step + 0.5) / (steps + 1), f"step {step + 1} of {steps}: keep-all and autograd")
        started = time.perf_counter()
        ref = run_step(model, keep_params, keep_ops, storage=folder)
        keep_time += time.perf_counter() - started
        identical = (
            identical and rec.loss == ref.loss and all(torch.equal(rec.grads[n], ref.grads[n]) for n in rec.grads)
        )
        _, expected = autograd(model, params)
        max_diff = max(max_diff, _max_rel_diff(rec.grads, expected))
        mismatch = mismatch or _first_mismatch(rec.resident_bytes, plan_sim, graph, "plan")
        mismatch = mismatch or _first_mismatch(ref.resident_bytes, keep_sim, graph, "keep-all")
        losses.append(rec.loss)
        seconds += rec.node_seconds
        with torch.no_grad():
            for name in params:
                params[name] -= lr * rec.grads[name]
                keep_params[name] -= lr * ref.grads[name]
        last = rec
    assert last is not None
    _say(on_progress, steps / (steps + 1), "measuring the allocator's peaks")
    peak_plan, _ = peak_allocated_bytes(lambda: run_step(model, params, plan_ops, storage=folder))
    peak_keep, _ = peak_allocated_bytes(lambda: run_step(model, params, keep_ops, storage=folder))
    _say(on_progress, 1.0, "done")
    return ReplayReport(
        model=graph.name,
        steps=steps,
        seed=seed,
        learning_rate=lr,
        gradients_identical=identical,
        max_rel_diff_vs_autograd=max_diff,
        loss=losses[-1],
        losses=tuple(losses),
        resident_bytes_match=not mismatch,
        resident_mismatch=mismatch,
        predicted_peak_bytes_plan=int(plan_sim.peak_ram_bytes),
        predicted_peak_bytes_keep_all=int(keep_sim.peak_ram_bytes),
        measured_peak_bytes_plan=peak_plan,
        measured_peak_bytes_keep_all=peak_keep,
        bytes_paged_out=last.bytes_paged_out,
        bytes_paged_in=last.bytes_paged_in,
        storage_files=last.storage_files,
        recomputes=plan_sim.recomputes,
        step_seconds_plan=plan_time / steps,
        step_seconds_keep_all=keep_time / steps,
        node_seconds={graph.nodes[v].name: float(seconds[v] / steps) for v in range(len(graph))},
        resident_bytes=last.resident_bytes,
        storage=str(folder),
        kept_storage=keep_storage,
    )


def _say(on_progress: ProgressFn | None, fraction: float, text: str) -> None:
    if on_progress is not None:
        on_progress(fraction, text)


def _max_rel_diff(grads: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor]) -> float:
    """The largest ``max|g - g_ref| / max|g_ref|`` over the parameters (an absolute difference where the
    reference gradient is all zeros); infinite where either side is not finite, which ``max`` would
    otherwise drop (``max(0.0, nan)`` is 0.0) and report as agreement."""
    worst = 0.0
    for name, ref in expected.items():
        scale = float(ref.abs().max())
        diff = float((grads[name] - ref).abs().max())
        if not (math.isfinite(scale) and math.isfinite(diff)):
            return math.inf
        worst = max(worst, diff / scale if scale > 0 else diff)
    return worst


def _first_mismatch(measured: Sequence[int], sim: SimResult, graph: TrainingGraph, label: str) -> str:
    """ "" if the executor's bytes after every operation are the simulator's, else the first difference."""
    for k, (got, want) in enumerate(zip(measured, sim.ram_bytes, strict=True)):
        if got != int(want):
            op = sim.operations[k]
            return (
                f"{label} operation {k} (stage {op.stage}, {op.action.value} {graph.nodes[op.node].name}): "
                f"executor holds {got:,} B, simulator {int(want):,} B"
            )
    return ""
