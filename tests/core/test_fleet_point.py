"""A fleet row's model found again (the app's Fleet view plans a clicked point from it), and the
table told apart from other files by its header."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from poet_gui.core.errors import PoetError
from poet_gui.core.sweep.fleet_csv import FLEET_COLUMNS, FleetRow, fleet_csv_text, is_fleet_csv
from poet_gui.core.sweep.fleet_point import PointModel, point_model
from poet_gui.core.sweep.fleet_summary import cheapest_per_model

SAMPLE = Path(__file__).resolve().parents[2] / "poet_gui" / "samples" / "small_cnn.onnx"
ROW = FleetRow(
    key="0123456789abcdef", model="transformer", model_args="seq_len=4", profile="a72", ram_budget_bytes=5000.0,
    runtime_factor=1.2, status="optimal", energy_j=1e-3, gap=0.0, solve_s=0.1, runtime_s=1e-4,
    peak_ram_bytes=4000.0, fits_device=True, device_ram_bytes=2.0**32, param_bytes=100.0, least_ram_bytes=3000.0,
    plain_energy_j=1e-3, paging=True, remat=True, count_paging_time=False, budget_includes_params=False,
)  # fmt: skip


def test_a_zoo_row_gives_its_name_and_sizes(tmp_path):
    assert point_model(ROW, tmp_path / "fleet.csv") == PointModel("transformer", (("seq_len", 4),), None, ())
    plain = dataclasses.replace(ROW, model="linear", model_args="")
    assert point_model(plain, tmp_path / "fleet.csv") == PointModel("linear", (), None, ())


def test_a_relative_model_file_is_found_beside_the_table_when_not_in_the_current_folder(tmp_path, monkeypatch):
    folder = tmp_path / "run"
    folder.mkdir()
    shutil.copy(SAMPLE, folder / "cnn.onnx")
    monkeypatch.chdir(tmp_path)  # the sweep ran in run/, the app starts elsewhere
    row = dataclasses.replace(ROW, model="cnn.onnx", model_args="batch=2")
    found = point_model(row, folder / "fleet.csv")
    assert found == PointModel(None, (), str((folder / "cnn.onnx").resolve()), (("batch", 2),))
    graph = dataclasses.replace(ROW, model="run/cnn.onnx", model_args="")
    assert point_model(graph, Path("elsewhere") / "fleet.csv").graph_path == str(tmp_path / "run" / "cnn.onnx")


def test_a_missing_model_file_or_bad_sizes_are_one_line_naming_the_table(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    table = tmp_path / "tables" / "fleet.csv"
    with pytest.raises(PoetError, match=r"fleet\.csv: model 'gone\.json' is neither a built-in model nor a file"):
        point_model(dataclasses.replace(ROW, model="gone.json", model_args=""), table)
    with pytest.raises(PoetError, match=r"fleet\.csv: model_args of 'transformer' must be NAME=INTEGER"):
        point_model(dataclasses.replace(ROW, model_args="seq_len=four"), table)


def test_a_fleet_table_is_told_apart_by_its_header(tmp_path):
    table, other, binary = tmp_path / "fleet.txt", tmp_path / "ops.csv", tmp_path / "x.csv"
    table.write_text(fleet_csv_text([ROW]))
    other.write_text("step,action,node\n0,compute,x\n")
    binary.write_bytes(b"\xff\xfe\x00")
    assert is_fleet_csv(table) and not is_fleet_csv(other) and not is_fleet_csv(binary)
    assert not is_fleet_csv(tmp_path / "none.csv")
    assert table.read_text().splitlines()[0] == ",".join(FLEET_COLUMNS)


def test_the_cheapest_fitting_device_skips_plans_that_overflow_the_device():
    cheap_but_too_big = dataclasses.replace(ROW, key="1", profile="m4", energy_j=1e-5, fits_device=False)
    fits = dataclasses.replace(ROW, key="2", profile="a72", energy_j=2e-3)
    (choice,) = cheapest_per_model([cheap_but_too_big, fits])
    assert choice.profile == "a72" and choice.chosen == fits
