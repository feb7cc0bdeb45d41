"""Run one training step of an imported model by walking a plan's operation list, tensor by tensor.

The executor holds exactly the tensors the operation list says are in RAM: *compute* runs the node's
forward or backward kernel (``kernels.py``) and keeps its output, *free* drops it, *page out* writes
its bytes to a file in the storage folder (the list's following *free* drops it from RAM), *page in*
reads them back into a fresh tensor. A kernel can read only the tensors its node reads in the graph
(the accessor refuses any other), so a schedule that dropped something still needed fails here
instead of quietly reading it. After every operation the executor adds up the bytes of the storages
it holds, which the replay compares with the simulator's RAM curve, step by step.

Parameters and their gradients live outside the operation list, as in the planner's model (the
optimizer step is not part of the graph): a parameter-gradient node's tensor is copied into a
pre-allocated gradient buffer when it is computed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from poet_gui.core.errors import ReplayError
from poet_gui.core.model.onnx_import import LoweredOnnx
from poet_gui.core.model.onnx_import.lowering import ForwardStep, GradShare, Lowering, TensorRef
from poet_gui.core.replay.kernels import KERNEL_SINCE_OPSET, KERNELS, OUT, Kernel, Shapes
from poet_gui.core.schedule.operations import Action, Operation

DTYPES = {4: torch.float32, 8: torch.float64}


@dataclass(frozen=True)
class ReplayModel:
    """An imported model ready to run: its lowering, constants as tensors, the trainable parameters'
    names, and the seeded batch (inputs and, per loss output, target classes)."""

    lowering: Lowering
    constants: Mapping[str, Tensor]
    trainable: tuple[str, ...]
    inputs: Mapping[str, Tensor]
    targets: tuple[Tensor, ...]
    dtype: torch.dtype
    source: str


@dataclass(frozen=True)
class StepRecord:
    """What one executed step gave: the loss, every parameter's gradient, the resident bytes after each
    operation, the wall time of each node's computes, and the paging done."""

    loss: float
    grads: Mapping[str, Tensor]
    resident_bytes: tuple[int, ...]
    node_seconds: tuple[float, ...]
    bytes_paged_out: int
    bytes_paged_in: int
    storage_files: int


def unsupported(lowered: LoweredOnnx, source: str) -> str | None:
    """Why replay cannot run this model (operators without a kernel, attributes a kernel does not
    implement, parameters reached through folded operators, non-float inputs), or None."""
    low = lowered.lowering
    missing: dict[str, int] = {}
    refused: list[str] = []
    params = _parameters(low)
    for step in low.forward.values():
        op = step.op
        kernel = KERNELS.get(op.op_type) if op.is_standard else None
        if kernel is None:
            missing[op.label] = missing.get(op.label, 0) + 1
            continue
        if lowered.opset < KERNEL_SINCE_OPSET.get(op.op_type, 0):
            refused.append(
                f"{op.op_type} node {op.name!r} of opset {lowered.opset} (its kernel follows the definition of "
                f"opset {KERNEL_SINCE_OPSET[op.op_type]} and later; convert the model with onnx.version_converter)"
            )
        elif kernel.check is not None and (why := kernel.check(op.attrs, _shapes(step))):
            refused.append(f"{op.op_type} node {op.name!r} with {why}")
        for ref in step.inputs:
            if ref is not None and ref.node is None and ref.name not in lowered.constants:
                folded = low.folded.get(ref.name)
                label = folded.op_type if folded is not None else "a graph input"
                refused.append(f"{op.op_type} node {op.name!r} reads {ref.name!r}, a constant computed by {label}")
            elif ref is not None and ref.name in params and ref.name in low.folded:
                refused.append(
                    f"parameter {ref.name!r} reaches {op.name!r} through a folded {low.folded[ref.name].op_type}"
                )
    if missing:
        listed = ", ".join(f"{label} ×{n}" for label, n in sorted(missing.items()))
        return f"{source}: replay has no kernel for {listed}; it runs {', '.join(sorted(KERNELS))}"
    if refused:
        return f"{source}: replay cannot run {refused[0]}" + (
            f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
        )
    return None


def _shapes(step: ForwardStep) -> Shapes:
    return Shapes(tuple(r.shape if r is not None else None for r in step.inputs), step.output_shapes)


def prepare(lowered: LoweredOnnx, *, bytes_per_element: int, seed: int, source: str) -> ReplayModel:
    """Check the model can be replayed and draw its seeded batch: standard-normal inputs and uniform
    target classes, from a generator seeded with ``seed``, so every run sees the same batch."""
    if (why := unsupported(lowered, source)) is not None:
        raise ReplayError(why)
    dtype = DTYPES.get(bytes_per_element)
    if dtype is None:
        raise ReplayError(
            f"{source}: the plan's profile has {bytes_per_element} bytes per element; replay runs float32 (4) "
            "or float64 (8), so that its tensors' bytes are the planned ones"
        )
    low = lowered.lowering
    constants = {
        name: torch.from_numpy(np.array(value)).to(dtype if np.issubdtype(value.dtype, np.floating) else None)
        for name, value in lowered.constants.items()
    }
    generator = torch.Generator().manual_seed(seed)
    graph = low.graph
    inputs = {name: torch.randn(graph.nodes[node].out_shape, generator=generator, dtype=dtype)
              for node, name in sorted(low.inputs.items())}  # fmt: skip
    targets = []
    for ref in low.loss_reads:
        classes = ref.shape[-1] if ref.shape else 1
        targets.append(torch.randint(0, classes, (max(1, int(np.prod(ref.shape)) // classes),), generator=generator))
    trainable = tuple(sorted(_parameters(low)))
    return ReplayModel(low, constants, trainable, inputs, tuple(targets), dtype, source)


def _parameters(low: Lowering) -> set[str]:
    """The names of the constants that get a gradient: those a parameter-gradient node differentiates."""
    names = set()
    for step in low.param_grads.values():
        for position in step.positions:
            ref = low.forward[step.of].inputs[position]
            assert ref is not None
            names.add(ref.name)
    return names


def fresh_parameters(model: ReplayModel) -> dict[str, Tensor]:
    """The model's trainable parameters as the file gives them (a copy that SGD may update)."""
    return {name: model.constants[name].clone() for name in model.trainable}


class _Step:
    """One step's state: the tensors in RAM by node, the files in storage, and the accessors kernels use."""

    def __init__(self, model: ReplayModel, params: Mapping[str, Tensor], grads: Mapping[str, Tensor],
                 storage: Path | None) -> None:  # fmt: skip
        self.m = model
        self.low = model.lowering
        self.params = params
        self.grads = grads
        self.storage = storage
        self.ram: dict[int, Tensor] = {}
        self.files: dict[int, Path] = {}
        self.reader = -1
        self.loss = float("nan")
        self.paged_out = self.paged_in = self.file_count = 0

    # -- reading tensors ---------------------------------------------------------------------------------

    def _node(self, node: int) -> Tensor:
        """Node ``node``'s buffer, which the computing node must read in the graph and find in RAM."""
        reader = self.low.graph.nodes[self.reader]
        if node not in reader.inputs:
            raise ReplayError(
                f"{self.m.source}: the kernel of {reader.name} read {self.low.graph.nodes[node].name}, which the "
                "graph does not say it reads (a bug in the kernel or the importer's rule)"
            )
        tensor = self.ram.get(node)
        if tensor is None:
            raise ReplayError(
                f"{self.m.source}: {reader.name} reads {self.low.graph.nodes[node].name}, which is not in RAM"
            )
        return tensor

    def value(self, ref: TensorRef) -> Tensor:
        """A tensor as an operator reads it: a slot of a node's buffer with the view's shape, or a constant."""
        if ref.node is None:
            return self.params.get(ref.name, self.m.constants.get(ref.name))  # type: ignore[return-value]
        return self._slot(self._node(ref.node), ref.node, ref.slot).reshape(ref.shape)

    def _slot(self, buffer: Tensor, node: int, slot: int) -> Tensor:
        step = self.low.forward.get(node)
        if step is None or sum(s is not None for s in step.slots) == 1:
            return buffer
        sizes = [int(np.prod(shape)) for shape, s in zip(step.output_shapes, step.slots, strict=True) if s is not None]
        start = sum(sizes[:slot])
        return buffer.reshape(-1)[start : start + sizes[slot]]

    # -- gradients ---------------------------------------------------------------------------------------

    def output_grads(self, node: int) -> tuple[Tensor | None, ...]:
        """The incoming gradient of forward node ``node``, per ONNX output (None for an unused one)."""
        if node == self.low.loss:
            self._node(node)  # the loss is read: its gradient seeds the backward pass
            return (torch.ones((), dtype=self.m.dtype),)
        if node in self.low.grad_node:
            buffer = self._node(self.low.grad_node[node])
        else:
            buffer = self.share_in_buffer(self.low.pass_on[node], node)
        step = self.low.forward[node]
        return tuple(
            None if s is None else self._slot(buffer, node, s).reshape(shape)  # type: ignore[arg-type]
            for s, shape in zip(step.slots, step.output_shapes, strict=True)
        )

    def share(self, share: GradShare) -> Tensor:
        """One reader's share of a gradient, with the shape it read the tensor with."""
        if share.consumer == self.low.loss:
            ref = self.low.loss_reads[share.position]
            x = self.value(ref)
            logits = x.reshape(-1, ref.shape[-1] if ref.shape else 1)
            target = F.one_hot(self.m.targets[share.position], logits.shape[-1]).to(logits.dtype)
            return ((torch.softmax(logits, -1) - target) / logits.shape[0]).reshape(ref.shape)
        step = self.low.forward[share.consumer]
        kernel: Kernel = KERNELS[step.op.op_type]

        def saved(i: int) -> Tensor:
            if i == OUT:
                return self._slot(self._node(share.consumer), share.consumer, step.slots[0] or 0).reshape(
                    step.output_shapes[0]  # type: ignore[arg-type]
                )
            ref = step.inputs[i]
            assert ref is not None
            return self.value(ref)

        return kernel.grads[share.position](self.output_grads(share.consumer), saved, step.op.attrs, _shapes(step))

    def share_in_buffer(self, share: GradShare, node: int) -> Tensor:
        """A share placed in node ``node``'s buffer layout (zero in the other slots of a multi-output node)."""
        part = self.share(share)
        shape = self.low.graph.nodes[node].out_shape
        step = self.low.forward.get(node)
        if step is None or sum(s is not None for s in step.slots) == 1:
            return part.reshape(shape)
        flat = part.new_zeros(int(np.prod(shape)))
        sizes = [int(np.prod(s)) for s, k in zip(step.output_shapes, step.slots, strict=True) if k is not None]  # type: ignore[arg-type]
        start = sum(sizes[: share.target.slot])
        flat[start : start + sizes[share.target.slot]] = part.reshape(-1)
        return flat.reshape(shape)

    # -- computing a node --------------------------------------------------------------------------------

    def compute(self, node: int) -> Tensor:
        low = self.low
        self.reader = node
        if node in low.inputs:
            return self.m.inputs[low.inputs[node]].clone()
        if node in low.forward:
            step = low.forward[node]
            outs = KERNELS[step.op.op_type].forward(
                [self.value(r) if r is not None else None for r in step.inputs], step.op.attrs, _shapes(step)
            )
            used = [o for o, s in zip(outs, step.slots, strict=False) if s is not None]
            shape = low.graph.nodes[node].out_shape
            return used[0].reshape(shape) if len(used) == 1 else torch.cat([u.reshape(-1) for u in used]).reshape(shape)
        if node == low.loss:
            total = torch.zeros((), dtype=self.m.dtype)
            for ref, target in zip(low.loss_reads, self.m.targets, strict=True):
                x = self.value(ref)
                total = total + F.cross_entropy(x.reshape(-1, ref.shape[-1] if ref.shape else 1), target)
            self.loss = float(total)
            return total
        if node in low.grads:
            of, shares = low.grads[node]
            total: Tensor | None = None
            for share in shares:
                part = self.share_in_buffer(share, of)
                total = part if total is None else total + part
            assert total is not None
            return total
        step = low.param_grads[node]
        forward = low.forward[step.of]
        parts = []
        for position in step.positions:
            ref = forward.inputs[position]
            assert ref is not None
            part = self.share(GradShare(step.of, position, ref)).reshape(ref.shape)
            self.grads[ref.name].copy_(part)
            parts.append(part)
        return parts[0] if len(parts) == 1 else torch.cat([p.reshape(-1) for p in parts])

    def keep(self, node: int, tensor: Tensor) -> None:
        """Hold ``tensor`` as node ``node``'s buffer, in a storage of its own of exactly its bytes (a view of
        another tensor, or of a larger storage, is copied), so the bytes held are the planned bytes."""
        tensor = tensor.contiguous()
        storage = tensor.untyped_storage()
        shared = any(t.untyped_storage().data_ptr() == storage.data_ptr() for t in self.ram.values())
        if shared or storage.nbytes() != tensor.nbytes or tensor.requires_grad:
            tensor = tensor.detach().clone()
        self.ram[node] = tensor

    def page_out(self, node: int, stage: int) -> None:
        assert self.storage is not None
        tensor = self.ram[node]
        path = self.storage / f"node{node:04d}-stage{stage:04d}.bin"
        try:
            with open(path, "wb") as f:
                f.write(memoryview(tensor.numpy()).cast("B"))
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            path.unlink(missing_ok=True)
            raise ReplayError(f"{path}: cannot write the page-out file ({exc.strerror or exc})") from exc
        self.files[node] = path
        self.paged_out += tensor.nbytes
        self.file_count += 1

    def page_in(self, node: int) -> None:
        path = self.files[node]
        tensor = torch.empty(self.low.graph.nodes[node].out_shape, dtype=self.m.dtype)
        try:
            with open(path, "rb") as f:
                got = f.readinto(memoryview(tensor.numpy()).cast("B"))
        except OSError as exc:
            raise ReplayError(f"{path}: cannot read the paged-out tensor back ({exc.strerror or exc})") from exc
        if got != tensor.nbytes:
            raise ReplayError(f"{path}: read {got} of the {tensor.nbytes} bytes paged out")
        self.ram[node] = tensor
        self.paged_in += tensor.nbytes

    def resident_bytes(self) -> int:
        return sum(t.untyped_storage().nbytes() for t in self.ram.values())


def run_step(model: ReplayModel, params: Mapping[str, Tensor], operations: Sequence[Operation], *,
             storage: Path | None, on_operation: Callable[[int], None] | None = None) -> StepRecord:  # fmt: skip
    """Execute ``operations`` once with ``params``; see the module docstring. ``storage`` is the folder
    page-outs are written to (needed when the list pages). Nothing here updates the parameters."""
    grads = {name: torch.zeros_like(p) for name, p in params.items()}
    step = _Step(model, params, grads, storage)
    seconds = [0.0] * len(model.lowering.graph)
    resident: list[int] = []
    with torch.no_grad():
        for k, op in enumerate(operations):
            if op.action is Action.COMPUTE:
                started = time.perf_counter()
                step.keep(op.node, step.compute(op.node))
                seconds[op.node] += time.perf_counter() - started
            elif op.action is Action.FREE:
                del step.ram[op.node]
            elif op.action is Action.PAGE_OUT:
                step.page_out(op.node, op.stage)
            else:
                step.page_in(op.node)
            resident.append(step.resident_bytes())
            if on_operation is not None:
                on_operation(k)
    return StepRecord(step.loss, grads, tuple(resident), tuple(seconds), step.paged_out, step.paged_in, step.file_count)


def autograd_gradients(model: ReplayModel, params: Mapping[str, Tensor]) -> tuple[float, dict[str, Tensor]]:
    """The loss and parameter gradients ``torch.autograd`` gives for the same model and batch: the
    forward operators run as ordinary differentiable PyTorch calls on ONNX tensor names, independently
    of the plan, the graph's backward nodes and the hand-written backward kernels."""
    low = model.lowering
    leaves = {name: p.detach().clone().requires_grad_(True) for name, p in params.items()}
    # Activations by (node, slot): a folded view names another tensor but reads its producer's output.
    values: dict[tuple[int, int], Tensor] = {(node, 0): model.inputs[name] for node, name in low.inputs.items()}

    def read(ref: TensorRef | None) -> Tensor | None:
        if ref is None:
            return None
        if ref.node is not None:
            return values[ref.node, ref.slot].reshape(ref.shape)
        return leaves.get(ref.name, model.constants.get(ref.name))

    for node in sorted(low.forward):
        step = low.forward[node]
        outs = KERNELS[step.op.op_type].forward([read(r) for r in step.inputs], step.op.attrs, _shapes(step))
        for out, slot in zip(outs, step.slots, strict=False):
            if slot is not None:
                values[node, slot] = out
    total = torch.zeros((), dtype=model.dtype)
    for ref, target in zip(low.loss_reads, model.targets, strict=True):
        x = read(ref)
        assert x is not None
        total = total + F.cross_entropy(x.reshape(-1, ref.shape[-1] if ref.shape else 1), target)
    grads = torch.autograd.grad(total, [leaves[n] for n in leaves], allow_unused=True)
    return float(total.detach()), {
        n: (g if g is not None else torch.zeros_like(leaves[n])) for n, g in zip(leaves, grads, strict=True)
    }
