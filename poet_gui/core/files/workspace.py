"""Workspaces: a whole planning session (model, device, budgets, switches, solver options, the plan on
show and the pinned plans) as one versioned JSON file, written atomically and checked when read.

A workspace must reopen to the same state on another machine, after the graph file it was made from
moved, and after the zoo or a profile file changed. So it embeds what it depends on: the graph itself
(with its SHA-256, as plan files do), the device profile's figures, and every plan as its complete
plan-file object, which is re-checked by the simulator on reading exactly like a plan file
(:func:`~poet_gui.core.files.plan_io.plan_from_json`). Nothing is taken on its word.

Every refusal is a :class:`PlanFormatError` whose message starts with the file's path and names the
field (``ws.json: budgets.runtime_factor must be a finite number > 0, got -1``); a refused pinned plan
is named by its position and name (``ws.json: pinned[1] ('tight'): operations: step 6 ...``).
``docs/workspace-format.md`` documents every field. The reader shares the plan file's field readers
(``plan_io``'s private helpers), so both formats check and name fields alike.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from poet_gui import __version__
from poet_gui.core.atomic import write_text_atomic
from poet_gui.core.device.profiles import DeviceProfile
from poet_gui.core.errors import PlanFormatError, PoetError
from poet_gui.core.files.plan_io import (
    _BUDGET_KEYS,
    _LINE_WIDTH,
    _OPTION_KEYS,
    _OPTIONAL_OPTION_KEYS,
    _PACKED_ITEM_WIDTH,
    _PROFILE_FIGURES,
    _PROFILE_KEYS,
    _SWITCH_KEYS,
    _graph,
    _Object,
    _options,
    _profile,
    _show,
    check_header,
    graph_sha256,
    plan_from_json,
    plan_to_json,
    read_json_document,
)
from poet_gui.core.model.graph import TrainingGraph
from poet_gui.core.model.graph_io import graph_to_json
from poet_gui.core.model.zoo import build_model, list_models
from poet_gui.core.schedule.problem import Switches
from poet_gui.core.solve.milp import SolverOptions
from poet_gui.core.solve.planner import VerifiedPlan

FORMAT = "poet-workspace"
#: The format version this module writes and the only one it reads; any change to a field's meaning bumps it.
VERSION = 1

_TOP_KEYS = (
    "format", "version", "created_by", "model", "profile", "budgets", "switches", "solver_options", "plan", "pinned",
)  # fmt: skip
_MODEL_KEYS = ("zoo_name", "params", "graph_path", "graph")
_PIN_KEYS = ("name", "plan")
#: One encoder for every value of the layout: ``json.dumps`` with options builds a new one per call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(", ", ": "))


@dataclass(frozen=True)
class PinnedPlan:
    """A verified plan kept under a name, to compare with others and to hand on.

    ``options`` are the solver options it was made with (``None`` when unknown), so exporting it later
    writes the same plan file as exporting it at once would have.
    """

    name: str
    result: VerifiedPlan
    options: SolverOptions | None = None


@dataclass(frozen=True)
class Workspace:
    """Everything a session needs to reopen. The model is a zoo model (``zoo_name`` and ``params``,
    ``graph_path`` None) or a file (``graph_path``, ``zoo_name`` None); ``graph`` is the graph itself
    either way, and is what the session plans. ``current`` is the plan on show, made for exactly these
    inputs, or None (the app then solves on opening)."""

    zoo_name: str | None
    params: tuple[tuple[str, int], ...]
    graph_path: str | None
    graph: TrainingGraph
    profile: DeviceProfile
    ram_budget_bytes: float
    runtime_factor: float
    switches: Switches
    options: SolverOptions
    current: VerifiedPlan | None = None
    pinned: tuple[PinnedPlan, ...] = ()


def plan_mismatch(workspace: Workspace, result: VerifiedPlan) -> str:
    """Why ``result`` was not made for the workspace's inputs ("" if it was).

    A workspace's plan on show must belong to its graph, device, budgets and switches; a window saved
    while a re-solve was pending still shows the plan of the previous budgets, which is left out.
    """
    p = result.plan.problem
    if p.ram_budget_bytes != workspace.ram_budget_bytes:
        return f"its RAM budget is {p.ram_budget_bytes!r} B, the workspace's {workspace.ram_budget_bytes!r} B"
    if p.runtime_factor != workspace.runtime_factor:
        return f"its runtime budget is {p.runtime_factor!r}x, the workspace's {workspace.runtime_factor!r}x"
    if p.switches != workspace.switches:
        return f"its switches are {p.switches}, the workspace's {workspace.switches}"
    if p.profile != workspace.profile:
        return f"it was made for device profile {p.profile.key!r} with other figures than the workspace's"
    if p.graph is not workspace.graph and graph_sha256(p.graph) != graph_sha256(workspace.graph):
        return f"it was made for another graph ({p.graph.name!r}) than the workspace's ({workspace.graph.name!r})"
    return ""


def unique_name(name: str, taken: set[str] | frozenset[str]) -> str:
    """``name``, or ``name (2)``, ``name (3)``, ... : pinned plans are told apart by their names."""
    name = name.strip() or "plan"
    if name not in taken:
        return name
    k = 2
    while f"{name} ({k})" in taken:
        k += 1
    return f"{name} ({k})"


def file_format(path: Path) -> str | None:
    """The ``"format"`` of a JSON file whose top level is an object with a string ``format``, else None.

    Tells plan and workspace files from graph files (which have no such field) before choosing a
    reader; a file that cannot be read or parsed gives None, and the graph reader then names the fault.
    """
    try:
        data = json.loads(Path(path).read_bytes().decode("utf-8"))
    except (OSError, ValueError, RecursionError):  # ValueError: bad UTF-8 or JSON, a 5000-digit int
        return None
    value = data.get("format") if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


# --- writing ---------------------------------------------------------------------------------------


def workspace_to_json(workspace: Workspace) -> dict[str, Any]:
    """The file form of ``workspace`` (see ``docs/workspace-format.md``).

    Refuses (with :class:`PlanFormatError`) a workspace that could not be read back: a model that is
    both or neither a zoo model and a file, a plan on show made for other inputs, duplicate pin names.
    """
    ws = workspace
    if (ws.zoo_name is None) == (ws.graph_path is None):
        raise PlanFormatError("a workspace's model is either a zoo model or a graph file, not both or neither")
    if ws.current is not None and (why := plan_mismatch(ws, ws.current)):
        raise PlanFormatError(f"the plan on show does not belong to the workspace: {why}")
    names = [pin.name for pin in ws.pinned]
    if len(set(names)) != len(names):
        raise PlanFormatError(f"pinned plans must have distinct names, got {names}")
    o, p = ws.options, ws.profile
    return {
        "format": FORMAT,
        "version": VERSION,
        "created_by": f"POET Studio {__version__}",
        "model": {
            "zoo_name": ws.zoo_name,
            "params": dict(ws.params),
            "graph_path": ws.graph_path,
            "graph": {"sha256": graph_sha256(ws.graph), **graph_to_json(ws.graph)},
        },
        "profile": {
            "key": p.key,
            "name": p.name,
            "source": p.source,
            **{f.attr: getattr(p, f.attr) for f in _PROFILE_FIGURES},
        },
        "budgets": {"ram_budget_bytes": float(ws.ram_budget_bytes), "runtime_factor": float(ws.runtime_factor)},
        "switches": {key: getattr(ws.switches, key) for key in _SWITCH_KEYS},
        "solver_options": {
            "solver": o.solver.value,
            "time_limit_s": float(o.time_limit_s),
            "rel_gap": float(o.rel_gap),
            "threads": o.threads,
            "method": o.method.value,
        },
        "plan": None if ws.current is None else plan_to_json(ws.current, options=ws.options),
        "pinned": [{"name": pin.name, "plan": plan_to_json(pin.result, options=pin.options)} for pin in ws.pinned],
    }


def workspace_json_text(workspace: Workspace) -> str:
    """The file's text, laid out as plan files are: sections indented, one graph node and one operation
    per line, decision pairs packed."""
    return _layout(workspace_to_json(workspace), 0, is_item=False)[0] + "\n"


def save_workspace(workspace: Workspace, path: Path | str) -> None:
    """Write ``workspace`` to ``path`` atomically; :func:`read_workspace` gives back an equal workspace."""
    write_text_atomic(Path(path), workspace_json_text(workspace))


def _layout(value: Any, level: int, *, is_item: bool) -> tuple[str, str, int]:
    """``(text, one-line text, depth)`` of ``value``: the plan file's layout (``plan_io._dumps``, whose
    output this equals byte for byte) computed bottom-up in one pass.

    ``_dumps`` re-serialises and re-measures every subtree at every level above it, which for a
    workspace of resnet50 plans (nested one level deeper than a plan file) takes over half a second;
    one pass, with each innermost record serialised by a single ``json.dumps``, keeps saving quick
    enough for the GUI thread.
    """
    is_dict = isinstance(value, dict)
    if not is_dict and not isinstance(value, list):
        flat = _ENCODER.encode(value)
        return flat, flat, 0
    values = list(value.values()) if is_dict else value
    if not any(isinstance(v, dict | list) for v in values):  # a record of plain values: one encoder call
        flat = _ENCODER.encode(value)
        if is_item or len(flat) + level <= _LINE_WIDTH:
            return flat, flat, 1
    children = [_layout(v, level + 1, is_item=not is_dict) for v in values]
    keys = [_ENCODER.encode(k) + ": " for k in value] if is_dict else [""] * len(values)
    opening, closing = ("{", "}") if is_dict else ("[", "]")
    flat = opening + ", ".join(k + c[1] for k, c in zip(keys, children, strict=True)) + closing
    depth = 1 + max((c[2] for c in children), default=0)
    if depth <= 2 and (is_item or len(flat) + level <= _LINE_WIDTH):
        return flat, flat, depth
    pad, inner = " " * level, " " * (level + 1)
    parts = [k + c[0] for k, c in zip(keys, children, strict=True)]
    if is_dict or not all(len(p) <= _PACKED_ITEM_WIDTH for p in parts):
        return f"{opening}\n" + ",\n".join(inner + p for p in parts) + f"\n{pad}{closing}", flat, depth
    lines, line = [], ""  # short items (decision pairs): packed several to a line
    for part in parts:
        if line and len(inner) + len(line) + len(part) + 2 > _LINE_WIDTH:
            lines.append(line + ",")
            line = ""
        line = f"{line}, {part}" if line else part
    return "[\n" + "\n".join(inner + p for p in [*lines, line]) + f"\n{pad}]", flat, depth


# --- reading ---------------------------------------------------------------------------------------


def read_workspace(path: Path | str) -> Workspace:
    """Read a workspace file and re-check every plan in it with the simulator; raise
    :class:`PlanFormatError` naming the file and the field if anything is malformed or altered."""
    path = Path(path)
    data = read_json_document(path, "workspace file")
    return workspace_from_json(data, str(path))


def workspace_from_json(data: object, source: str) -> Workspace:
    """Check and rebuild a workspace from the parsed JSON of a workspace file; ``source`` starts every
    message."""
    top = _header(data, source)
    model = top.object("model", _MODEL_KEYS)
    zoo_name, params = _zoo_model(model)
    graph_path = None if model.raw("graph_path") is None else model.text("graph_path", is_empty_ok=False)
    if (zoo_name is None) == (graph_path is None):
        raise model.fail("zoo_name", "or model.graph_path must be set, and not both")
    graph = _graph(model, source)
    if zoo_name is not None:
        _check_zoo_graph(model, zoo_name, params, graph)
    budgets = top.object("budgets", _BUDGET_KEYS)
    switches = top.object("switches", _SWITCH_KEYS)
    workspace = Workspace(
        zoo_name=zoo_name,
        params=params,
        graph_path=graph_path,
        graph=graph,
        profile=_profile(top.object("profile", _PROFILE_KEYS)),
        ram_budget_bytes=budgets.number("ram_budget_bytes", sign="positive"),
        runtime_factor=budgets.number("runtime_factor", sign="positive"),
        switches=Switches(**{key: switches.flag(key) for key in _SWITCH_KEYS}),
        options=_options(top.object("solver_options", _OPTION_KEYS, _OPTIONAL_OPTION_KEYS)),
    )
    current = None
    if top.raw("plan") is not None:
        current = plan_from_json(top.raw("plan"), f"{source}: plan").result
        if why := plan_mismatch(workspace, current):
            raise top.fail("plan", f"was not made for the workspace's inputs: {why}")
    return replace(workspace, current=current, pinned=_pins(top, source))


def _header(data: object, source: str) -> _Object:
    """Check what the file is before anything else, so a plan or graph file is named for what it is."""
    top = check_header(data, source, format_name=FORMAT, version=VERSION, what="workspace", top_keys=_TOP_KEYS)
    top.text("created_by")
    return top


def _zoo_model(model: _Object) -> tuple[str | None, tuple[tuple[str, int], ...]]:
    """The zoo model's name and parameters (in the file's order), checked against the zoo's menu."""
    raw_params = model.raw("params")
    if not isinstance(raw_params, dict):
        raise model.fail("params", f"must be a JSON object of parameter values, got {_show(raw_params)}")
    if model.raw("zoo_name") is None:
        if raw_params:
            raise model.fail("params", "must be empty for a graph file (parameters belong to zoo models)")
        return None, ()
    name = model.text("zoo_name", is_empty_ok=False)
    infos = {info.name: info for info in list_models()}
    if name not in infos:
        raise model.fail("zoo_name", f"is {name!r}, not a zoo model (known: {', '.join(infos)})")
    allowed = infos[name].parameters
    unknown = [key for key in raw_params if key not in allowed]
    if unknown:
        raise model.fail(f"params.{unknown[0]}", f"is not a parameter of {name} (allowed: {', '.join(allowed)})")
    params = model.object("params", tuple(raw_params))
    return name, tuple((key, params.count(key, is_positive=True)) for key in raw_params)


def _check_zoo_graph(model: _Object, name: str, params: tuple[tuple[str, int], ...], graph: TrainingGraph) -> None:
    """The embedded graph is what the session plans, and ``params`` are what the model panel shows and
    what any later change of a parameter starts from: the two must describe the same model. A file
    whose ``params.batch_size`` says 10**9 beside a batch-1 graph is refused rather than showing one
    model while planning another."""
    shown = ", ".join(f"{k}={v}" for k, v in params) or "its defaults"
    try:
        built = build_model(name, **dict(params))
    except PoetError as exc:
        raise model.fail("params", f"({shown}) cannot build {name}: {exc}") from None
    if graph_sha256(built) != graph_sha256(graph):
        raise model.fail(
            "params",
            f"({shown}) build a {name} graph other than the embedded model.graph, which the plans were made for: "
            "the two must describe the same model",
        )


def _pins(top: _Object, source: str) -> tuple[PinnedPlan, ...]:
    raw = top.raw("pinned")
    if not isinstance(raw, list):
        raise top.fail("pinned", f"must be a list of pinned plans, got {_show(raw)}")
    pins: list[PinnedPlan] = []
    for i, entry in enumerate(raw):
        pin = _Object(source, f"pinned[{i}]", entry, _PIN_KEYS)
        name = pin.text("name", is_empty_ok=False)
        if any(p.name == name for p in pins):
            raise pin.fail("name", f"is {name!r}, the name of another pinned plan (names must be distinct)")
        loaded = plan_from_json(pin.raw("plan"), f"{source}: pinned[{i}] ({name!r}): plan")
        pins.append(PinnedPlan(name, loaded.result, loaded.options))
    return tuple(pins)
