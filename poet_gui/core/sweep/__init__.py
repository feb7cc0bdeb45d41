"""Many problems at once: the energy/RAM trade-off across a grid of budgets, solved in parallel
worker processes, recorded as CSV and drawn as a PNG.

The last stage of the core: it may import every earlier one, and none of them imports it.
"""
