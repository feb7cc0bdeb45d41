"""What a replay found, as one frozen value, its ``--json`` object and its human text (no PyTorch here).

The keys are the issue's: ``gradients_identical`` (bit for bit against the same executor's keep-all
schedule), ``max_rel_diff_vs_autograd`` (against ``torch.autograd`` on the same model; must be at most
:data:`AUTOGRAD_TOLERANCE`), ``loss``, ``resident_bytes_match`` (the executor's bytes after every
operation equal the simulator's RAM curve), the allocator's measured peaks beside the predicted
ones, the paging done, and each node's measured wall time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from poet_gui.core.device.units import format_bytes, format_seconds
from poet_gui.core.errors import ReplayError

#: The largest relative gradient difference from ``torch.autograd`` a replay may show (the issue's bound).
AUTOGRAD_TOLERANCE = 1e-5

#: How to get PyTorch's CPU build (the registry's default ``torch`` is the multi-GB CUDA one), and the extra.
CPU_TORCH_COMMAND = "pip install torch --index-url https://download.pytorch.org/whl/cpu"
EXTRA_COMMAND = 'pip install -e ".[replay]"'
#: How to get PyTorch, said wherever replay is asked for without it.
INSTALL_HINT = f"replay needs PyTorch: {EXTRA_COMMAND} (a CPU-only build: {CPU_TORCH_COMMAND})"


@dataclass(frozen=True, slots=True)
class ReplayReport:
    """One replay of a plan on its model. Byte figures are bytes of activations and gradients (the
    parameters are outside the plan, as in the planner); ``resident_bytes`` is the executor's curve
    after each operation of the plan's last step (what the app overlays on the predicted curve).

    ``max_rel_diff_vs_autograd`` is, over every step and parameter, the largest
    ``max|g - g_autograd| / max|g_autograd|``; ``resident_mismatch`` names the first operation whose bytes
    differ from the simulator's ("" when they all match)."""

    model: str
    steps: int
    seed: int
    learning_rate: float
    gradients_identical: bool
    max_rel_diff_vs_autograd: float
    loss: float
    losses: tuple[float, ...]
    resident_bytes_match: bool
    resident_mismatch: str
    predicted_peak_bytes_plan: int
    predicted_peak_bytes_keep_all: int
    measured_peak_bytes_plan: int
    measured_peak_bytes_keep_all: int
    bytes_paged_out: int
    bytes_paged_in: int
    storage_files: int
    recomputes: int
    step_seconds_plan: float
    step_seconds_keep_all: float
    node_seconds: Mapping[str, float]
    resident_bytes: tuple[int, ...]
    storage: str
    kept_storage: bool

    @property
    def is_faithful(self) -> bool:
        """Every check held: identical gradients, autograd within tolerance, bytes as simulated."""
        return (
            self.gradients_identical
            and self.max_rel_diff_vs_autograd <= AUTOGRAD_TOLERANCE
            and self.resident_bytes_match
        )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["node_seconds"] = dict(self.node_seconds)
        data["losses"] = list(self.losses)
        data["resident_bytes"] = list(self.resident_bytes)
        data["is_faithful"] = self.is_faithful
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ReplayReport:
        """The report of a :meth:`to_json` object (what the app reads from a replay child's stdout); a
        missing or malformed field raises a ReplayError naming it."""
        try:
            values = {f.name: data[f.name] for f in fields(cls)}
            values["losses"] = tuple(float(x) for x in values["losses"])
            values["resident_bytes"] = tuple(int(x) for x in values["resident_bytes"])
            values["node_seconds"] = {str(k): float(v) for k, v in dict(values["node_seconds"]).items()}
        except KeyError as exc:
            raise ReplayError(f"replay report: no field {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            raise ReplayError(f"replay report: malformed ({exc})") from None
        return cls(**values)


def report_text(r: ReplayReport) -> str:
    """The human report: one line per figure, as ``solve`` prints its result."""
    ok = {True: "yes", False: "NO"}
    slowest = sorted(r.node_seconds.items(), key=lambda kv: -kv[1])[:3]
    lines = [
        f"replay    {r.model}: {r.steps} SGD step{'s' if r.steps != 1 else ''} (lr {r.learning_rate:g}, seed {r.seed})",
        f"loss      {' -> '.join(f'{x:.6g}' for x in r.losses)}",
        f"gradients identical to keep-all: {ok[r.gradients_identical]}; "
        f"max relative difference from torch.autograd {r.max_rel_diff_vs_autograd:.3g} "
        f"({'within' if r.max_rel_diff_vs_autograd <= AUTOGRAD_TOLERANCE else 'OVER'} {AUTOGRAD_TOLERANCE:g})",
        f"memory    resident bytes match the simulator at every operation: {ok[r.resident_bytes_match]}"
        + (f" ({r.resident_mismatch})" if r.resident_mismatch else ""),
        f"peak      plan: predicted {format_bytes(r.predicted_peak_bytes_plan)}, allocator measured "
        f"{format_bytes(r.measured_peak_bytes_plan)}; keep-all: predicted "
        f"{format_bytes(r.predicted_peak_bytes_keep_all)}, measured {format_bytes(r.measured_peak_bytes_keep_all)}",
        f"paging    {format_bytes(r.bytes_paged_out)} out, {format_bytes(r.bytes_paged_in)} in, "
        f"{r.storage_files} storage file{'s' if r.storage_files != 1 else ''}; {r.recomputes} recomputes",
        f"time      plan step {format_seconds(r.step_seconds_plan)}, "
        f"keep-all step {format_seconds(r.step_seconds_keep_all)}; "
        "slowest nodes " + ", ".join(f"{n} {format_seconds(s)}" for n, s in slowest),
        f"storage   {r.storage} ({'kept' if r.kept_storage else 'emptied'})",
    ]
    return "\n".join(lines)
