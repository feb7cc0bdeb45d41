"""Device fit: a plan's activations plus the model's parameters against the device's whole RAM, the
check that says whether a verified plan's budget was physically possible (issue 16 item 9)."""

from __future__ import annotations

import dataclasses

import pytest

from poet_gui.core.device.profiles import load_profile
from poet_gui.core.files.plan_io import plan_to_json, read_plan, save_plan
from poet_gui.core.model.zoo import build_model
from poet_gui.core.schedule.device_fit import DeviceFit, device_fit, device_name
from poet_gui.core.schedule.problem import Switches, make_problem
from poet_gui.core.solve.planner import plan_problem

M4_RAM = 262_144  # nRF52840: 256 KiB


@pytest.fixture(scope="module")
def m4():
    profile = load_profile("m4")
    assert profile.ram_bytes == M4_RAM
    return profile


def test_the_device_name_is_the_profile_name_before_its_details(m4):
    assert device_name(m4) == "nRF52840"


@pytest.mark.parametrize(("activations", "params"), [(100_000, 50_000), (M4_RAM - 1000, 1000), (0, M4_RAM)])
def test_a_plan_within_the_device_ram_fits(m4, activations, params):
    assert device_fit(m4, activations, params) == DeviceFit(True, ())


def test_one_byte_over_the_device_ram_does_not_fit_and_says_why(m4):
    fit = device_fit(m4, 200_000, M4_RAM - 200_000 + 1)
    assert fit.fits_device is False
    assert fit.warnings == ("activations 195 KiB + parameters 60.7 KiB exceed the nRF52840's 256 KiB",)


def test_nothing_is_judged_without_a_plan_or_a_stated_ram(m4):
    assert device_fit(m4, None, 1000) == DeviceFit(None, ())
    no_ram = dataclasses.replace(m4, ram_bytes=None)
    assert device_fit(no_ram, 10**9, 10**9) == DeviceFit(None, ())


def test_resnet18_cifar_on_m4_above_the_device_ram_is_flagged_in_its_plan_file(m4, tmp_path):
    """The case in the issue: a verified plan whose budget (the plain peak, 2.34 MiB) and parameters
    (972 KiB) are far beyond the nRF52840's 256 KiB. Its plan file says so, and reads back."""
    graph = build_model("resnet18_cifar")
    problem = make_problem(graph, m4, ram_budget_bytes=3 * 1024 * 1024, runtime_factor=1.0)
    result = plan_problem(problem)
    assert result.sim is not None and result.sim.peak_ram_bytes > M4_RAM
    data = plan_to_json(result)
    assert data["fits_device"] is False
    assert data["warnings"] == ["activations 2.34 MiB + parameters 972 KiB exceed the nRF52840's 256 KiB"]
    path = tmp_path / "resnet.json"
    save_plan(result, path)
    assert read_plan(path).version == 2


def test_a_budget_that_counts_the_parameters_within_the_device_ram_always_fits(m4):
    """What the app's banner offers: with the parameters in a budget no larger than the device's RAM,
    the activations are held to what is left, so the plan fits by construction."""
    graph = build_model("linear")
    switches = Switches(budget_includes_params=True)
    result = plan_problem(make_problem(graph, m4, ram_budget_bytes=M4_RAM, runtime_factor=1.0, switches=switches))
    assert result.sim is not None
    assert plan_to_json(result)["fits_device"] is True
