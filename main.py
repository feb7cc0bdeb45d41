"""POET Studio launcher: `python main.py` opens the app; `python main.py SUBCOMMAND ...` runs the CLI."""

import sys
import time

STARTED_S = time.monotonic()  # before the imports below: a CLI solve's time limit includes them

from poet_gui.cli import SUBCOMMANDS  # noqa: E402


def run() -> int:
    args = sys.argv[1:]
    if args[:1] in (["-h"], ["--help"]):
        return _print_help()
    if args and (args[0] in SUBCOMMANDS or args[0] == "--version"):
        from poet_gui.cli import main

        return main(args, started_s=STARTED_S)
    from poet_gui.ui.app import main as app_main

    return app_main(args)


def _print_help() -> int:
    """One help for both things main.py does: the app's options, then the subcommands."""
    from poet_gui.ui.app import build_parser

    width = max(map(len, SUBCOMMANDS))
    lines = [f"  {name:<{width}}  {text}" for name, text in SUBCOMMANDS.items()]
    epilog = "\n".join(
        ["With a subcommand, main.py runs the command-line planner (main.py SUBCOMMAND --help):", *lines]
    )
    build_parser(epilog).print_help()
    return 0


if __name__ == "__main__":
    sys.exit(run())
