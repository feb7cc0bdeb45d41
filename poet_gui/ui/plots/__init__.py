"""The four plots of a plan: its timeline, its RAM over time, its energy, and the sweep trade-off.

Each is created once and redrawn in place from a plan or a ``SimResult`` (STYLE §6).
"""

from poet_gui.ui.plots.energy import EnergyPlot
from poet_gui.ui.plots.memory import MemoryPlot
from poet_gui.ui.plots.timeline import TimelinePlot
from poet_gui.ui.plots.tradeoff import TradeoffPlot, TradeoffPoint

__all__ = ["EnergyPlot", "MemoryPlot", "TimelinePlot", "TradeoffPlot", "TradeoffPoint"]
