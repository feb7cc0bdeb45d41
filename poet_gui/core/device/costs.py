"""Per-node costs of one graph on one device: the flop-based model of FORMULATION section 2.

Costs are never read from graph files: they always come from the graph's FLOP and shapes and a
device profile, so the same graph can be planned for any device and a stale cost column cannot
sneak in. For node ``v`` with ``flop_v`` FLOP producing ``n_v`` elements, on a profile with rate
``F``, efficiency ``E``, ``B`` bytes per element and paging power ``P_mem``::

    m_v = B * n_v                      ram_bytes
    c_v = flop_v / F                   runtime_s
    e_v = flop_v / E                   compute_j
    pagein_s  = latency_in  + m_v / throughput_in,   pagein_j  = P_mem * pagein_s
    pageout_s = latency_out + m_v / throughput_out,  pageout_j = P_mem * pageout_s
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from poet_gui.core.device.profiles import DeviceProfile
from poet_gui.core.errors import ProfileError
from poet_gui.core.model.graph import TrainingGraph


@dataclass(frozen=True, slots=True, eq=False)
class NodeCosts:
    """Per-node vectors (float64, read-only numpy arrays of length T, indexed by stage) for one graph
    on one device.

    ``eq=False``: comparing numpy arrays element-wise has no single truth value, so two instances are
    equal only if they are the same object; compare the arrays themselves in tests.
    """

    runtime_s: np.ndarray  # c_v = flop / F
    ram_bytes: np.ndarray  # m_v = B * prod(out_shape)
    compute_j: np.ndarray  # e_v = flop / E
    pagein_j: np.ndarray  # P_mem * pagein_s
    pageout_j: np.ndarray  # P_mem * pageout_s
    pagein_s: np.ndarray  # latency + m / throughput
    pageout_s: np.ndarray
    param_bytes: float  # B * total parameters: shown separately, optionally part of the RAM budget


def compute_costs(graph: TrainingGraph, profile: DeviceProfile) -> NodeCosts:
    """The cost vectors of ``graph`` on ``profile`` (see the module docstring for the formulas)."""
    flop = np.array([n.flop for n in graph.nodes], dtype=np.float64)
    # The byte count is formed as an exact Python integer before the (exact below 2**53) float cast.
    ram = np.array([profile.bytes_per_element * n.out_elements for n in graph.nodes], dtype=np.float64)
    with np.errstate(over="ignore"):  # an overflow is refused below, naming the node and the figure
        pagein_s = profile.pagein_latency_s + ram / profile.pagein_bytes_per_s
        pageout_s = profile.pageout_latency_s + ram / profile.pageout_bytes_per_s
        costs = NodeCosts(
            runtime_s=_frozen(flop / profile.compute_flop_per_s),
            ram_bytes=_frozen(ram),
            compute_j=_frozen(flop / profile.compute_flop_per_j),
            pagein_j=_frozen(profile.paging_power_w * pagein_s),
            pageout_j=_frozen(profile.paging_power_w * pageout_s),
            pagein_s=_frozen(pagein_s),
            pageout_s=_frozen(pageout_s),
            param_bytes=float(profile.bytes_per_element * graph.total_params),
        )
    _check_finite(graph, profile, costs)
    return costs


#: Each cost vector, what it is called, and the figures it is made of (for the refusal).
_COST_SOURCES = (
    ("runtime_s", "compute time", "flop / [compute].flop_per_s"),
    ("compute_j", "compute energy", "flop / [compute].flop_per_j"),
    ("pagein_s", "page-in time", "[storage.page_in].latency_s + bytes / [storage.page_in].bytes_per_s"),
    ("pageout_s", "page-out time", "[storage.page_out].latency_s + bytes / [storage.page_out].bytes_per_s"),
    ("pagein_j", "page-in energy", "[storage].power_w x page-in time"),
    ("pageout_j", "page-out energy", "[storage].power_w x page-out time"),
)


def _check_finite(graph: TrainingGraph, profile: DeviceProfile, costs: NodeCosts) -> None:
    """Refuse a graph and profile whose costs are not finite numbers, node by node and in total: an
    infinite runtime would be planned as "optimal" and could not be written to a plan file."""
    source = profile.source or profile.key
    for attr, what, formula in _COST_SOURCES:
        values = getattr(costs, attr)
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            v = int(bad[0])
            raise ProfileError(
                f"{source}: the {what} of node {v} ({graph.nodes[v].name!r}, {graph.nodes[v].flop:.3g} FLOP, "
                f"{costs.ram_bytes[v]:.3g} B) is not finite: {formula} overflows on {graph.name}"
            )
        with np.errstate(over="ignore"):
            total = float(values.sum())
        if not math.isfinite(total):
            raise ProfileError(f"{source}: the total {what} of {graph.name} is not finite ({formula} summed)")
    if not math.isfinite(costs.param_bytes):
        raise ProfileError(f"{source}: the parameters of {graph.name} take more bytes than a float holds")


def _frozen(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a
