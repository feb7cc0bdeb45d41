"""Device profiles: the few measured figures that turn FLOP and bytes into seconds and joules.

Profiles live as human-editable TOML files (one per device, units in every field name, a comment on
where each figure comes from) in the repository's ``profiles/`` directory, or wherever the
``POET_PROFILES_DIR`` environment variable points (read once, at import). Hand-edited files are
validated strictly: a typo in a field name or a zero throughput would otherwise silently give
nonsense energies, so every unknown field, missing field and non-physical value is refused with a
:class:`ProfileError` naming the file, the field and the value.

File layout (``[memory]``, ``[compute].power_w`` and ``[memory].ram_bytes`` are optional)::

    name = "..."
    [compute]
    flop_per_s = ...          # sustained compute rate F
    flop_per_j = ...          # compute efficiency E
    power_w = ...             # active compute power, display only
    bytes_per_element = 4     # B
    [memory]
    ram_bytes = ...           # device RAM, for the "budget is total device RAM" option
    [storage]
    power_w = ...             # P_mem, drawn while paging in either direction
    [storage.page_in]
    latency_s = ...
    bytes_per_s = ...
    [storage.page_out]
    latency_s = ...
    bytes_per_s = ...
"""

from __future__ import annotations

import math
import os
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from poet_gui.core.atomic import write_text_atomic
from poet_gui.core.errors import ProfileError

DEFAULT_PROFILES_DIR = Path(__file__).resolve().parents[3] / "profiles"
PROFILES_DIR = Path(os.environ.get("POET_PROFILES_DIR") or DEFAULT_PROFILES_DIR).expanduser()


@dataclass(frozen=True, slots=True)
class DeviceProfile:
    """The figures of one device, in SI units (seconds, joules, watts, bytes, FLOP).

    Every float figure is finite and > 0 and ``bytes_per_element`` a positive integer when the profile
    comes from :func:`parse_profile`; ``key`` is the file stem and ``source`` the file it came from
    (both are kept out of the file itself, so renaming a file renames the profile).
    """

    key: str
    name: str
    compute_flop_per_s: float
    compute_flop_per_j: float
    bytes_per_element: int
    pagein_latency_s: float
    pagein_bytes_per_s: float
    pageout_latency_s: float
    pageout_bytes_per_s: float
    paging_power_w: float
    compute_power_w: float | None = None
    ram_bytes: int | None = None
    source: str = ""


@dataclass(frozen=True, slots=True)
class ProfileEntry:
    """One ``*.toml`` file of a profile directory: ``profile`` if it loads, else ``error`` says why.

    Unusable files are listed rather than skipped so a UI can show them greyed out with the reason
    (the shipped Jetson TX2 profile lacks compute figures).
    """

    key: str
    path: Path
    profile: DeviceProfile | None
    error: str | None


@dataclass(frozen=True, slots=True)
class ProfileField:
    """One field of the file format: where it sits, which attribute it fills and what it must hold."""

    table: str  # dotted table name, "" for the top level
    key: str
    attr: str
    kind: Literal["text", "number", "count"]  # non-empty string / finite float > 0 / integer > 0
    is_required: bool = True
    is_divisor: bool = False  # costs divide by it (a rate): its reciprocal must be finite too

    @property
    def label(self) -> str:
        """How messages name the field: ``name`` or ``[storage.page_in].bytes_per_s``."""
        return f"[{self.table}].{self.key}" if self.table else self.key


# The single description of the format: parsing, validation and writing all follow it, in this order.
PROFILE_FIELDS: tuple[ProfileField, ...] = (
    ProfileField("", "name", "name", "text"),
    ProfileField("compute", "flop_per_s", "compute_flop_per_s", "number", is_divisor=True),
    ProfileField("compute", "flop_per_j", "compute_flop_per_j", "number", is_divisor=True),
    ProfileField("compute", "power_w", "compute_power_w", "number", is_required=False),
    ProfileField("compute", "bytes_per_element", "bytes_per_element", "count"),
    ProfileField("memory", "ram_bytes", "ram_bytes", "count", is_required=False),
    ProfileField("storage", "power_w", "paging_power_w", "number"),
    ProfileField("storage.page_in", "latency_s", "pagein_latency_s", "number"),
    ProfileField("storage.page_in", "bytes_per_s", "pagein_bytes_per_s", "number", is_divisor=True),
    ProfileField("storage.page_out", "latency_s", "pageout_latency_s", "number"),
    ProfileField("storage.page_out", "bytes_per_s", "pageout_bytes_per_s", "number", is_divisor=True),
)
_TABLES: tuple[str, ...] = ("", "compute", "memory", "storage", "storage.page_in", "storage.page_out")


def load_profile(spec: str | Path, *, directory: Path | None = None) -> DeviceProfile:
    """Load a profile by key (``"m4"``: ``<directory>/m4.toml``) or by path to a ``.toml`` file.

    A ``Path``, or a string ending in ``.toml`` or containing a path separator, is a path; anything
    else is a key looked up in ``directory`` (default :data:`PROFILES_DIR`). An unknown key is refused
    with the list of known ones.
    """
    if isinstance(spec, Path) or spec.endswith(".toml") or "/" in spec or os.sep in spec:
        return _read_profile(Path(spec))
    directory = PROFILES_DIR if directory is None else directory
    path = directory / f"{spec}.toml"
    if not path.is_file():
        known = ", ".join(p.stem for p in sorted(directory.glob("*.toml"))) or "none"
        raise ProfileError(f"unknown device profile {spec!r}; known profiles in {directory}: {known}")
    return _read_profile(path)


def list_profiles(directory: Path | None = None) -> tuple[ProfileEntry, ...]:
    """Every ``*.toml`` in ``directory`` (default :data:`PROFILES_DIR`), sorted by key, usable or not."""
    directory = PROFILES_DIR if directory is None else directory
    if not directory.is_dir():
        raise ProfileError(f"{directory}: profile directory does not exist")
    entries = []
    for path in sorted(directory.glob("*.toml"), key=lambda p: p.stem):
        try:
            entries.append(ProfileEntry(path.stem, path, _read_profile(path), None))
        except ProfileError as exc:
            entries.append(ProfileEntry(path.stem, path, None, str(exc)))
    return tuple(entries)


def parse_profile(text: str, source: str, key: str) -> DeviceProfile:
    """Validate profile TOML ``text`` and build the profile; ``source`` prefixes every message.

    Checks run in this order, each reporting everything it finds at once where that helps the
    editor: TOML syntax (with tomllib's line and column), unknown tables and fields, missing required
    fields (all listed), then each value (type, finiteness, sign).
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{source}: not valid TOML: {exc}") from None
    _check_known(data, source)
    tables = {name: _table(data, name) for name in _TABLES}
    missing = [f.label for f in PROFILE_FIELDS if f.is_required and f.key not in (tables[f.table] or {})]
    if missing:
        raise ProfileError(f"{source}: missing required field(s): {', '.join(missing)}")
    values: dict[str, Any] = {}
    for field in PROFILE_FIELDS:
        table = tables[field.table] or {}
        if field.key in table:
            values[field.attr] = _checked_value(source, field, table[field.key])
    return DeviceProfile(key=key, source=source, **values)


def profile_to_toml(profile: DeviceProfile) -> str:
    """The TOML text of ``profile``; ``parse_profile`` of it gives back an equal profile.

    Floats are written with ``repr`` (shortest exact round trip); optional fields that are ``None``
    and tables left empty by that are omitted. ``key`` and ``source`` are not part of the file.
    """
    lines = ["# Device profile saved by POET Studio: figures in SI units (s, J, W, bytes, FLOP)."]
    for table in _TABLES:
        rows = []
        for field in (f for f in PROFILE_FIELDS if f.table == table):
            value = getattr(profile, field.attr)
            if value is not None:
                rows.append(f"{field.key} = {_toml_value(field, value)}")
        if rows:
            lines.extend([f"\n[{table}]"] if table else [])
            lines.extend(rows)
    return "\n".join(lines) + "\n"


def save_profile(profile: DeviceProfile, path: Path) -> None:
    """Write ``profile`` to ``path`` atomically, refusing (before touching the file) one that would
    not load back: a saved profile must always be usable."""
    text = profile_to_toml(profile)
    parse_profile(text, str(path), Path(path).stem)
    write_text_atomic(Path(path), text)


def _read_profile(path: Path) -> DeviceProfile:
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ProfileError(f"{path}: no such profile file") from None
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ProfileError(f"{path}: not UTF-8 text: {exc}") from None
    return parse_profile(text, str(path), path.stem)


def _table(data: dict[str, Any], name: str) -> dict[str, Any] | None:
    """The table at dotted ``name``, or None if the file has no such table (or a non-table there)."""
    for part in name.split(".") if name else ():
        data = data.get(part)
        if not isinstance(data, dict):
            return None
    return data


def _check_known(data: dict[str, Any], source: str) -> None:
    """Refuse unknown tables and fields (typos must not pass silently) and known tables given as
    plain values, naming each offender and what the table accepts."""
    problems = []
    for name in _TABLES:
        table = _table(data, name)
        if table is None:
            continue
        fields = [f.key for f in PROFILE_FIELDS if f.table == name]
        subtables = [t.rsplit(".", 1)[-1] for t in _TABLES if t and t.rpartition(".")[0] == name]
        where = f"[{name}]" if name else "the top level"
        known = ", ".join(fields + [f"[{name + '.' if name else ''}{t}]" for t in subtables])
        for key, value in table.items():
            dotted = f"{name}.{key}" if name else key
            if key in subtables:
                if not isinstance(value, dict):
                    problems.append(f"[{dotted}] must be a table, got {value!r}")
            elif key not in fields:
                if isinstance(value, dict):
                    what = f"table [{dotted}]"
                else:
                    what = f"field [{name}].{key}" if name else f"field {key}"
                problems.append(f"unknown {what} (allowed in {where}: {known})")
    if problems:
        raise ProfileError(f"{source}: " + "; ".join(problems))


def _checked_value(source: str, field: ProfileField, value: object) -> str | float | int:
    where = f"{source}: {field.label}"
    if field.kind == "text":
        if not isinstance(value, str) or not value.strip():
            raise ProfileError(f"{where} must be a non-empty string, got {value!r}")
        return value
    if field.kind == "count":
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ProfileError(f"{where} must be a positive integer, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProfileError(f"{where} must be a number, got {value!r}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if why := figure_problem(field, number):
        raise ProfileError(f"{where} {why}, got {value!r}")
    return number


def figure_problem(field: ProfileField, number: float) -> str:
    """Why ``number`` cannot be the figure ``field`` ("" if it can): every figure is finite and > 0,
    and a rate that costs divide by must have a finite reciprocal. A denormal rate such as
    ``flop_per_s = 1e-320`` passes "> 0" yet makes every runtime infinite, and a plan "optimal" in
    infinite time would then reach files as invalid JSON. Shared by profile files and plan files."""
    if not math.isfinite(number):
        return "must be finite"
    if number <= 0:
        return "must be > 0"
    if field.is_divisor and not math.isfinite(1.0 / number):
        return f"must be at least {sys.float_info.min:.3g} (costs divide by it, and 1/{number!r} is not finite)"
    return ""


def _toml_value(field: ProfileField, value: str | float | int) -> str:
    if field.kind == "text":
        return _toml_string(str(value))
    if field.kind == "count":
        return str(int(value))
    return repr(float(value))


def _toml_string(text: str) -> str:
    """A TOML basic string: escape the quote, the backslash and the control characters TOML forbids."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'
