"""The notes a profile file's author wrote: its comments, which say where each figure comes from.

A profile's figures can look contradictory without them (the Raspberry Pi profiles reuse the POET
reference's compute rate, whose own comment gives a different measured rate), so the app shows the
notes beside the figures rather than asking users to open the file.
"""

from __future__ import annotations

from pathlib import Path

#: A tooltip longer than this stops being read; the file itself has the rest.
MAX_NOTE_LINES = 24


def profile_notes(path: Path) -> str:
    """The comment lines of the profile file at ``path``, without their ``#``, in file order; empty if the
    file has none or cannot be read (the profile itself was loaded, so a read failure here is harmless)."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return ""
    notes = [line.strip()[1:].strip() for line in lines if line.strip().startswith("#")]
    notes = [note for note in notes if note]
    if len(notes) > MAX_NOTE_LINES:
        notes = [*notes[:MAX_NOTE_LINES], f"… ({len(notes) - MAX_NOTE_LINES} more lines in {Path(path).name})"]
    return "\n".join(notes)
