"""Every error a user can cause is a :class:`PoetError` whose message names the file, field and value.

The CLI prints one of these as a single line and exits with code 2; the GUI shows it in a dialog. Any
other exception escaping the core is a bug.
"""


class PoetError(Exception):
    """Base of all user-facing errors: the message is complete, readable and names what is wrong."""


class GraphError(PoetError):
    """A training graph (built, loaded or imported) is malformed: cycles, unknown inputs, bad sizes."""


class ProfileError(PoetError):
    """A device profile is missing a field or holds a value that cannot be a physical figure."""


class SolveError(PoetError):
    """The solver could not produce a plan for a reason the user can act on."""


class InfeasibleError(SolveError):
    """No schedule fits the budgets; the message says the least RAM the model needs."""


class SolveCancelled(SolveError):
    """The user (or a newer request) cancelled the solve before it finished."""


class ScheduleError(PoetError):
    """An operation list breaks a rule: a missing input, a read of unwritten storage, RAM over budget."""


class PlanFormatError(PoetError):
    """A plan file is not a plan this version can read."""


class ReplayError(PoetError):
    """A plan cannot be replayed on the real model: another model, an operator without a kernel, no PyTorch."""
