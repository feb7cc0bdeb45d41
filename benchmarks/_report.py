"""What the benchmark scripts share: the resumable rows file (one JSON line per finished case, so an
interrupted run resumes where it stopped) and the Markdown report they write."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

from poet_gui.core.atomic import write_text_atomic

RowT = TypeVar("RowT")


def load_rows(path: Path | None, row_type: type[RowT]) -> dict[str, RowT]:
    """The cases already finished in the rows file ``path`` (none if it is not given or absent), by case name."""
    if path is None or not path.exists():
        return {}
    rows = (row_type(**json.loads(line)) for line in path.read_text().splitlines() if line.strip())
    return {row.case: row for row in rows}


def append_row(path: Path | None, row: Any) -> None:
    """Record a finished case (a dataclass) in the rows file, if one is given."""
    if path is not None:
        with path.open("a") as f:
            f.write(json.dumps(asdict(row)) + "\n")


def publish(text: str, out: Path | None) -> None:
    """Print the report, and write it atomically to ``out`` if given."""
    print(text)
    if out is not None:
        write_text_atomic(out, text)


def shown_arguments() -> str:
    """The command line as run, without ``--note``'s paragraph (the report prints it under its header)."""
    shown, skip = [], False
    for arg in sys.argv[1:]:
        if skip:
            skip = False
        elif arg == "--note":
            skip = True
        elif not arg.startswith("--note="):
            shown.append(arg)
    return " ".join(shown)
