"""The POET MILP (FORMULATION §4) as solver-neutral sparse arrays."""

from poet_gui.core.solve.milp_model.arrays import (
    OBJECTIVE_UNITS,
    RUNTIME_UNITS,
    Family,
    MilpModel,
    SparseMilp,
)
from poet_gui.core.solve.milp_model.builder import BuildDeadlineError
from poet_gui.core.solve.milp_model.families import build_model

__all__ = [
    "OBJECTIVE_UNITS",
    "RUNTIME_UNITS",
    "BuildDeadlineError",
    "Family",
    "MilpModel",
    "SparseMilp",
    "build_model",
]
