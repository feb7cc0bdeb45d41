"""Figures as people read them: SI prefixes that sit beside their units, gaps without float noise."""

from __future__ import annotations

import pytest

from poet_gui.core.device.profile_notes import profile_notes
from poet_gui.core.device.profiles import DEFAULT_PROFILES_DIR
from poet_gui.core.device.units import GAP_TOLERANCE, format_gap, format_si
from poet_gui.core.schedule.plan import OPTIMAL_GAP


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (6.36991e6, "FLOP/s", "6.37 MFLOP/s"),  # m4's compute rate, once shown as 6.36991e+06 FLOP/s
        (5.80011e8, "FLOP/J", "580 MFLOP/J"),
        (0.0109824, "W", "11.0 mW"),
        (3.0, "W", "3.00 W"),
        (2e9, "FLOP/s", "2.00 GFLOP/s"),
        (999.96e3, "B/s", "1.00 MB/s"),  # rounds up into the next prefix, not "1000 kB/s"
        (0.0, "W", "0 W"),
        (-0.002, "W", "-2.00 mW"),
    ],
)
def test_format_si_gives_three_figures_and_a_prefix(value: float, unit: str, text: str) -> None:
    assert format_si(value, unit) == text


def test_a_gap_within_the_solver_tolerance_reads_zero_and_real_gaps_keep_their_digits() -> None:
    assert OPTIMAL_GAP == GAP_TOLERANCE  # what counts as optimal is what is shown as no gap
    assert format_gap(1.7e-16) == format_gap(0.0) == "0.00%"  # "Gap 1.7e-14%" for a proven optimum
    assert format_gap(GAP_TOLERANCE) == "0.00%"
    assert format_gap(4.9e-5) == "0.0049%"  # a real gap never rounds to zero
    assert format_gap(0.0194) == "1.94%"


def test_profile_notes_are_the_files_comments_and_say_how_the_two_pi_profiles_differ(tmp_path) -> None:
    notes = profile_notes(DEFAULT_PROFILES_DIR / "a72.toml")
    assert "differs from a72nocache.toml" in notes and "#" not in notes
    assert "differs from a72.toml" in profile_notes(DEFAULT_PROFILES_DIR / "a72nocache.toml")
    long = tmp_path / "long.toml"
    long.write_text("".join(f"# note {k}\n" for k in range(40)) + 'name = "x"\n')
    lines = profile_notes(long).splitlines()
    assert lines[0] == "note 0" and len(lines) == 25 and "16 more lines" in lines[-1]
    assert profile_notes(tmp_path / "missing.toml") == ""


def test_energies_read_side_by_side_share_one_unit():
    """Issue 16 item 22: a zero page-in energy beside microjoules reads 0 µJ, not 0 J."""
    from poet_gui.core.device.units import format_energy

    assert format_energy(0.0) == "0 J"
    assert format_energy(0.0, unit_of=455.8e-6) == "0 µJ"
    assert format_energy(896.2e-9, unit_of=455.8e-6) == "896.2 nJ"  # a non-zero keeps its own
    assert format_energy(460.7e-6, unit_of=0.0) == "460.7 µJ"
