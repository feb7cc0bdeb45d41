"""Edit a copy of a device profile and save it as a new file in ``profiles/``.

Every keystroke re-validates the whole profile with the core's own parser, so a bad value is refused
here, in the dialog, with the core's message (naming the field), and Save stays disabled until the
profile would load back.
"""

from __future__ import annotations

import re

from PySide6.QtCore import Slot
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from poet_gui.core.device.profiles import PROFILE_FIELDS, PROFILES_DIR, DeviceProfile, parse_profile, save_profile
from poet_gui.core.errors import PoetError

_UNITS = {"flop_per_s": "FLOP/s", "flop_per_j": "FLOP/J", "power_w": "W", "bytes_per_element": "B",
          "ram_bytes": "B", "latency_s": "s", "bytes_per_s": "B/s"}  # fmt: skip
_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


class ProfileEditor(QDialog):
    """A form with one field per profile figure; :attr:`saved_profile` is set after a successful save."""

    def __init__(self, profile: DeviceProfile, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"New device profile from {profile.key}")
        self.saved_profile: DeviceProfile | None = None
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self._key = QLineEdit(f"{profile.key}_custom")
        self._key.setToolTip(f"File name of the new profile in {PROFILES_DIR} (letters, digits, _ . -)")
        form.addRow("Profile key (file name)", self._key)
        self._edits: dict[tuple[str, str], QLineEdit] = {}
        for field in PROFILE_FIELDS:
            value = getattr(profile, field.attr)
            edit = QLineEdit("" if value is None else (repr(value) if isinstance(value, float) else str(value)))
            unit = _UNITS.get(field.key, "")
            where = f"[{field.table}] " if field.table else ""
            edit.setToolTip(f"{where}{field.key}{' (optional)' if not field.is_required else ''}")
            form.addRow(f"{field.table or 'device'} · {field.key}" + (f" ({unit})" if unit else ""), edit)
            edit.textChanged.connect(self._on_edit_textChanged)
            self._edits[(field.table, field.key)] = edit
        self._key.textChanged.connect(self._on_edit_textChanged)
        layout.addLayout(form)
        self._error = QLabel()
        self._error.setWordWrap(True)
        self._error.setStyleSheet("color: #b00020;")
        layout.addWidget(self._error)
        self._buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        self._buttons.accepted.connect(self._on_buttons_accepted)
        self._buttons.rejected.connect(self.reject)
        layout.addWidget(self._buttons)
        self._on_edit_textChanged()

    def toml_text(self) -> str:
        """The form as profile TOML: numbers as typed, the name quoted; empty optional fields left out."""
        tables: dict[str, list[str]] = {}
        for field in PROFILE_FIELDS:
            text = self._edits[(field.table, field.key)].text().strip()
            if not text:
                continue
            value = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"' if field.kind == "text" else text
            tables.setdefault(field.table, []).append(f"{field.key} = {value}")
        parts = tables.pop("", [])
        for table, rows in tables.items():
            parts += [f"[{table}]", *rows]
        return "\n".join(parts) + "\n"

    def validate(self) -> DeviceProfile | str:
        """The profile the form describes, or the reason it is refused."""
        key = self._key.text().strip()
        if not _KEY.match(key):
            return "the profile key must be a file name of letters, digits, '_', '.' or '-'"
        if (PROFILES_DIR / f"{key}.toml").exists():
            return f"a profile named {key!r} already exists in {PROFILES_DIR}; choose another key"
        try:
            return parse_profile(self.toml_text(), "profile", key)
        except PoetError as exc:
            return str(exc)

    @Slot()
    def _on_edit_textChanged(self) -> None:
        result = self.validate()
        is_ok = isinstance(result, DeviceProfile)
        self._error.setText("" if is_ok else str(result))
        self._buttons.button(QDialogButtonBox.StandardButton.Save).setEnabled(is_ok)

    @Slot()
    def _on_buttons_accepted(self) -> None:
        result = self.validate()
        if not isinstance(result, DeviceProfile):
            return
        path = PROFILES_DIR / f"{result.key}.toml"
        try:
            save_profile(result, path)
        except PoetError as exc:
            self._error.setText(str(exc))
            return
        self.saved_profile = parse_profile(path.read_text(), str(path), result.key)
        self.accept()
