"""Run the CLI in-process as a test would from a shell: exit code, stdout and stderr."""

from __future__ import annotations

import pytest

from poet_gui.cli import main


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err
