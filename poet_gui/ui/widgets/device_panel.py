"""Device choice: every profile in ``profiles/`` with its figures; edit a copy into a new profile."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import QComboBox, QFormLayout, QGroupBox, QLabel, QPushButton, QWidget

from poet_gui.core.device.profiles import DeviceProfile, ProfileEntry, list_profiles
from poet_gui.core.device.units import format_bytes, format_seconds


def profile_figures(p: DeviceProfile) -> list[tuple[str, str]]:
    """Every figure of a profile with its unit, for display."""
    rows = [
        ("Compute rate", f"{p.compute_flop_per_s:,.6g} FLOP/s"),
        ("Compute efficiency", f"{p.compute_flop_per_j:,.6g} FLOP/J"),
        ("Bytes per element", f"{p.bytes_per_element} B"),
        ("Page-in", f"{format_seconds(p.pagein_latency_s)} + {p.pagein_bytes_per_s / 1e6:,.4g} MB/s"),
        ("Page-out", f"{format_seconds(p.pageout_latency_s)} + {p.pageout_bytes_per_s / 1e6:,.4g} MB/s"),
        ("Paging power", f"{p.paging_power_w:g} W"),
    ]
    if p.compute_power_w is not None:
        rows.append(("Compute power", f"{p.compute_power_w:g} W"))
    if p.ram_bytes is not None:
        rows.append(("Device RAM", format_bytes(p.ram_bytes)))
    return rows


class DevicePanel(QGroupBox):
    """Emits :attr:`profile_chosen` with a loaded profile; unusable files are listed greyed out with
    the reason as their tooltip, so a user sees why (e.g. the Jetson TX2 lacks compute figures)."""

    profile_chosen = Signal(object)  # DeviceProfile
    edit_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Device", parent)
        form = QFormLayout(self)
        self._combo = QComboBox()
        self._combo.setToolTip("Device profiles from the profiles/ folder")
        self._combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self._combo.setMinimumContentsLength(16)
        form.addRow("Profile", self._combo)
        self._figures = QLabel()
        self._figures.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow(self._figures)
        self._edit = QPushButton("Edit a copy…")
        self._edit.setToolTip("Change the figures and save them as a new profile file")
        self._edit.clicked.connect(self.edit_requested)
        form.addRow(self._edit)
        self._entries: list[ProfileEntry] = []
        self._updating = False
        self._combo.currentIndexChanged.connect(self._on_combo_currentIndexChanged)
        self.reload()

    def reload(self, select: str | None = None) -> None:
        """Re-read the profile folder (after saving a new profile), keeping or setting the selection."""
        current = select or self._combo.currentData()
        self._updating = True
        self._combo.clear()
        self._entries = list(list_profiles())
        model = self._combo.model()
        assert isinstance(model, QStandardItemModel)
        for row, entry in enumerate(self._entries):
            label = entry.key if entry.profile is None else f"{entry.key} — {entry.profile.name}"
            self._combo.addItem(label, entry.key)
            if entry.profile is None:
                item = model.item(row)
                item.setEnabled(False)
                item.setToolTip(f"Unusable: {entry.error}")
            else:
                model.item(row).setToolTip(str(entry.path))
        index = self._combo.findData(current)
        self._combo.setCurrentIndex(max(index, 0))
        self._updating = False

    def show_profile(self, profile: DeviceProfile) -> None:
        self._updating = True
        index = self._combo.findData(profile.key)
        if index >= 0:
            self._combo.setCurrentIndex(index)
        self._updating = False
        rows = "".join(f"<tr><td>{k}</td><td align='right'>{v}</td></tr>" for k, v in profile_figures(profile))
        self._figures.setText(f"<table cellspacing='2'>{rows}</table>")

    @Slot(int)
    def _on_combo_currentIndexChanged(self, index: int) -> None:
        if self._updating or not 0 <= index < len(self._entries):
            return
        entry = self._entries[index]
        if entry.profile is not None:
            self.profile_chosen.emit(entry.profile)
