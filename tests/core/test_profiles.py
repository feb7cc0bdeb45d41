"""Device profiles: the shipped files load with the reference figures, and every kind of bad file is
refused with a message naming the file, the field and the value."""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from poet_gui.core.device import profiles
from poet_gui.core.device.profiles import (
    DeviceProfile,
    list_profiles,
    load_profile,
    parse_profile,
    profile_to_toml,
    save_profile,
)
from poet_gui.core.errors import PoetError, ProfileError

SHIPPED_DIR = Path(__file__).resolve().parents[2] / "profiles"
USABLE = ("a72", "a72nocache", "m0", "m4")

# FORMULATION section 2: the exact expressions the reference computes F and E from.
EXPECTED = {
    "m0": dict(
        compute_flop_per_s=2000 / 0.012,
        compute_flop_per_j=2000 / (0.012 * 0.020 * 3.3),
        pagein_latency_s=1.09e-4,
        pagein_bytes_per_s=4616510.0,
        pageout_latency_s=1.13e-4,
        pageout_bytes_per_s=4440000.0,
        paging_power_w=0.33,
        compute_power_w=0.066,
    ),
    "m4": dict(
        compute_flop_per_s=1628300000 / 255.6237,
        compute_flop_per_j=1628300000 / (255.6237 * 0.003328 * 3.3),
        pagein_latency_s=1.09e-4,
        pagein_bytes_per_s=4616510.0,
        pageout_latency_s=1.13e-4,
        pageout_bytes_per_s=4440000.0,
        paging_power_w=0.33,
        compute_power_w=0.0109824,
    ),
    "a72": dict(
        compute_flop_per_s=2e9,
        compute_flop_per_j=1628300000 / (13.53 * 0.6 * 5),
        pagein_latency_s=5.09561e-6,
        pagein_bytes_per_s=45500000.0,
        pageout_latency_s=1.85314e-5,
        pageout_bytes_per_s=24500000.0,
        paging_power_w=0.15,
        compute_power_w=3.0,
    ),
    "a72nocache": dict(
        compute_flop_per_s=1628300000 / 13.53,
        compute_flop_per_j=1628300000 / (13.53 * 0.6 * 5),
        pagein_latency_s=5.09561e-6,
        pagein_bytes_per_s=45500000.0,
        pageout_latency_s=4.23532e-3,
        pageout_bytes_per_s=17100000.0,
        paging_power_w=0.15,
        compute_power_w=3.0,
    ),
}

# A valid profile as raw TOML literals, so a test can break exactly one field.
BASE: dict[str, Any] = {
    "name": '"Test board"',
    "compute": {
        "flop_per_s": "1.0e6",
        "flop_per_j": "2.0e7",
        "power_w": "0.05",
        "bytes_per_element": "4",
    },
    "memory": {"ram_bytes": "65536"},
    "storage": {
        "power_w": "0.2",
        "page_in": {"latency_s": "1e-4", "bytes_per_s": "4e6"},
        "page_out": {"latency_s": "2e-4", "bytes_per_s": "3e6"},
    },
}

NUMBER_FIELDS = (
    "compute.flop_per_s",
    "compute.flop_per_j",
    "compute.power_w",
    "storage.power_w",
    "storage.page_in.latency_s",
    "storage.page_in.bytes_per_s",
    "storage.page_out.latency_s",
    "storage.page_out.bytes_per_s",
)
COUNT_FIELDS = ("compute.bytes_per_element", "memory.ram_bytes")


def _toml(data: dict[str, Any], prefix: str = "") -> str:
    """Serialise nested dicts of raw TOML literals: scalars first, then sub-tables."""
    lines = [f"{k} = {v}" for k, v in data.items() if not isinstance(v, dict)]
    for k, v in data.items():
        if isinstance(v, dict):
            name = f"{prefix}.{k}" if prefix else k
            lines.append(f"\n[{name}]\n{_toml(v, name)}")
    return "\n".join(lines)


def _variant(dotted: str, literal: str | None) -> str:
    """BASE with field ``dotted`` set to ``literal`` (None: removed)."""
    data = copy.deepcopy(BASE)
    *tables, key = dotted.split(".")
    table = data
    for t in tables:
        table = table[t]
    if literal is None:
        del table[key]
    else:
        table[key] = literal
    return _toml(data)


def _label(dotted: str) -> str:
    table, _, key = dotted.rpartition(".")
    return f"[{table}].{key}" if table else key


def _refusal(text: str, source: str = "boards/test.toml") -> str:
    with pytest.raises(ProfileError) as info:
        parse_profile(text, source, "test")
    message = str(info.value)
    assert source in message
    return message


def test_base_profile_is_valid() -> None:
    """The fixture itself must parse, or every refusal below would prove nothing."""
    p = parse_profile(_toml(BASE), "boards/test.toml", "test")
    assert p == DeviceProfile(
        key="test",
        name="Test board",
        compute_flop_per_s=1.0e6,
        compute_flop_per_j=2.0e7,
        bytes_per_element=4,
        pagein_latency_s=1e-4,
        pagein_bytes_per_s=4e6,
        pageout_latency_s=2e-4,
        pageout_bytes_per_s=3e6,
        paging_power_w=0.2,
        compute_power_w=0.05,
        ram_bytes=65536,
        source="boards/test.toml",
    )


def test_profiles_dir_is_the_repository_profiles_directory() -> None:
    assert profiles.DEFAULT_PROFILES_DIR == SHIPPED_DIR
    assert SHIPPED_DIR.is_dir()


def test_environment_variable_overrides_the_profiles_directory(tmp_path: Path) -> None:
    """Read at import, so check it in a fresh interpreter."""
    (tmp_path / "board.toml").write_text(_toml(BASE), encoding="utf-8")
    code = (
        "from poet_gui.core.device.profiles import PROFILES_DIR, load_profile\n"
        "print(PROFILES_DIR, load_profile('board').key)"
    )
    env = {**os.environ, "POET_PROFILES_DIR": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=SHIPPED_DIR.parent,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.split() == [str(tmp_path), "board"]


@pytest.mark.parametrize("key", USABLE)
def test_shipped_profile_has_the_reference_figures(key: str) -> None:
    p = load_profile(key, directory=SHIPPED_DIR)
    assert p.key == key
    assert p.source == str(SHIPPED_DIR / f"{key}.toml")
    assert p.bytes_per_element == 4
    assert p.ram_bytes is not None and p.ram_bytes > 0
    assert p.name
    for attr, value in EXPECTED[key].items():
        assert getattr(p, attr) == value, attr  # exact: costs must reproduce the reference to 1e-9


def test_shipped_jetson_profile_is_refused_naming_every_missing_field() -> None:
    with pytest.raises(ProfileError) as info:
        load_profile("jetson_tx2", directory=SHIPPED_DIR)
    message = str(info.value)
    assert "jetson_tx2.toml" in message
    assert "[compute].flop_per_s" in message
    assert "[compute].flop_per_j" in message
    assert "missing" in message


def test_list_profiles_flags_jetson_and_sorts_by_key() -> None:
    entries = list_profiles(SHIPPED_DIR)
    assert [e.key for e in entries] == ["a72", "a72nocache", "jetson_tx2", "m0", "m4"]
    for e in entries:
        assert e.path == SHIPPED_DIR / f"{e.key}.toml"
        if e.key == "jetson_tx2":
            assert e.profile is None
            assert e.error is not None and "[compute].flop_per_s" in e.error
        else:
            assert e.error is None
            assert e.profile == load_profile(e.key, directory=SHIPPED_DIR)


def test_list_profiles_of_a_missing_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="nowhere"):
        list_profiles(tmp_path / "nowhere")


@pytest.mark.parametrize("as_str", [False, True])
def test_load_by_path(tmp_path: Path, as_str: bool) -> None:
    path = tmp_path / "myboard.toml"
    path.write_text(_toml(BASE), encoding="utf-8")
    p = load_profile(str(path) if as_str else path)
    assert p.key == "myboard"
    assert p.source == str(path)
    assert p.compute_flop_per_s == 1.0e6


def test_unknown_key_lists_the_known_ones() -> None:
    with pytest.raises(ProfileError) as info:
        load_profile("m7", directory=SHIPPED_DIR)
    message = str(info.value)
    assert "'m7'" in message
    for key in (*USABLE, "jetson_tx2"):
        assert key in message


def test_missing_file_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "gone.toml"
    with pytest.raises(ProfileError, match=r"gone\.toml"):
        load_profile(path)


def test_non_utf8_file_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(_toml(BASE).replace("Test board", "Carte \xe9").encode("latin-1"))
    with pytest.raises(ProfileError, match=r"latin1\.toml"):
        load_profile(path)


def test_malformed_toml_gives_the_line() -> None:
    text = _toml(BASE).replace("flop_per_j = 2.0e7", "flop_per_j = = 2.0e7")
    message = _refusal(text)
    assert "not valid TOML" in message
    line = text.splitlines().index("flop_per_j = = 2.0e7") + 1
    assert f"line {line}" in message


@pytest.mark.parametrize("cut", ["[storage.pa", "bytes_per_s = 4e", 'name = "Test'])
def test_file_truncated_mid_token_is_malformed(cut: str) -> None:
    text = _toml(BASE)
    message = _refusal(text[: text.index(cut) + len(cut)])
    assert "not valid TOML" in message
    assert "(at line " in message or "(at end of document)" in message  # tomllib says where


def test_file_truncated_between_lines_names_the_missing_fields() -> None:
    text = _toml(BASE)
    message = _refusal(text[: text.index("[storage.page_out]")])
    assert "[storage.page_out].latency_s" in message
    assert "[storage.page_out].bytes_per_s" in message


def test_empty_file_names_every_required_field() -> None:
    message = _refusal("")
    for field in ("name", "[compute].flop_per_s", "[compute].bytes_per_element", "[storage].power_w"):
        assert field in message
    assert "[compute].power_w" not in message  # optional
    assert "[memory].ram_bytes" not in message  # optional


@pytest.mark.parametrize(
    "dotted",
    [
        "name",
        "compute.flop_per_s",
        "compute.flop_per_j",
        "compute.bytes_per_element",
        "storage.power_w",
        "storage.page_in.latency_s",
        "storage.page_in.bytes_per_s",
        "storage.page_out.latency_s",
        "storage.page_out.bytes_per_s",
    ],
)
def test_missing_required_field_is_named(dotted: str) -> None:
    message = _refusal(_variant(dotted, None))
    assert "missing" in message
    assert _label(dotted) in message


def test_all_missing_fields_are_listed_in_one_message() -> None:
    data = copy.deepcopy(BASE)
    del data["compute"]["flop_per_j"]
    del data["storage"]["page_in"]
    message = _refusal(_toml(data))
    for label in ("[compute].flop_per_j", "[storage.page_in].latency_s", "[storage.page_in].bytes_per_s"):
        assert label in message


@pytest.mark.parametrize("dotted", ["compute.power_w", "memory.ram_bytes"])
def test_optional_fields_may_be_absent(dotted: str) -> None:
    p = parse_profile(_variant(dotted, None), "t.toml", "t")
    assert getattr(p, "compute_power_w" if dotted == "compute.power_w" else "ram_bytes") is None


def test_memory_table_may_be_absent() -> None:
    data = copy.deepcopy(BASE)
    del data["memory"]
    assert parse_profile(_toml(data), "t.toml", "t").ram_bytes is None


@pytest.mark.parametrize(
    ("literal", "problem", "shown"),
    [
        ("0", "must be > 0", "0"),
        ("0.0", "must be > 0", "0.0"),
        ("-1.5", "must be > 0", "-1.5"),
        ("nan", "must be finite", "nan"),
        ("inf", "must be finite", "inf"),
        ("-inf", "must be finite", "-inf"),
        ('"fast"', "must be a number", "'fast'"),
        ('"1e6"', "must be a number", "'1e6'"),
        ("true", "must be a number", "True"),
        ("[1.0]", "must be a number", "[1.0]"),
    ],
)
@pytest.mark.parametrize("dotted", NUMBER_FIELDS)
def test_bad_number_is_refused_naming_field_and_value(dotted: str, literal: str, problem: str, shown: str) -> None:
    message = _refusal(_variant(dotted, literal))
    assert f"{_label(dotted)} {problem}, got {shown}" in message


@pytest.mark.parametrize("literal", ["0", "-4", "4.0", "2.5", "true", '"4"', "nan"])
@pytest.mark.parametrize("dotted", COUNT_FIELDS)
def test_bad_count_is_refused_naming_field_and_value(dotted: str, literal: str) -> None:
    message = _refusal(_variant(dotted, literal))
    assert f"{_label(dotted)} must be a positive integer, got " in message


@pytest.mark.parametrize("literal", ['""', '"   "', "3", "true"])
def test_bad_name_is_refused(literal: str) -> None:
    message = _refusal(_variant("name", literal))
    assert "name must be a non-empty string" in message


def test_integer_figures_are_accepted_as_floats() -> None:
    p = parse_profile(_variant("compute.flop_per_s", "2000000000"), "t.toml", "t")
    assert p.compute_flop_per_s == 2e9
    assert isinstance(p.compute_flop_per_s, float)


def test_huge_integer_is_refused_as_not_finite() -> None:
    message = _refusal(_variant("compute.flop_per_s", "1" + "0" * 400))
    assert "[compute].flop_per_s must be finite" in message


@pytest.mark.parametrize(
    ("dotted", "literal", "named"),
    [
        ("nmae", '"typo"', "field nmae"),
        ("compute.flops_per_s", "1.0", "field [compute].flops_per_s"),
        ("storage.page_in.latency_ms", "0.1", "field [storage.page_in].latency_ms"),
        ("memory.ram_kib", "64", "field [memory].ram_kib"),
    ],
)
def test_unknown_field_is_refused_naming_it(dotted: str, literal: str, named: str) -> None:
    message = _refusal(_variant(dotted, literal))
    assert f"unknown {named}" in message


def test_misspelt_required_field_names_the_typo_not_just_the_gap() -> None:
    data = copy.deepcopy(BASE)
    data["compute"]["flop_per_sec"] = data["compute"].pop("flop_per_s")
    message = _refusal(_toml(data))
    assert "[compute].flop_per_sec" in message
    assert "flop_per_s" in message  # the allowed names are listed as a hint


@pytest.mark.parametrize("table", ["storag", "compute.extra", "storage.page_sideways"])
def test_unknown_table_is_refused_naming_it(table: str) -> None:
    text = _toml(BASE) + f"\n\n[{table}]\nx = 1\n"
    message = _refusal(text)
    assert f"unknown table [{table}]" in message


@pytest.mark.parametrize("table", ["compute", "storage.page_out"])
def test_table_given_as_a_value_is_refused(table: str) -> None:
    data = copy.deepcopy(BASE)
    parent, _, key = table.rpartition(".")
    holder = data[parent] if parent else data
    del holder[key]
    text = _toml(data)
    # a key inside its parent table, or at the very top for a top-level table
    text = text.replace(f"[{parent}]\n", f"[{parent}]\n{key} = 3\n") if parent else f"{key} = 3\n" + text
    message = _refusal(text)
    assert f"[{table}] must be a table, got 3" in message


@pytest.mark.parametrize("key", USABLE)
def test_shipped_profiles_round_trip_through_toml(key: str) -> None:
    p = load_profile(key, directory=SHIPPED_DIR)
    assert parse_profile(profile_to_toml(p), p.source, p.key) == p


@pytest.mark.parametrize(
    "name",
    ['quote " and back\\slash', "tab\tnewline\nbell\x07 del\x7f", "Ünïcödé µC 🔋", "[not a table]"],
)
def test_awkward_names_and_optional_gaps_round_trip(name: str) -> None:
    p = DeviceProfile(
        key="odd",
        name=name,
        compute_flop_per_s=1 / 3,
        compute_flop_per_j=1e300,
        bytes_per_element=2,
        pagein_latency_s=5e-324,
        pagein_bytes_per_s=0.1 + 0.2,
        pageout_latency_s=1e-9,
        pageout_bytes_per_s=123456789.123456789,
        paging_power_w=2.0,
    )
    back = parse_profile(profile_to_toml(p), "", "odd")
    assert back == p
    assert back.compute_power_w is None and back.ram_bytes is None


def test_save_profile_writes_a_loadable_file(tmp_path: Path) -> None:
    p = load_profile("m0", directory=SHIPPED_DIR)
    path = tmp_path / "m0_copy.toml"
    save_profile(dataclasses.replace(p, name="My MKR1000"), path)
    back = load_profile(path)
    assert back == dataclasses.replace(p, key="m0_copy", name="My MKR1000", source=str(path))
    assert [q.name for q in tmp_path.iterdir()] == ["m0_copy.toml"]  # no temporary left behind


def test_save_profile_overwrites(tmp_path: Path) -> None:
    p = load_profile("m4", directory=SHIPPED_DIR)
    path = tmp_path / "board.toml"
    path.write_text("stale", encoding="utf-8")
    save_profile(p, path)
    assert load_profile(path).compute_flop_per_s == p.compute_flop_per_s


@pytest.mark.parametrize(
    ("change", "label"),
    [
        ({"pageout_bytes_per_s": 0.0}, "[storage.page_out].bytes_per_s"),
        ({"compute_flop_per_s": math.nan}, "[compute].flop_per_s"),
        ({"bytes_per_element": 0}, "[compute].bytes_per_element"),
        ({"name": ""}, "name"),
    ],
)
def test_save_profile_refuses_an_invalid_profile_without_writing(
    tmp_path: Path, change: dict[str, Any], label: str
) -> None:
    p = dataclasses.replace(load_profile("m4", directory=SHIPPED_DIR), **change)
    path = tmp_path / "bad.toml"
    with pytest.raises(ProfileError, match=re.escape(label)):
        save_profile(p, path)
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []


def test_save_profile_to_an_unwritable_place_is_a_poet_error(tmp_path: Path) -> None:
    p = load_profile("m4", directory=SHIPPED_DIR)
    path = tmp_path / "no_such_dir" / "m4.toml"
    with pytest.raises(PoetError, match="no_such_dir"):
        save_profile(p, path)
