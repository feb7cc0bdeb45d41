"""Where a fleet row's model comes from, so one point of a sweep can be planned again on its own.

A row names its model as the sweep was told it: a zoo name with its sizes (``seq_len=4``), or the
graph or ONNX file as given on the command line with, for ONNX, its dimensions (``batch=1;seq=16``).
A relative file name is looked up first from the current folder (where a sweep is usually run), then
beside the table (a table moved with its models); a file found in neither place is refused in one
line naming the table, the model and both places.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from poet_gui.core.errors import PoetError
from poet_gui.core.model.zoo import list_models
from poet_gui.core.sweep.fleet_csv import FleetRow


@dataclass(frozen=True, slots=True)
class PointModel:
    """A row's model: a zoo model with its parameters, or a graph file (ONNX with ``dims``).

    The fields are those of the app's model source, so the shell turns one into the other field by field.
    """

    zoo_name: str | None
    params: tuple[tuple[str, int], ...]
    graph_path: str | None
    dims: tuple[tuple[str, int], ...]


def point_model(row: FleetRow, table: Path) -> PointModel:
    """The model of ``row`` (read from ``table``); a missing file or bad ``model_args`` raises a
    :class:`PoetError` naming the table and the model."""
    table = Path(table)
    pairs = _pairs(row, table)
    if row.model in {info.name for info in list_models()}:
        return PointModel(row.model, pairs, None, ())
    given = Path(row.model).expanduser()
    places = [given] if given.is_absolute() else [Path.cwd() / given, table.resolve().parent / given]
    found = next((p for p in places if p.is_file()), None)
    if found is None:
        where = " or ".join(str(p) for p in dict.fromkeys(places))
        raise PoetError(f"{table}: model {row.model!r} is neither a built-in model nor a file (looked for {where})")
    is_onnx = found.suffix.lower() == ".onnx"
    return PointModel(None, (), str(found), pairs if is_onnx else ())


def _pairs(row: FleetRow, table: Path) -> tuple[tuple[str, int], ...]:
    """``model_args`` (``name=int`` joined by ``;``) as sorted pairs."""
    pairs = []
    for part in filter(None, (p.strip() for p in row.model_args.split(";"))):
        name, sep, value = part.partition("=")
        if not sep or not name.strip() or not value.strip().isdigit():
            raise PoetError(f"{table}: model_args of {row.model!r} must be NAME=INTEGER;..., got {row.model_args!r}")
        pairs.append((name.strip(), int(value)))
    return tuple(sorted(pairs))
