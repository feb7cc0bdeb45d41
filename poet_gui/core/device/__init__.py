"""What the graph runs on and what each step costs: device profiles (human-editable TOML), the
per-node energy and time of computing and paging on a profile, and the units people type.

May import :mod:`~poet_gui.core.model` (costs are per graph node) and nothing later in the pipeline.
"""
