"""POET Studio launcher: `python main.py` opens the app; `python main.py SUBCOMMAND ...` runs the CLI."""

import sys

from poet_gui.cli import SUBCOMMANDS


def run() -> int:
    args = sys.argv[1:]
    if args and (args[0] in SUBCOMMANDS or args[0] in ("-h", "--help", "--version")):
        from poet_gui.cli import main

        return main(args)
    from poet_gui.ui.app import main as app_main

    return app_main(args)


if __name__ == "__main__":
    sys.exit(run())
