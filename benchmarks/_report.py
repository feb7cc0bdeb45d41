"""What the benchmark scripts share when they write their Markdown reports."""

from __future__ import annotations

import sys


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
