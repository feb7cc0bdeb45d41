"""A planning problem, a plan, and the independent check of both.

``problem`` pairs a graph with a device, budgets and switches; ``plan`` holds a plan's decision
matrices and honest status; ``operations`` turns decisions into the ordered operation list an executor
runs; ``simulate`` replays that list with its own bookkeeping (the check every plan passes before it is
shown or exported); ``reference_points`` gives the plain schedule's figures and the least RAM a plan
needs. May import :mod:`~poet_gui.core.model` and :mod:`~poet_gui.core.device`, never a solver, so the
check stays independent of what it checks.
"""
