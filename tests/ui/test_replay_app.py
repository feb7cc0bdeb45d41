"""Plan ▸ Replay on this machine: when it is offered, a real replay in a child process, cancel, errors
and the path without PyTorch.

The window plans the tiny_transformer sample (batch 1, seq 16) on m4 with the greedy heuristic at a
budget 30 % of the way from the least RAM to the plain peak (it recomputes and pages), as
tests/core/test_replay.py does; the plan is set directly, so no solver runs. A replay child takes a
few seconds, most of it loading PyTorch.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox

from poet_gui.core.device.profiles import load_profile
from poet_gui.core.replay.report import ReplayReport
from poet_gui.core.schedule.problem import Switches
from poet_gui.core.schedule.reference_points import reference_points
from poet_gui.core.solve.heuristics import STRATEGIES, Strategy
from poet_gui.core.solve.milp import SolverOptions
from poet_gui.core.solve.planner import VerifiedPlan, verify
from poet_gui.ui.main_window import MainWindow
from poet_gui.ui.replay_controller import replay_status_text
from poet_gui.ui.state import AppState, ModelSource, Session, SolvePhase, new_session, session_for

SAMPLES = Path(__file__).resolve().parents[2] / "poet_gui" / "samples"
TRANSFORMER = SAMPLES / "tiny_transformer.onnx"
DIMS = (("batch", 1), ("seq", 16))
REPLAY_TIMEOUT_MS = 90_000
SCREENSHOT = Path("/tmp/replay_overlay.png")
REPORT_JSON = {
    "model": "m", "steps": 2, "seed": 0, "learning_rate": 0.01, "gradients_identical": True,
    "max_rel_diff_vs_autograd": 2e-7, "loss": 1.0, "losses": [1.5, 1.0], "resident_bytes_match": True,
    "resident_mismatch": "", "predicted_peak_bytes_plan": 100, "predicted_peak_bytes_keep_all": 200,
    "measured_peak_bytes_plan": 150, "measured_peak_bytes_keep_all": 260, "bytes_paged_out": 8, "bytes_paged_in": 8,
    "storage_files": 1, "recomputes": 1, "step_seconds_plan": 0.01, "step_seconds_keep_all": 0.01,
    "node_seconds": {"x": 0.0}, "resident_bytes": [0, 100], "storage": "/tmp/s", "kept_storage": False,
}  # fmt: skip


@pytest.fixture
def torch_available() -> None:
    if importlib.util.find_spec("torch") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but PyTorch is missing: .ci/run installs torch==2.13.0+cpu for the replay tests")
        pytest.skip('PyTorch is not installed (pip install -e ".[replay]"); a real replay needs it')


@pytest.fixture
def replay_tmp(monkeypatch, tmp_path) -> Path:
    """The replay's temporary folder (its plan file and storage) goes here, so a test can see it removed.
    Other users of ``tempfile`` in the process (multiprocessing's ``pymp-*``) come and go here too."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def planned_session(strategy: Strategy = Strategy.GREEDY, model_path: Path = TRANSFORMER) -> Session:
    """The transformer sample with a verified ``strategy`` plan on show; ``model_path`` is the file the
    app believes the model came from."""
    model = ModelSource(zoo_name=None, graph_path=str(TRANSFORMER), dims=DIMS)
    graph = model.load()
    profile = load_profile("m4")
    session = session_for(model, graph, profile, runtime_factor=1.2, switches=Switches(),
                          options=SolverOptions(time_limit_s=20))  # fmt: skip
    low, high = session.reference.min_ram_bytes, session.reference.plain_peak_ram_bytes
    session = replace(session, ram_budget_bytes=low + 0.3 * (high - low))
    problem = session.problem()
    plan = STRATEGIES[strategy](problem)
    result = VerifiedPlan(plan, verify(plan), reference_points(problem))
    return replace(session, model=replace(model, graph_path=str(model_path)), result=result, phase=SolvePhase.DONE)


def make_window(qtbot, session: Session) -> MainWindow:
    w = MainWindow(AppState(session))
    qtbot.addWidget(w)
    w.resize(1366, 768)
    w.show()
    w.solver.sweeps.cancel()  # the trade-off sweep is not under test
    return w


def test_the_action_is_offered_only_for_a_verified_plan_of_an_imported_model(qtbot) -> None:
    zoo = make_window(qtbot, new_session(ModelSource("linear"), load_profile("m4")))
    assert not zoo.replay.action.isEnabled()
    assert "chain backward" in zoo.replay.action.toolTip()
    zoo.solver.stop()

    session = planned_session()
    w = make_window(qtbot, session)
    assert w.replay.action.isEnabled()
    assert "training steps" in w.replay.action.toolTip()
    assert w.replay.action in w.menuBar().actions()[1].menu().actions(), "it sits in the Plan menu"

    w.state.update(result=None, phase=SolvePhase.IDLE)
    assert not w.replay.action.isEnabled() and "No plan yet" in w.replay.action.toolTip()
    w.state.update(result=session.result, phase=SolvePhase.SOLVING)
    assert not w.replay.action.isEnabled() and "still working" in w.replay.action.toolTip()
    w.state.update(phase=SolvePhase.DONE, model=replace(session.model, graph_path="/tmp/plan.json"))
    assert not w.replay.action.isEnabled() and "ONNX file" in w.replay.action.toolTip()


def test_a_replay_overlays_the_measured_curve_and_states_the_gradient_check(
    qtbot, torch_available: None, replay_tmp: Path
) -> None:
    w = make_window(qtbot, planned_session())
    before = w.memory._ram  # the predicted curve's item survives the overlay
    with qtbot.waitSignal(w.replay.ended, timeout=REPLAY_TIMEOUT_MS) as ended, \
            qtbot.waitSignal(w.replay.reported, timeout=REPLAY_TIMEOUT_MS) as reported:  # fmt: skip
        w.replay.action.trigger()
        assert w.replay.is_running and not w.replay.action.isEnabled()
        assert w.replay.status().startswith("Replaying 2 SGD steps")
    report = reported.args[0]
    assert report.is_faithful and report.bytes_paged_out > 0 and report.recomputes > 0
    text = ended.args[0]
    assert text.startswith("Replay: ")
    assert "gradients identical to keep-all" in text and "max rel. diff vs autograd" in text
    assert "resident bytes match the prediction" in text and "allocator peak" in text
    assert w.replay.status() == text
    assert w.memory.has_measured() and w.memory._ram is before
    x, y = w.memory._measured.getData()
    assert len(x) == 2 * len(w.state.session.result.sim.operations)
    assert list(y[::2]) == [float(b) for b in w.state.session.result.sim.ram_bytes], "measured = predicted"
    assert not list(replay_tmp.glob("poet-replay-*")), "the plan file and the storage folder are removed"
    assert w.replay.action.isEnabled()
    w.grab().save(str(SCREENSHOT))

    other = planned_session(Strategy.PAGE_AFTER_USE).result
    w.state.update(result=other)
    assert not w.memory.has_measured() and w.replay.status() == "", "a new plan clears the replay's overlay"


def test_cancel_kills_the_child_at_once_and_leaves_no_files(qtbot, torch_available: None, replay_tmp: Path) -> None:
    w = make_window(qtbot, planned_session())
    assert w.replay.start()
    qtbot.waitUntil(lambda: w.replay.child_pid is not None, timeout=10_000)
    pid = w.replay.child_pid
    qtbot.wait(300)  # the child is loading PyTorch
    with qtbot.waitSignal(w.replay.ended, timeout=5_000) as ended:
        w.replay._cancel_button.click()
    assert ended.args[0].startswith("Replay cancelled after")
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # killed and reaped: no such process
    assert not w.replay.is_running and not w.memory.has_measured()
    assert not list(replay_tmp.glob("poet-replay-*"))
    assert w.replay.action.isEnabled()

    w.replay.start()  # again, and then another plan comes on show (a solve answered): the replay stops
    qtbot.waitUntil(lambda: w.replay.child_pid is not None, timeout=10_000)
    pid = w.replay.child_pid
    w.state.update(result=planned_session(Strategy.PAGE_AFTER_USE).result)
    assert w.replay.status().endswith("s: another plan is on show.")
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not list(replay_tmp.glob("poet-replay-*"))


def test_a_child_error_is_shown_in_words(qtbot, monkeypatch, torch_available: None, replay_tmp: Path) -> None:
    """The app thinks the plan's model is another ONNX file: the child refuses it (exit 2, one line)."""
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _parent, _title, text, *a, **k: shown.append(text))
    w = make_window(qtbot, planned_session(model_path=SAMPLES / "small_cnn.onnx"))
    with qtbot.waitSignal(w.replay.ended, timeout=REPLAY_TIMEOUT_MS) as ended:
        w.replay.action.trigger()
    assert ended.args[0].startswith("Replay could not run:\n") and "small_cnn.onnx" in ended.args[0]
    assert shown and "another model" in shown[0] and "Traceback" not in shown[0] and "\n" not in shown[0]
    assert not w.memory.has_measured() and not list(replay_tmp.glob("poet-replay-*"))


def test_without_pytorch_the_action_says_how_to_get_it(qtbot, monkeypatch) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "torch" else real_find_spec(name, *a))  # fmt: skip
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "information", lambda _parent, _title, text, *a, **k: shown.append(text))
    w = make_window(qtbot, planned_session())
    assert w.replay.action.isEnabled(), "enabled, so that it can explain"
    w.replay.action.trigger()
    assert len(shown) == 1
    assert 'pip install -e ".[replay]"' in shown[0] and "download.pytorch.org/whl/cpu" in shown[0]
    assert not w.replay.is_running and w.replay.status() == ""


def test_closing_the_window_ends_a_running_replay(qtbot, torch_available: None, replay_tmp: Path) -> None:
    w = make_window(qtbot, planned_session())
    assert w.replay.start()
    qtbot.waitUntil(lambda: w.replay.child_pid is not None, timeout=10_000)
    pid = w.replay.child_pid
    w.close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not list(replay_tmp.glob("poet-replay-*"))


def test_a_failed_check_is_said_in_plain_words() -> None:
    report = ReplayReport.from_json(REPORT_JSON)
    assert replay_status_text(report).startswith("Replay: gradients identical to keep-all")
    bad = replace(report, gradients_identical=False, max_rel_diff_vs_autograd=3e-4, resident_bytes_match=False,
                  resident_mismatch="plan operation 4 (stage 2, compute fc): executor holds 8 B, simulator 4 B")
    text = replay_status_text(bad)
    assert text.startswith("Replay FAILED: gradients DIFFER from keep-all")
    assert "OVER the 1e-05 allowed" in text and "resident bytes DIFFER from the prediction" in text
