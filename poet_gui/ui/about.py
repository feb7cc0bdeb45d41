"""The About dialog: what this build is, and which solvers it runs."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import pyqtgraph
import PySide6
from PySide6.QtCore import qVersion
from PySide6.QtWidgets import QMessageBox, QWidget

from poet_gui import __version__


def _version(dist: str) -> str:
    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


def versions_text() -> str:
    """One line per component, for the dialog and for bug reports."""
    import highspy

    highs = f"{highspy.HIGHS_VERSION_MAJOR}.{highspy.HIGHS_VERSION_MINOR}.{highspy.HIGHS_VERSION_PATCH}"
    return "\n".join(
        [
            f"POET Studio {__version__}",
            f"HiGHS {highs} (highspy {_version('highspy')})",
            f"PuLP {_version('pulp')} with its bundled CBC",
            f"networkx {_version('networkx')}, numpy {_version('numpy')}",
            f"Qt {qVersion()}, PySide6 {PySide6.__version__}, pyqtgraph {pyqtgraph.__version__}",
        ]
    )


def show_about(parent: QWidget | None) -> None:
    QMessageBox.about(
        parent,
        "About POET Studio",
        "<h3>POET Studio</h3><p>Energy-minimal training schedules for devices with little RAM: "
        "rematerialisation and paging chosen by a mixed-integer program (POET, Patil et al., ICML 2022), "
        "every plan re-checked by an independent simulator.</p><pre>" + versions_text() + "</pre>",
    )
