"""The input panels on their own: what a user reads in them."""

from __future__ import annotations

from poet_gui.core.device.profiles import load_profile
from poet_gui.ui.widgets.device_panel import DevicePanel


def test_device_figures_are_humanised_and_the_tooltip_explains_them(qtbot) -> None:
    panel = DevicePanel()
    qtbot.addWidget(panel)
    panel.show_profile(load_profile("a72"))
    text, tip = panel._figures.text(), panel._figures.toolTip()
    assert "2.00 GFLOP/s" in text and "40.1 MFLOP/J" in text and "150 mW" in text and "e+" not in text
    # rate ÷ efficiency is 49.9 W beside a 3 W "Compute power": the tooltip says why they differ
    assert "49.9 W" in tip and "does not use it" in tip
    assert "differs from a72nocache.toml" in tip  # the file's own notes
    panel.show_profile(load_profile("m4"))
    assert "6.37 MFLOP/s" in panel._figures.text() and "11.0 mW" in panel._figures.text()
    assert "does not use it" not in panel._figures.toolTip()  # m4's figures agree with each other
