"""Device choice: every profile in ``profiles/`` with its figures; edit a copy into a new profile."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import QComboBox, QFormLayout, QGroupBox, QLabel, QPushButton, QWidget

from poet_gui.core.device.profile_notes import profile_notes
from poet_gui.core.device.profiles import DeviceProfile, ProfileEntry, list_profiles
from poet_gui.core.device.units import format_bytes, format_seconds, format_si


def profile_figures(p: DeviceProfile) -> list[tuple[str, str]]:
    """Every figure of a profile with its unit, for display."""
    rows = [
        ("Compute rate", format_si(p.compute_flop_per_s, "FLOP/s")),
        ("Compute efficiency", format_si(p.compute_flop_per_j, "FLOP/J")),
        ("Bytes per element", f"{p.bytes_per_element} B"),
        ("Page-in", f"{format_seconds(p.pagein_latency_s)} + {format_si(p.pagein_bytes_per_s, 'B/s')}"),
        ("Page-out", f"{format_seconds(p.pageout_latency_s)} + {format_si(p.pageout_bytes_per_s, 'B/s')}"),
        ("Paging power", format_si(p.paging_power_w, "W")),
    ]
    if p.compute_power_w is not None:
        rows.append(("Compute power", format_si(p.compute_power_w, "W")))
    if p.ram_bytes is not None:
        rows.append(("Device RAM", format_bytes(p.ram_bytes)))
    return rows


def figures_help(p: DeviceProfile, notes: str) -> str:
    """The tooltip over the figures: how the energy model uses them, and the profile file's own notes
    on where they come from (a profile that reuses published reference figures says so there)."""
    implied_w = p.compute_flop_per_s / p.compute_flop_per_j
    text = (
        "Compute energy = FLOPs ÷ efficiency; compute time = FLOPs ÷ rate. Together they imply a compute "
        f"power of rate ÷ efficiency = {format_si(implied_w, 'W')}."
    )
    if p.compute_power_w is not None and abs(implied_w - p.compute_power_w) > 0.05 * p.compute_power_w:
        text += (
            f" 'Compute power' ({format_si(p.compute_power_w, 'W')}) is the board's measured draw, shown for "
            "reference only: the energy model does not use it, which is why the two can disagree."
        )
    text += " Paging costs latency + bytes ÷ bandwidth per transfer, at the paging power."
    return text if not notes else f"{text}\n\nFrom the profile file:\n{notes}"


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
        # The list shows whole names even where the closed combo must cut them to the panel's width.
        self._combo.view().setMinimumWidth(self._combo.view().sizeHintForColumn(0) + 24)
        self._updating = False

    def show_profile(self, profile: DeviceProfile) -> None:
        self._updating = True
        index = self._combo.findData(profile.key)
        if index >= 0:
            self._combo.setCurrentIndex(index)
        self._combo.setToolTip(f"{profile.key} — {profile.name}\nDevice profiles from the profiles/ folder")
        self._updating = False
        rows = "".join(f"<tr><td>{k}</td><td align='right'>{v}</td></tr>" for k, v in profile_figures(profile))
        self._figures.setText(f"<table cellspacing='2'>{rows}</table>")
        entry = next((e for e in self._entries if e.key == profile.key), None)
        self._figures.setToolTip(figures_help(profile, profile_notes(entry.path) if entry is not None else ""))

    @Slot(int)
    def _on_combo_currentIndexChanged(self, index: int) -> None:
        if self._updating or not 0 <= index < len(self._entries):
            return
        entry = self._entries[index]
        if entry.profile is not None:
            self.profile_chosen.emit(entry.profile)
