"""Plan files: one verified plan as versioned JSON, written atomically and re-checked when read.

A plan file carries everything needed to trust and reproduce a plan without the program that made it:
the graph itself (with a SHA-256 of its canonical form, so an edit is caught), the device profile's
figures, the budgets and switches, the solver and its options, the solver's account of the result,
the simulator's measurement of it, the problem's reference points, the decision matrices and the
ordered operation list. ``docs/plan-format.md`` documents every field with its unit.

Nothing in a file is taken on its word. :func:`read_plan` rebuilds the problem from the embedded graph
and figures, rebuilds the operation list from the decisions (it must equal the file's, step by step),
replays it in the simulator and refuses a file whose stated figures disagree with what it measures.
A file altered so that it breaks a dependency or the RAM budget is refused naming the step and the
reason. Every refusal is a :class:`PlanFormatError` whose message starts with the file's path.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, fields
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np

from poet_gui import __version__
from poet_gui.core.atomic import write_text_atomic
from poet_gui.core.device.profiles import PROFILE_FIELDS, DeviceProfile, figure_problem
from poet_gui.core.errors import GraphError, PlanFormatError, ScheduleError
from poet_gui.core.model.graph import TrainingGraph
from poet_gui.core.model.graph_io import JSON_TOO_DEEP, _graph_from_json, graph_to_json
from poet_gui.core.schedule.operations import Action, Operation, build_operations
from poet_gui.core.schedule.plan import OPTIMAL_GAP, Decisions, Plan, SolveStatus
from poet_gui.core.schedule.problem import Problem, Switches, make_problem
from poet_gui.core.schedule.reference_points import ReferencePoints, reference_points
from poet_gui.core.schedule.simulate import SimResult, simulate
from poet_gui.core.solve.milp import Method, Solver, SolverOptions
from poet_gui.core.solve.planner import VerifiedPlan

FORMAT = "poet-plan"
#: The format version this module writes; any change to a field's meaning bumps it. Version 2 added
#: ``fits_device`` and ``warnings``; version 1 files (without them) are still read.
VERSION = 2
READABLE_VERSIONS = (1, 2)

#: Stated figures must match the simulator's to this relative tolerance (float summation order only).
_FIGURE_RTOL = 1e-9
#: Lines of the file are kept within this width where an item allows (one operation per line).
_LINE_WIDTH = 100
#: List items whose compact form is at most this long (decision pairs) are packed several to a line.
_PACKED_ITEM_WIDTH = 16

_TOP_KEYS = (
    "format", "version", "created_by", "graph", "profile", "budgets", "switches", "solver", "result",
    "simulation", "reference", "decisions", "operations", "fits_device", "warnings",
)  # fmt: skip
#: Top-level fields that version 1 files lack.
_V2_KEYS = ("fits_device", "warnings")
_BUDGET_KEYS = ("ram_budget_bytes", "runtime_factor")
_SWITCH_KEYS = tuple(f.name for f in fields(Switches))
_SOLVER_KEYS = ("strategy", "options")
_OPTION_KEYS = ("solver", "time_limit_s", "rel_gap", "threads", "method")
#: Fields older files may lack, with what their absence means.
_OPTIONAL_OPTION_KEYS = ("method",)
_RESULT_KEYS = ("status", "message", "energy_j", "bound_j", "gap", "solve_s", "solver_energy_j")
_SIM_FLOATS = (
    "energy_j", "compute_j", "pagein_j", "pageout_j", "compute_s", "paging_s", "runtime_s", "peak_ram_bytes",
    "activation_budget_bytes",
)  # fmt: skip
_SIM_COUNTS = ("recomputes", "pageins", "pageouts")
_REFERENCE_KEYS = tuple(f.name for f in fields(ReferencePoints))
_DECISION_KEYS = tuple(f.name for f in fields(Decisions))
_PROFILE_FIGURES = tuple(f for f in PROFILE_FIELDS if f.attr != "name")
_PROFILE_KEYS = ("key", "name", "source", *(f.attr for f in _PROFILE_FIGURES))
_WITH_SCHEDULE = (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE)
_E = TypeVar("_E", bound=StrEnum)


@dataclass(frozen=True)
class PlanFile:
    """A plan read back from a file, with what the file says beyond the plan itself.

    ``options`` are the solver options the plan was made with, ``None`` when the writer did not record
    them (a plan from a heuristic has none); ``created_by`` names the program that wrote the file.
    """

    result: VerifiedPlan
    options: SolverOptions | None
    created_by: str
    version: int = VERSION


def graph_sha256(graph: TrainingGraph) -> str:
    """SHA-256 (hex) of the graph's canonical JSON: :func:`graph_to_json` with sorted keys, no
    whitespace, UTF-8. A plan is only valid for the graph it was made for, so the file pins it."""
    canonical = json.dumps(graph_to_json(graph), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def plan_to_json(result: VerifiedPlan, *, options: SolverOptions | None = None) -> dict[str, Any]:
    """The file form of ``result`` (see ``docs/plan-format.md``).

    A plan without a schedule (infeasible, no plan in time, cancelled) is written too, with
    ``simulation``, ``decisions`` and ``operations`` set to null, so a "no plan" can be shared with its
    reason. Refuses a plan the simulator has not measured: only verified plans leave the program.
    """
    plan, sim, ref = result.plan, result.sim, result.reference
    if (plan.decisions is None) != (sim is None):
        raise ScheduleError("only a plan verified by the simulator can be written to a plan file")
    p = plan.problem
    return {
        "format": FORMAT,
        "version": VERSION,
        "created_by": f"POET Studio {__version__}",
        "graph": {"sha256": graph_sha256(p.graph), **graph_to_json(p.graph)},
        "profile": {
            "key": p.profile.key,
            "name": p.profile.name,
            "source": p.profile.source,
            **{f.attr: getattr(p.profile, f.attr) for f in _PROFILE_FIGURES},
        },
        "budgets": {"ram_budget_bytes": p.ram_budget_bytes, "runtime_factor": p.runtime_factor},
        "switches": {key: getattr(p.switches, key) for key in _SWITCH_KEYS},
        "solver": {
            "strategy": plan.strategy,
            "options": None
            if options is None
            else {
                "solver": options.solver.value,
                "time_limit_s": float(options.time_limit_s),
                "rel_gap": float(options.rel_gap),
                "threads": options.threads,
                "method": options.method.value,
            },
        },
        "result": {
            "status": plan.status.value,
            "message": plan.message,
            "energy_j": _float_or_none(plan.energy_j),
            "bound_j": _float_or_none(plan.bound_j),
            "gap": _float_or_none(plan.gap),
            "solve_s": float(plan.solve_s),
            "solver_energy_j": _float_or_none(plan.solver_energy_j),
        },
        "simulation": None if sim is None else _simulation_json(sim),
        "reference": {key: float(getattr(ref, key)) for key in _REFERENCE_KEYS},
        "decisions": None
        if plan.decisions is None
        else {key: np.argwhere(getattr(plan.decisions, key)).tolist() for key in _DECISION_KEYS},
        "operations": None
        if sim is None
        else [[op.stage, op.action.value, op.node, op.is_recompute] for op in sim.operations],
        **_fit_json(result),
    }


def _fit_json(result: VerifiedPlan) -> dict[str, Any]:
    """Whether the plan fits the device's RAM with the parameters, and the warnings that follow."""
    fit = result.fit
    return {"fits_device": fit.fits_device, "warnings": list(fit.warnings)}


def plan_json_text(result: VerifiedPlan, *, options: SolverOptions | None = None) -> str:
    """The file's text: indented for reading, one operation per line, decision pairs packed."""
    return _dumps(plan_to_json(result, options=options), 0) + "\n"


def save_plan(result: VerifiedPlan, path: Path | str, *, options: SolverOptions | None = None) -> None:
    """Write ``result`` to ``path`` atomically; :func:`read_plan` gives back an equal plan."""
    write_text_atomic(Path(path), plan_json_text(result, options=options))


def load_plan(path: Path | str) -> VerifiedPlan:
    """Read, re-check and return the plan of a plan file (see :func:`read_plan`)."""
    return read_plan(path).result


def read_plan(path: Path | str) -> PlanFile:
    """Read a plan file and re-check it with the simulator; raise :class:`PlanFormatError` if it is
    malformed, of another version, made for another graph than the one it embeds, or if its schedule
    or stated figures do not hold up."""
    path = Path(path)
    data = read_json_document(path, "plan file")
    return plan_from_json(data, str(path))


def read_json_document(path: Path, what: str) -> object:
    """The parsed JSON of ``path``; every way it can fail is a :class:`PlanFormatError` that names the
    file and says what is wrong (``what`` is e.g. "plan file"), so readers share one set of messages."""
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise PlanFormatError(f"{path}: no such {what}") from None
    except IsADirectoryError:
        raise PlanFormatError(f"{path}: is a directory, not a {what}") from None
    except OSError as exc:
        raise PlanFormatError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise PlanFormatError(f"{path}: not UTF-8 text: {exc}") from None
    try:
        return json.loads(text)
    except RecursionError:
        raise PlanFormatError(f"{path}: not a readable {what}: {JSON_TOO_DEEP}") from None
    except json.JSONDecodeError as exc:
        raise PlanFormatError(
            f"{path}: not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
            + (" - the file looks truncated" if exc.pos >= len(text.rstrip()) else "")
        ) from None
    except ValueError as exc:  # an integer of more than 4300 digits: Python refuses to convert it
        raise PlanFormatError(f"{path}: not a readable {what}: {str(exc).split(';')[0]}") from None


def plan_from_json(data: object, source: str) -> PlanFile:
    """Check and rebuild a plan from the parsed JSON of a plan file; ``source`` starts every message."""
    top = _header(data, source)
    created_by = top.text("created_by")
    graph = _graph(top, source)
    profile = _profile(top.object("profile", _PROFILE_KEYS))
    budgets = top.object("budgets", _BUDGET_KEYS)
    switches = top.object("switches", _SWITCH_KEYS)
    problem = make_problem(
        graph,
        profile,
        ram_budget_bytes=budgets.number("ram_budget_bytes", sign="positive"),
        runtime_factor=budgets.number("runtime_factor", sign="positive"),
        switches=Switches(**{key: switches.flag(key) for key in _SWITCH_KEYS}),
    )
    solver = top.object("solver", _SOLVER_KEYS)
    strategy = solver.text("strategy", is_empty_ok=False)
    options = (
        None
        if solver.raw("options") is None
        else _options(solver.object("options", _OPTION_KEYS, _OPTIONAL_OPTION_KEYS))
    )
    res = top.object("result", _RESULT_KEYS)
    status = res.choice("status", SolveStatus)
    has_schedule = status in _WITH_SCHEDULE
    for key in ("simulation", "decisions", "operations"):
        if has_schedule and top.raw(key) is None:
            raise top.fail(key, f"is null, but a plan with status {status.value!r} has a schedule")
        if not has_schedule and top.raw(key) is not None:
            raise top.fail(key, f"must be null for status {status.value!r} (a plan without a schedule)")
    n = len(graph)
    decisions = _decisions(top.object("decisions", _DECISION_KEYS), n) if has_schedule else None
    plan = Plan(
        problem,
        status,
        strategy,
        decisions,
        energy_j=res.optional_number("energy_j"),
        bound_j=res.optional_number("bound_j", sign="any"),
        solve_s=res.number("solve_s"),
        message=res.text("message"),
        solver_energy_j=res.optional_number("solver_energy_j", sign="any"),
    )
    _check_gap(res, plan)
    ref = reference_points(problem)
    _check_figures(top.object("reference", _REFERENCE_KEYS), {key: getattr(ref, key) for key in _REFERENCE_KEYS})
    sim = None
    if decisions is not None:
        operations = _operations(top, graph)
        sim = _replay(source, problem, decisions, operations)
        if plan.energy_j is not None and not math.isclose(sim.energy_j, plan.energy_j, rel_tol=_FIGURE_RTOL):
            raise res.fail("energy_j", f"is {_num(plan.energy_j)} J but the simulator measures {_num(sim.energy_j)} J")
        simulation = top.object("simulation", _SIM_FLOATS + _SIM_COUNTS)
        _check_figures(simulation, _sim_figures(sim))
        for key in _SIM_COUNTS:
            if simulation.count(key) != getattr(sim, key):
                raise simulation.fail(key, f"is {simulation.raw(key)!r} but the simulator counts {getattr(sim, key)}")
    result = VerifiedPlan(plan, sim, ref)
    version = top.raw("version")
    if version >= 2:
        _check_fit(top, result)
    return PlanFile(result, options, created_by, version)


def _check_fit(top: _Object, result: VerifiedPlan) -> None:
    """``fits_device`` and ``warnings`` are derived figures: a file whose say-so differs from what its
    plan and profile give was edited (or written by a buggy tool), and a reader must not trust it."""

    def shown(value: object) -> str:
        return json.dumps(value) if value is None or isinstance(value, bool) else _show(value)

    for key, expected in _fit_json(result).items():
        stated = top.raw(key)
        if type(stated) is not type(expected) or stated != expected:
            raise top.fail(key, f"is {shown(stated)} but the plan and the profile give {shown(expected)}")


# --- writing ---------------------------------------------------------------------------------------


def _float_or_none(value: float | None) -> float | None:
    return None if value is None else float(value)


def _simulation_json(sim: SimResult) -> dict[str, Any]:
    return {**_sim_figures(sim), **{key: getattr(sim, key) for key in _SIM_COUNTS}}


def _sim_figures(sim: SimResult) -> dict[str, float]:
    """The simulator's float figures under the file's names; ``activation_budget_bytes`` is the budget
    the simulator judged RAM against (the RAM budget, less the parameters when it includes them)."""
    named = {"activation_budget_bytes": sim.budget_bytes}
    return {key: float(named[key] if key in named else getattr(sim, key)) for key in _SIM_FLOATS}


def _dumps(value: Any, level: int, *, is_item: bool = False) -> str:
    """JSON text that a person can read and diff: sections indented, small values on one line, and
    one line per graph node and per operation (list items that are flat records)."""
    flat = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(", ", ": "))
    depth = _depth(value)
    if depth == 0 or (depth <= 2 and (is_item or len(flat) + level <= _LINE_WIDTH)):
        return flat
    pad, inner = " " * level, " " * (level + 1)
    if isinstance(value, dict):
        items = [f"{inner}{json.dumps(k, ensure_ascii=False)}: {_dumps(v, level + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    parts = [_dumps(v, level + 1, is_item=True) for v in value]
    if all(len(p) <= _PACKED_ITEM_WIDTH for p in parts):
        lines, line = [], ""
        for part in parts:
            if line and len(inner) + len(line) + len(part) + 2 > _LINE_WIDTH:
                lines.append(line + ",")
                line = ""
            line = f"{line}, {part}" if line else part
        parts = [*lines, line]
        return "[\n" + "\n".join(inner + p for p in parts) + "\n" + pad + "]"
    return "[\n" + ",\n".join(inner + p for p in parts) + "\n" + pad + "]"


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


# --- reading ---------------------------------------------------------------------------------------


class _Object:
    """One JSON object of a plan file: checked for missing and unknown fields, with typed getters
    whose refusals name the file and the dotted field (``result.energy_j``)."""

    def __init__(
        self, source: str, where: str, value: object, keys: tuple[str, ...], optional: tuple[str, ...] = ()
    ) -> None:
        self.source, self.where = source, where
        label = f"{where}: " if where else ""
        if not isinstance(value, dict):
            raise PlanFormatError(f"{source}: {where or 'the top level'} must be a JSON object, got {_show(value)}")
        missing = [k for k in keys if k not in value and k not in optional]
        if missing:
            raise PlanFormatError(f"{source}: {label}missing field(s) {', '.join(missing)}")
        unknown = [k for k in value if k not in keys]
        if unknown:
            raise PlanFormatError(
                f"{source}: {label}unknown field(s) {', '.join(unknown)} (allowed: {', '.join(keys)})"
            )
        self._data: dict[str, Any] = value

    def fail(self, key: str, why: str) -> PlanFormatError:
        return PlanFormatError(f"{self.source}: {self.where + '.' if self.where else ''}{key} {why}")

    def raw(self, key: str) -> Any:
        return self._data[key]

    def object(self, key: str, keys: tuple[str, ...], optional: tuple[str, ...] = ()) -> _Object:
        return _Object(self.source, f"{self.where}.{key}" if self.where else key, self._data[key], keys, optional)

    def has(self, key: str) -> bool:
        return key in self._data

    def text(self, key: str, *, is_empty_ok: bool = True) -> str:
        value = self._data[key]
        if not isinstance(value, str) or (not is_empty_ok and not value.strip()):
            raise self.fail(key, f"must be a {'' if is_empty_ok else 'non-empty '}string, got {_show(value)}")
        return value

    def flag(self, key: str) -> bool:
        value = self._data[key]
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false, got {_show(value)}")
        return value

    def count(self, key: str, *, is_positive: bool = False) -> int:
        value = self._data[key]
        if not _is_int(value) or value < (1 if is_positive else 0):
            raise self.fail(key, f"must be an integer >= {1 if is_positive else 0}, got {_show(value)}")
        return value

    def choice(self, key: str, kind: type[_E]) -> _E:
        value = self._data[key]
        allowed = [m.value for m in kind]
        if value not in allowed:
            raise self.fail(key, f"must be one of {', '.join(map(repr, allowed))}, got {_show(value)}")
        return kind(value)

    def number(self, key: str, *, sign: Literal["any", "non-negative", "positive"] = "non-negative") -> float:
        """A finite float (JSON integers accepted) of the given sign."""
        value = self._data[key]
        what = {"any": "a finite number", "non-negative": "a finite number >= 0", "positive": "a finite number > 0"}
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(key, f"must be {what[sign]}, got {_show(value)}")
        number = float(value) if abs(value) < 1e308 else math.inf
        if not math.isfinite(number) or (sign == "non-negative" and number < 0) or (sign == "positive" and number <= 0):
            raise self.fail(key, f"must be {what[sign]}, got {_show(value)}")
        return number

    def optional_number(
        self, key: str, *, sign: Literal["any", "non-negative", "positive"] = "non-negative"
    ) -> float | None:
        """Like :meth:`number`, or ``None`` for a JSON null (a figure that does not exist)."""
        if self._data[key] is None:
            return None
        try:
            return self.number(key, sign=sign)
        except PlanFormatError as exc:
            raise PlanFormatError(f"{exc} (or null)") from None


def _header(data: object, source: str) -> _Object:
    """Check what the file is before anything else, so another JSON file is named for what it is."""
    is_v1 = isinstance(data, dict) and data.get("version") == 1
    keys = tuple(k for k in _TOP_KEYS if k not in _V2_KEYS) if is_v1 else _TOP_KEYS
    return check_header(data, source, format_name=FORMAT, version=READABLE_VERSIONS, what="plan", top_keys=keys)


def check_header(
    data: object,
    source: str,
    *,
    format_name: str,
    version: int | tuple[int, ...],
    what: str,
    top_keys: tuple[str, ...],
) -> _Object:
    """The top level of a versioned POET Studio file (plan, workspace): a JSON object whose
    ``format`` and ``version`` this build reads; anything else is refused naming what it is."""
    if not isinstance(data, dict):
        raise PlanFormatError(f"{source}: the top level must be a JSON object, got {_show(data)}")
    if data.get("format") != format_name:
        found = f"its format is {_show(data['format'])}" if "format" in data else "it has no format field"
        raise PlanFormatError(f"{source}: not a POET Studio {what} file ({found}; expected {format_name!r})")
    found_version = data.get("version")
    if not _is_int(found_version):
        raise PlanFormatError(f"{source}: version must be an integer, got {_show(found_version)}")
    versions = version if isinstance(version, tuple) else (version,)
    if found_version not in versions:
        newer = " (written by a newer POET Studio)" if found_version > max(versions) else ""
        reads = " and ".join(map(str, versions))
        raise PlanFormatError(
            f"{source}: {what} format version {found_version} is not supported{newer}; "
            f"POET Studio {__version__} reads version {reads}"
        )
    return _Object(source, "", data, top_keys)


def _graph(top: _Object, source: str) -> TrainingGraph:
    raw = top.raw("graph")
    if not isinstance(raw, dict):
        raise top.fail("graph", f"must be a JSON object, got {_show(raw)}")
    for key in ("sha256", "model"):
        if key not in raw:
            raise top.fail("graph", f"is missing field {key}")
    stated = raw["sha256"]
    if not isinstance(stated, str):
        raise top.fail("graph.sha256", f"must be a string, got {_show(stated)}")
    try:
        graph = _graph_from_json({k: v for k, v in raw.items() if k != "sha256"}, f"{source}: graph", default_name="")
    except GraphError as exc:
        raise PlanFormatError(str(exc)) from None
    actual = graph_sha256(graph)
    if actual != stated:
        raise top.fail(
            "graph.sha256",
            f"is {stated} but the embedded graph hashes to {actual}: the graph was changed after the plan was made",
        )
    return graph


def _profile(obj: _Object) -> DeviceProfile:
    values: dict[str, Any] = {}
    for f in _PROFILE_FIGURES:
        if not f.is_required and obj.raw(f.attr) is None:
            values[f.attr] = None
        elif f.kind == "count":
            values[f.attr] = obj.count(f.attr, is_positive=True)
        else:
            values[f.attr] = obj.number(f.attr, sign="positive")
            if why := figure_problem(f, values[f.attr]):
                raise obj.fail(f.attr, f"{why}, got {_num(values[f.attr])}")
    return DeviceProfile(
        key=obj.text("key", is_empty_ok=False),
        name=obj.text("name", is_empty_ok=False),
        source=obj.text("source"),
        **values,
    )


def _options(obj: _Object) -> SolverOptions:
    return SolverOptions(
        solver=obj.choice("solver", Solver),
        time_limit_s=obj.number("time_limit_s", sign="positive"),
        rel_gap=obj.number("rel_gap"),
        threads=obj.count("threads", is_positive=True),
        method=obj.choice("method", Method) if obj.has("method") else Method.AUTO,
    )


def _decisions(obj: _Object, n: int) -> Decisions:
    """Rebuild the ``(T, T)`` matrices from their true ``[stage, node]`` entries."""
    mats = {}
    for key in _DECISION_KEYS:
        entries = obj.raw(key)
        if not isinstance(entries, list):
            raise obj.fail(key, f"must be a list of [stage, node] pairs, got {_show(entries)}")
        m = np.zeros((n, n), dtype=bool)
        for i, entry in enumerate(entries):
            if not (isinstance(entry, list) and len(entry) == 2 and all(_is_int(x) and 0 <= x < n for x in entry)):
                raise obj.fail(
                    f"{key}[{i}]", f"must be a [stage, node] pair of integers in 0..{n - 1}, got {_show(entry)}"
                )
            m[entry[0], entry[1]] = True
        mats[key] = m
    return Decisions.of(**mats)


def _operations(top: _Object, graph: TrainingGraph) -> tuple[Operation, ...]:
    raw = top.raw("operations")
    if not isinstance(raw, list):
        raise top.fail("operations", f"must be a list, got {_show(raw)}")
    actions = [a.value for a in Action]
    n = len(graph)
    ops = []
    for k, entry in enumerate(raw):
        if not (
            isinstance(entry, list)
            and len(entry) == 4
            and _is_int(entry[0])
            and 0 <= entry[0] < n
            and entry[1] in actions
            and _is_int(entry[2])
            and 0 <= entry[2] < n
            and isinstance(entry[3], bool)
        ):
            raise top.fail(
                f"operations[{k}]",
                f"must be [stage, action, node, is_recompute] with stage and node in 0..{n - 1} and action one of "
                f"{', '.join(map(repr, actions))}, got {_show(entry)}",
            )
        ops.append(Operation(entry[0], Action(entry[1]), entry[2], entry[3]))
    return tuple(ops)


def _replay(source: str, problem: Problem, decisions: Decisions, operations: tuple[Operation, ...]) -> SimResult:
    """Simulate the schedule of ``decisions``, which must be exactly the file's operation list.

    When the two differ, the file's own list is replayed first: an edit that breaks a dependency is
    then named by the step that fails and why, rather than only as a difference from the decisions.
    The planner's ``verify`` is not used because its energy cross-check blames a bug in a strategy,
    whereas here a mismatch means the file was changed (:func:`plan_from_json` names the field).
    """
    expected = build_operations(problem.graph, decisions)
    if operations != expected:
        try:
            simulate(problem, operations)
        except ScheduleError as exc:
            raise PlanFormatError(f"{source}: operations: {exc}") from None
        try:
            simulate(problem, expected)
        except ScheduleError as exc:
            raise PlanFormatError(f"{source}: decisions: the schedule they give fails at {exc}") from None
        raise PlanFormatError(f"{source}: operations: {_first_difference(problem.graph, operations, expected)}")
    try:
        return simulate(problem, expected)
    except ScheduleError as exc:
        raise PlanFormatError(f"{source}: {exc}") from None


def _first_difference(graph: TrainingGraph, given: tuple[Operation, ...], expected: tuple[Operation, ...]) -> str:
    def show(op: Operation) -> str:
        action = "recompute" if op.is_recompute else op.action.value
        return f"stage {op.stage}, {action} {graph.nodes[op.node].name}"

    for k, (a, b) in enumerate(zip(given, expected, strict=False)):
        if a != b:
            return f"step {k} is ({show(a)}) but the decisions give ({show(b)})"
    return f"the file lists {len(given)} operations but the decisions give {len(expected)}"


def _check_gap(res: _Object, plan: Plan) -> None:
    """The stated gap must follow from the energy and the bound, and "optimal" must be proven."""
    stated = res.optional_number("gap")
    actual = plan.gap
    if (stated is None) != (actual is None) or (
        stated is not None and not math.isclose(stated, actual, rel_tol=_FIGURE_RTOL, abs_tol=1e-12)
    ):
        raise res.fail("gap", f"is {_num(stated)} but result.energy_j and result.bound_j give {_num(actual)}")
    if plan.status is SolveStatus.OPTIMAL and (actual is None or actual > OPTIMAL_GAP):
        raise res.fail(
            "status", f"is 'optimal' but the gap is {_num(actual)}: optimal needs a proven gap <= {OPTIMAL_GAP}"
        )


def _check_figures(obj: _Object, measured: dict[str, float]) -> None:
    """Stated figures are for people and other tools; they must agree with what the file's problem gives."""
    for key, actual in measured.items():
        stated = obj.number(key, sign="any")
        if not math.isclose(stated, actual, rel_tol=_FIGURE_RTOL):
            raise obj.fail(key, f"is {_num(stated)} but the file's problem gives {_num(actual)}")


def _num(value: float | None) -> str:
    """A figure for a message, exactly and plainly: ``0.0066``, never numpy's ``np.float64(0.0066)``."""
    return "null" if value is None else repr(float(value))


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _show(value: object) -> str:
    """A value for a message: its JSON type for containers (which may be huge), else a short repr."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        text = json.dumps(value)
        return text if len(text) <= 60 else "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
