"""How a plan is found: heuristics (instant, verified plans), the POET MILP (built as sparse arrays,
solved with HiGHS or CBC, windowed for the largest models), the eviction lower bound, the planner that
ties them together, and the killable child process the app and CLI solve in.

May import :mod:`~poet_gui.core.model`, :mod:`~poet_gui.core.device` and
:mod:`~poet_gui.core.schedule`; nothing here reads or writes files.
"""
