"""``replay``: a plan run on the real model with PyTorch, checked for gradients, memory and paging.

Plans come from the greedy heuristic (milliseconds) on m4 at 1.2x the plain runtime and a RAM budget
30 % of the way from the least RAM to the plain peak, where it both recomputes and pages. Tests that
need PyTorch skip without it, except under ``CI=true``, where ``.ci/run`` installs it and a missing
torch must fail.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from poet_gui.cli import main
from poet_gui.core.device.profiles import load_profile
from poet_gui.core.files.plan_io import save_plan
from poet_gui.core.model.graph import TrainingGraph
from poet_gui.core.model.onnx_import import load_onnx_graph, lower_onnx
from poet_gui.core.model.zoo import build_model
from poet_gui.core.schedule.operations import Action
from poet_gui.core.schedule.problem import make_problem
from poet_gui.core.schedule.reference_points import reference_points, reference_points_of
from poet_gui.core.solve.heuristics import STRATEGIES, Strategy
from poet_gui.core.solve.planner import VerifiedPlan, verify

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "poet_gui" / "samples"
KEYS = {
    "gradients_identical", "max_rel_diff_vs_autograd", "loss", "resident_bytes_match", "measured_peak_bytes_plan",
    "measured_peak_bytes_keep_all", "predicted_peak_bytes_plan", "predicted_peak_bytes_keep_all", "bytes_paged_out",
    "bytes_paged_in", "storage_files", "node_seconds",
}  # fmt: skip


@pytest.fixture
def torch_available() -> None:
    try:
        import torch  # noqa: F401
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but PyTorch is missing: .ci/run installs torch==2.13.0+cpu for the replay tests")
        pytest.skip('PyTorch is not installed (pip install -e ".[replay]"); replay tests need it')


def _plan_file(graph: TrainingGraph, path: Path, *, strategy: Strategy = Strategy.GREEDY, tight: bool = True) -> Path:
    """A verified plan of ``graph`` on m4 (see the module docstring; ``tight=False``: at the plain peak)."""
    profile = load_profile("m4")
    ref = reference_points_of(graph, profile)
    low, high = ref.min_ram_bytes, ref.plain_peak_ram_bytes
    budget = low + 0.3 * (high - low) if tight else high
    problem = make_problem(graph, profile, ram_budget_bytes=budget, runtime_factor=1.2)
    plan = STRATEGIES[strategy](problem)
    save_plan(VerifiedPlan(plan, verify(plan), reference_points(problem)), path)
    return path


def _replay(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["replay", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(("sample", "dims"), [("resnet_cifar", {}), ("tiny_transformer", {"batch": 1, "seq": 16})])
def test_replay_of_a_plan_that_recomputes_and_pages_matches_backprop_and_the_simulator(
    torch_available: None, tmp_path: Path, capsys: pytest.CaptureFixture[str], sample: str, dims: dict[str, int]
) -> None:
    onnx_path = SAMPLES / f"{sample}.onnx"
    graph = load_onnx_graph(onnx_path, dims=dims).graph
    plan = _plan_file(graph, tmp_path / "plan.json")
    ops = json.loads(plan.read_text())["operations"]
    assert any(a == Action.PAGE_OUT for _, a, _, _ in ops)
    assert any(r and graph.nodes[v].op != "Input" for _, _, v, r in ops), "the plan recomputes a real node"
    storage = tmp_path / "flash"

    code, out, err = _replay(capsys, str(plan), "--onnx", str(onnx_path), "--steps", "2", "--storage", str(storage),
                             "--json")  # fmt: skip
    assert code == 0, err
    report = json.loads(out)
    assert set(report) >= KEYS
    assert report["gradients_identical"] is True
    assert 0 <= report["max_rel_diff_vs_autograd"] <= 1e-5
    assert report["resident_bytes_match"] is True and report["resident_mismatch"] == ""
    assert len(report["losses"]) == 2 and report["loss"] == report["losses"][-1]
    assert report["predicted_peak_bytes_plan"] < report["predicted_peak_bytes_keep_all"]
    assert report["measured_peak_bytes_plan"] >= report["predicted_peak_bytes_plan"]
    assert report["measured_peak_bytes_plan"] < report["measured_peak_bytes_keep_all"]
    assert report["bytes_paged_out"] == report["bytes_paged_in"] > 0
    assert report["storage_files"] == sum(a == Action.PAGE_OUT for _, a, _, _ in ops)
    assert set(report["node_seconds"]) == {n.name for n in graph.nodes}
    assert all(s >= 0 for s in report["node_seconds"].values())
    assert sum(report["node_seconds"].values()) > 0
    assert storage.is_dir() and not any(storage.iterdir()), "the storage folder is emptied at the end"


def test_keep_storage_leaves_the_page_out_files(torch_available: None, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    onnx_path = SAMPLES / "tiny_transformer.onnx"
    plan = _plan_file(load_onnx_graph(onnx_path, dims={"batch": 1, "seq": 16}).graph, tmp_path / "plan.json")
    storage = tmp_path / "flash"
    code, out, err = _replay(capsys, str(plan), "--onnx", str(onnx_path), "--storage", str(storage), "--keep-storage")
    assert code == 0, err
    assert "gradients identical to keep-all: yes" in out and "resident bytes match the simulator" in out
    files = sorted(storage.iterdir())
    assert files and all(f.stat().st_size > 0 for f in files)


def test_an_altered_plan_is_refused_in_one_line(torch_available: None, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    onnx_path = SAMPLES / "resnet_cifar.onnx"
    plan = _plan_file(load_onnx_graph(onnx_path).graph, tmp_path / "plan.json")
    data = json.loads(plan.read_text())
    first_free = next(i for i, op in enumerate(data["operations"]) if op[1] == "free")
    del data["operations"][first_free]
    plan.write_text(json.dumps(data))
    code, out, err = _replay(capsys, str(plan), "--onnx", str(onnx_path))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and str(plan) in err


def test_a_plan_for_another_model_is_refused(torch_available: None, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    transformer = SAMPLES / "tiny_transformer.onnx"
    plan = _plan_file(load_onnx_graph(transformer, dims={"batch": 1, "seq": 16}).graph, tmp_path / "plan.json")
    code, _, err = _replay(capsys, str(plan), "--onnx", str(SAMPLES / "small_cnn.onnx"))
    assert code == 2 and err.count("\n") == 1
    assert "is not the plan's (tiny_transformer" in err and "another model" in err


def test_the_symbolic_dimensions_come_from_the_plan(torch_available: None, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    """No --dim: the plan's input node gives batch and seq, so a plan at seq 8 replays at seq 8."""
    transformer = SAMPLES / "tiny_transformer.onnx"
    plan = _plan_file(load_onnx_graph(transformer, dims={"batch": 2, "seq": 8}).graph, tmp_path / "plan.json")
    code, out, err = _replay(capsys, str(plan), "--onnx", str(transformer), "--json")
    assert code == 0, err
    assert json.loads(out)["predicted_peak_bytes_plan"] == json.loads(plan.read_text())["simulation"]["peak_ram_bytes"]


def _model_with(op_type: str, path: Path, *, opset: int = 17) -> Path:
    """x (1, 8) -> MatMul -> ``op_type`` -> MatMul -> logits: a model around one operator under test."""
    w1 = helper.make_tensor("w1", TensorProto.FLOAT, [8, 8], [0.1 * (i % 7 - 3) for i in range(64)])
    w2 = helper.make_tensor("w2", TensorProto.FLOAT, [8, 4], [0.1 * (i % 5 - 2) for i in range(32)])
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h"], name="fc1"),
        helper.make_node(op_type, ["h"], ["a"], name="act"),
        helper.make_node("MatMul", ["a", "w2"], ["logits"], name="fc2"),
    ]
    graph = helper.make_graph(
        nodes, "odd", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 4])], [w1, w2],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)
    onnx.save(model, path)
    return path


def test_an_operator_without_a_kernel_is_refused_before_anything_runs(
    torch_available: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    onnx_path = _model_with("Cos", tmp_path / "odd.onnx")
    plan = _plan_file(load_onnx_graph(onnx_path).graph, tmp_path / "plan.json", strategy=Strategy.KEEP_ALL,
                      tight=False)  # fmt: skip
    storage = tmp_path / "flash"
    code, out, err = _replay(capsys, str(plan), "--onnx", str(onnx_path), "--storage", str(storage))
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "replay has no kernel for Cos ×1" in err
    assert not storage.exists(), "refused before anything ran"


def test_an_operator_older_than_its_kernels_definition_is_refused(
    torch_available: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Softmax before opset 13 normalises a flattened 2-D view: replayed with the opset-13 kernel it would be
    another function, and the autograd check (same forward kernels) could not tell."""
    onnx_path = _model_with("Softmax", tmp_path / "old.onnx", opset=11)
    plan = _plan_file(load_onnx_graph(onnx_path).graph, tmp_path / "plan.json", strategy=Strategy.KEEP_ALL,
                      tight=False)  # fmt: skip
    code, out, err = _replay(capsys, str(plan), "--onnx", str(onnx_path))
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "Softmax node 'act' of opset 11" in err and "onnx.version_converter" in err


def test_a_clip_without_bounds_replays_as_the_identity(torch_available: None, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    onnx_path = _model_with("Clip", tmp_path / "clip.onnx")
    plan = _plan_file(load_onnx_graph(onnx_path).graph, tmp_path / "plan.json", strategy=Strategy.KEEP_ALL,
                      tight=False)  # fmt: skip
    code, out, err = _replay(capsys, str(plan), "--onnx", str(onnx_path), "--json")
    assert code == 0, err
    assert json.loads(out)["gradients_identical"] is True


def test_a_storage_folder_that_cannot_be_written_is_one_line(torch_available: None, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    """sysfs refuses new files even to root: the page-out fails as on a full or read-only card."""
    unwritable = Path("/sys/kernel")
    if not unwritable.is_dir():
        pytest.skip("needs Linux's /sys/kernel, a folder where no file can be created")
    onnx_path = SAMPLES / "tiny_transformer.onnx"
    plan = _plan_file(load_onnx_graph(onnx_path, dims={"batch": 1, "seq": 16}).graph, tmp_path / "plan.json")
    code, out, err = _replay(capsys, str(plan), "--onnx", str(onnx_path), "--storage", str(unwritable))
    errors = [line for line in err.splitlines() if not line.startswith("poet: replay ")]  # after the progress
    assert code == 2 and out == "" and len(errors) == 1 and "Traceback" not in err
    assert errors[0].startswith("poet: error: /sys/kernel/node") and "cannot write the page-out file" in errors[0]


def test_a_zoo_plan_is_refused_for_its_chain_backward(torch_available: None, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    plan = _plan_file(build_model("linear"), tmp_path / "plan.json", strategy=Strategy.KEEP_ALL, tight=False)
    code, _, err = _replay(capsys, str(plan), "--onnx", str(SAMPLES / "mlp.onnx"))
    assert code == 2 and err.count("\n") == 1
    assert "chain backward" in err and "GradientLayer" in err


def test_without_pytorch_one_line_says_how_to_install_the_extra(tmp_path: Path) -> None:
    """``sys.modules['torch'] = None`` makes ``import torch`` fail as on a machine without it."""
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from poet_gui.cli import main\n"
        f"sys.exit(main(['replay', {str(tmp_path / 'plan.json')!r}, '--onnx', 'm.onnx']))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and 'pip install -e ".[replay]"' in done.stderr
    assert "download.pytorch.org/whl/cpu" in done.stderr


def test_the_cli_and_the_app_do_not_load_torch() -> None:
    code = (
        "import sys\n"
        "import poet_gui.cli, poet_gui.ui.app, poet_gui.ui.main_window\n"
        "poet_gui.cli.build_parser()\n"
        "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if m.startswith('torch'))[:5]\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen"})  # fmt: skip
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(("sample", "dims"), [("resnet_cifar", {}), ("tiny_transformer", {"batch": 2, "seq": 4})])
def test_the_lowering_accounts_for_every_node(sample: str, dims: dict[str, int]) -> None:
    """Every node is an input, an operator, the loss, a gradient or a parameter gradient, exactly once."""
    low = lower_onnx(SAMPLES / f"{sample}.onnx", dims=dims).lowering
    kinds = [
        (v in low.inputs) + (v in low.forward) + (v == low.loss) + (v in low.grads) + (v in low.param_grads)
        for v in range(len(low.graph))
    ]
    assert kinds == [1] * len(low.graph)
    assert all(
        low.graph.nodes[v].is_backward == (v in low.grads or v in low.param_grads) for v in range(len(low.graph))
    )
    for node, (of, shares) in low.grads.items():
        assert low.grad_node[of] == node and shares


def test_calibrate_writes_a_profile_that_loads_and_says_where_its_figures_come_from(
    torch_available: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "here.toml"
    code = main(["calibrate", "--onnx", str(SAMPLES / "small_cnn.onnx"), "--storage", str(tmp_path / "flash"),
                 "--out", str(out), "--compute-power-w", "12.5", "--paging-power-w", "1.5"])  # fmt: skip
    _, err = capsys.readouterr()
    assert code == 0, err
    profile = load_profile(out)
    assert profile.compute_power_w == 12.5 and profile.paging_power_w == 1.5
    assert profile.compute_flop_per_j == pytest.approx(profile.compute_flop_per_s / 12.5)
    assert profile.pageout_bytes_per_s > 0 and profile.pagein_latency_s > 0
    text = out.read_text()
    assert "12.5 W given with --compute-power-w" in text and "only as good as its power figures" in text
    assert not any((tmp_path / "flash").iterdir()), "the measurement files are removed"
    graph = load_onnx_graph(SAMPLES / "small_cnn.onnx").graph
    assert reference_points_of(graph, profile).plain_runtime_s > 0


def test_calibrate_without_power_figures_or_rapl_is_refused(torch_available: None, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    if Path("/sys/class/powercap/intel-rapl:0/energy_uj").exists():
        pytest.skip("this machine exposes RAPL counters, so calibrate reads the power from them")
    code = main(["calibrate", "--onnx", str(SAMPLES / "mlp.onnx"), "--storage", str(tmp_path / "flash"),
                 "--out", str(tmp_path / "p.toml")])  # fmt: skip
    _, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and "--compute-power-w" in err
    assert not (tmp_path / "p.toml").exists()
    assert not (tmp_path / "flash").exists(), "refused before measuring anything"
