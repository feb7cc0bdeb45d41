"""The fleet sweep's CSV: one row per point, keyed, read back to resume a sweep.

The file is the sweep's only record: every finished point is written into it atomically as it
arrives (:func:`write_fleet_csv`), and a re-run reads it (:func:`read_fleet_csv`) to skip the points
already there. Rows are sorted canonically and numbers written exactly (``repr``), so re-writing the
rows read from a file reproduces it byte for byte, and a resumed sweep ends with the same file as an
uninterrupted one (apart from the solver's seconds of the points it solved).
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, fields
from pathlib import Path

from poet_gui.core.atomic import write_text_atomic
from poet_gui.core.errors import PoetError
from poet_gui.core.schedule.plan import SolveStatus


@dataclass(frozen=True, slots=True)
class FleetRow:
    """One solved point of a fleet sweep, in SI units; figures are None when there is no plan.

    ``model`` is a zoo name or the model file as given, with ``model_args`` its sizes
    (``batch_size=1`` or an ONNX model's ``batch=1;seq=16``), so the app can rebuild the problem.
    ``least_ram_bytes`` is the least RAM any plan needs on the budget's terms (parameters included
    when ``budget_includes_params``); ``fits_device`` says whether the plan and the parameters fit
    the device's whole RAM (empty when the profile states no RAM).
    """

    key: str
    model: str
    model_args: str
    profile: str
    ram_budget_bytes: float
    runtime_factor: float
    status: str
    energy_j: float | None
    gap: float | None
    solve_s: float
    runtime_s: float | None
    peak_ram_bytes: float | None
    fits_device: bool | None
    device_ram_bytes: float | None
    param_bytes: float
    least_ram_bytes: float
    plain_energy_j: float
    paging: bool
    remat: bool
    count_paging_time: bool
    budget_includes_params: bool

    @property
    def has_plan(self) -> bool:
        return self.energy_j is not None

    @property
    def variant(self) -> tuple[str, str, bool, bool, bool, bool]:
        """What makes two rows points of one curve besides the device: the model, its sizes, the switches."""
        return (self.model, self.model_args, self.paging, self.remat, self.count_paging_time,
                self.budget_includes_params)  # fmt: skip

    @property
    def is_optimal(self) -> bool:
        return self.status == SolveStatus.OPTIMAL


#: The CSV's columns, in the order of :class:`FleetRow`'s fields.
FLEET_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(FleetRow))
_TEXT = frozenset({"key", "model", "model_args", "profile", "status"})
_FLAGS = frozenset({"fits_device", "paging", "remat", "count_paging_time", "budget_includes_params"})
_REQUIRED_NUMBERS = frozenset({"ram_budget_bytes", "runtime_factor", "solve_s", "param_bytes", "least_ram_bytes",
                               "plain_energy_j"})  # fmt: skip
_STATUSES = frozenset(s.value for s in SolveStatus)


def model_labels(rows: Iterable[FleetRow]) -> dict[tuple[str, str, bool, bool, bool, bool], str]:
    """A name per model variant (:attr:`FleetRow.variant`) for charts and tables: the model's name where the
    table holds it in one variant, else the name with its sizes and the switches that differ from the
    default, so a table holding two sizes of a model, or runs with and without paging, gives each its own
    chart instead of mixing their points on one curve."""
    variants = list(dict.fromkeys(r.variant for r in rows))
    count = Counter(v[0] for v in variants)
    labels = {}
    for v in variants:
        model, args, paging, remat, counted, with_params = v
        flags = ((not paging, "no paging"), (not remat, "no recomputation"), (counted, "paging time counted"),
                 (with_params, "budget includes parameters"))  # fmt: skip
        switches = ", ".join(text for on, text in flags if on)
        labels[v] = model if count[model] == 1 else (
            model + (f" ({args.replace(';', ', ')})" if args else "") + (f" [{switches}]" if switches else "")
        )
    return labels


def sort_rows(rows: Iterable[FleetRow]) -> list[FleetRow]:
    """The file's order: model, device, runtime factor, RAM budget (then key, so it is total)."""
    return sorted(rows, key=lambda r: (r.model, r.model_args, r.profile, r.runtime_factor, r.ram_budget_bytes, r.key))


def fleet_csv_text(rows: Iterable[FleetRow]) -> str:
    """The CSV text of ``rows`` in :func:`sort_rows` order; empty cells mean "none" (no plan, no gap)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FLEET_COLUMNS)
    for row in sort_rows(rows):
        writer.writerow(_cell(getattr(row, name)) for name in FLEET_COLUMNS)
    return out.getvalue()


def write_fleet_csv(rows: Iterable[FleetRow], path: Path) -> None:
    """Write :func:`fleet_csv_text` atomically: a killed sweep leaves the last complete file."""
    write_text_atomic(Path(path), fleet_csv_text(rows))


def read_fleet_csv(path: Path) -> tuple[FleetRow, ...]:
    """The rows of a fleet CSV; a malformed file is refused in one line naming the line and column."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PoetError(f"{path}: cannot read the fleet CSV: {getattr(exc, 'strerror', None) or exc}") from exc
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None or tuple(header) != FLEET_COLUMNS:
        raise PoetError(
            f"{path}: line 1: not a fleet sweep CSV (its columns must be {','.join(FLEET_COLUMNS)}); "
            "pass another --csv, or remove the file to start afresh"
        )
    rows = []
    for cells in reader:
        where = f"{path}: line {reader.line_num}"
        if len(cells) != len(FLEET_COLUMNS):
            raise PoetError(f"{where}: expected {len(FLEET_COLUMNS)} cells, got {len(cells)}")
        values = {name: _parse(where, name, cell) for name, cell in zip(FLEET_COLUMNS, cells, strict=True)}
        rows.append(FleetRow(**values))  # type: ignore[arg-type]
    return tuple(rows)


def is_fleet_csv(path: Path) -> bool:
    """True if the file's first line is the fleet CSV's header: how File ▸ Open tells a fleet table
    from the graphs, plans and workspaces it also reads, by content rather than by name."""
    try:
        with Path(path).open(encoding="utf-8", newline="") as f:
            first = f.readline(4096)
    except (OSError, UnicodeDecodeError):
        return False
    return first.rstrip("\r\n") == ",".join(FLEET_COLUMNS)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    number = float(value)  # type: ignore[arg-type]
    return str(int(number)) if number.is_integer() and abs(number) < 2**53 else repr(number)


def _parse(where: str, name: str, cell: str) -> object:
    if name in _TEXT:
        if name == "status" and cell not in _STATUSES:
            raise PoetError(f"{where}: status must be one of {', '.join(sorted(_STATUSES))}, got {cell!r}")
        return cell
    if cell == "":
        if name in _REQUIRED_NUMBERS or (name in _FLAGS and name != "fits_device"):
            raise PoetError(f"{where}: {name} is empty")
        return None
    if name in _FLAGS:
        if cell not in ("true", "false"):
            raise PoetError(f"{where}: {name} must be true or false, got {cell!r}")
        return cell == "true"
    try:
        number = float(cell)
    except ValueError:
        raise PoetError(f"{where}: {name} must be a number, got {cell!r}") from None
    if not math.isfinite(number):
        raise PoetError(f"{where}: {name} must be finite, got {cell!r}")
    return number
