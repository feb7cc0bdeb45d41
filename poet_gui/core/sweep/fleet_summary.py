"""Which device is the cheapest that fits each model: the figures of the fleet report's table.

Kept apart from :mod:`~poet_gui.core.sweep.fleet_report` (which draws with matplotlib) so the app's
Fleet view reads the very same figures without loading a second plotting library. "Fits" means the
plan and the parameters fit the device's whole RAM (``fits_device``; a profile without a RAM figure
is taken at its word).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from poet_gui.core.device.units import format_bytes, format_energy, format_factor, format_gap
from poet_gui.core.sweep.fleet_csv import FleetRow, model_labels, sort_rows


@dataclass(frozen=True, slots=True)
class DeviceChoice:
    """One device for one model at one runtime factor: the least RAM any plan needs, and the
    cheapest plan that fits the device (``chosen``; None when none of the swept budgets fits).
    ``model`` is the model's label (:func:`~poet_gui.core.sweep.fleet_csv.model_labels`)."""

    model: str
    profile: str
    runtime_factor: float
    least_ram_bytes: float
    chosen: FleetRow | None


def fleet_summary(rows: Iterable[FleetRow]) -> list[DeviceChoice]:
    """A :class:`DeviceChoice` per model, device and factor, cheapest first within each model and factor."""
    ordered = sort_rows(rows)
    labels = model_labels(ordered)
    groups: dict[tuple[str, float, str], list[FleetRow]] = {}
    for row in ordered:
        groups.setdefault((labels[row.variant], row.runtime_factor, row.profile), []).append(row)
    choices = []
    for (model, factor, profile), group in groups.items():
        fitting = [r for r in group if r.has_plan and r.fits_device is not False]
        chosen = min(fitting, key=lambda r: (r.energy_j, r.ram_budget_bytes), default=None)
        choices.append(DeviceChoice(model, profile, factor, group[0].least_ram_bytes, chosen))
    return sorted(choices, key=lambda c: (c.model, c.runtime_factor, c.chosen is None,
                                          c.chosen.energy_j if c.chosen else 0.0, c.profile))  # fmt: skip


def cheapest_per_model(rows: Iterable[FleetRow]) -> list[DeviceChoice]:
    """The first :class:`DeviceChoice` of each model and runtime factor: the report's first table."""
    seen: set[tuple[str, float]] = set()
    firsts = []
    for choice in fleet_summary(rows):
        if (choice.model, choice.runtime_factor) not in seen:
            seen.add((choice.model, choice.runtime_factor))
            firsts.append(choice)
    return firsts


def choice_cells(choice: DeviceChoice) -> tuple[str, str, str, str, str, str]:
    """A choice as the report's table and the app's Fleet view word it: runtime factor, device, least
    RAM, chosen budget, energy, status (an unproven plan with its gap; no plan: three cells in one)."""
    start = (format_factor(choice.runtime_factor), choice.profile, format_bytes(choice.least_ram_bytes))
    r = choice.chosen
    if r is None or r.energy_j is None:
        return (*start, "no swept budget fits the device", "", "")
    gap = "unknown" if r.gap is None else format_gap(r.gap)
    status = "optimal (proven)" if r.is_optimal else f"{r.status}, gap {gap}"
    return (*start, format_bytes(r.ram_budget_bytes), format_energy(r.energy_j), status)
