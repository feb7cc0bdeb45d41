"""Whether a plan fits the device it was made for: its activations plus the model's parameters
against the device's whole RAM.

The RAM budget a user sets is for activations and gradients (unless it includes the parameters), and
nothing stops it from exceeding the device: resnet18_cifar planned at 1.05 MiB on the nRF52840
(256 KiB) on top of 972 KiB of parameters was shown as "verified". A verified plan is only correct
for the budget it was given; this check says whether that budget was physically possible. Pure and
Qt-free: the CLI prints it, plan files record it, and the app can show it as a banner.
"""

from __future__ import annotations

from dataclasses import dataclass

from poet_gui.core.device.profiles import DeviceProfile
from poet_gui.core.device.units import format_bytes


@dataclass(frozen=True, slots=True)
class DeviceFit:
    """``fits_device``: True or False when there is a plan and the profile states the device RAM,
    None when either is missing (there is nothing to judge). ``warnings``: one readable sentence each."""

    fits_device: bool | None
    warnings: tuple[str, ...] = ()


def device_name(profile: DeviceProfile) -> str:
    """The device's short name: ``nRF52840`` from ``nRF52840 (Cortex-M4F, SD card)``."""
    return profile.name.split(" (")[0].strip() or profile.key


def device_fit(profile: DeviceProfile, peak_activation_bytes: float | None, param_bytes: float) -> DeviceFit:
    """Judge a plan whose activations peak at ``peak_activation_bytes`` (None: no plan) on ``profile``
    for a model whose parameters take ``param_bytes``: both must be in the device's RAM at once."""
    if peak_activation_bytes is None or profile.ram_bytes is None:
        return DeviceFit(None)
    need = peak_activation_bytes + param_bytes
    if need <= profile.ram_bytes:
        return DeviceFit(True)
    return DeviceFit(
        False,
        (
            f"activations {format_bytes(peak_activation_bytes)} + parameters {format_bytes(param_bytes)} exceed "
            f"the {device_name(profile)}'s {format_bytes(profile.ram_bytes)}",
        ),
    )
