"""Fixtures the window tests share."""

from __future__ import annotations

import pytest

from poet_gui.core.device.profiles import load_profile
from poet_gui.core.solve.milp import SolverOptions
from poet_gui.ui.main_window import MainWindow
from poet_gui.ui.state import AppState, ModelSource, new_session


@pytest.fixture
def window_size() -> tuple[int, int]:
    """The size ``window`` is shown at; a module overrides this fixture to test another size."""
    return 1280, 800


@pytest.fixture
def window(qtbot, monkeypatch, tmp_path, window_size):
    """The main window on linear / m4 (20 s time limit), shown at ``window_size``, its settings in tmp."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))  # QSettings of the test stay in tmp
    session = new_session(ModelSource("linear"), load_profile("m4"), options=SolverOptions(time_limit_s=20))
    w = MainWindow(AppState(session))
    qtbot.addWidget(w)
    w.resize(*window_size)
    w.show()
    yield w
    w.close()
