"""Model choice: a zoo model with its parameters, or a graph file; and the model's key figures."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QComboBox, QFormLayout, QGroupBox, QLabel, QPushButton, QSpinBox, QWidget

from poet_gui.core.device.units import format_bytes, format_energy, format_seconds
from poet_gui.core.model.zoo import ModelInfo, list_models
from poet_gui.samples import sample_models
from poet_gui.ui.plan_figures import unbroken
from poet_gui.ui.state import Session

_SAMPLE = "sample:"  # combo data prefix of the shipped ONNX samples (the rest is the file path)
_PARAM_LABELS = {"batch_size": "Batch size", "resolution": "Resolution (px)", "seq_len": "Sequence length"}
_PARAM_TIPS = {
    "batch_size": "Samples per training step",
    "resolution": "Input image side in pixels (H = W)",
    "seq_len": "Tokens per sequence",
}


class ModelPanel(QGroupBox):
    """Emits :attr:`zoo_chosen` when the zoo model or a parameter changes; shows the model's facts."""

    zoo_chosen = Signal(str, object)  # name, tuple of (parameter, value)
    onnx_chosen = Signal(str)  # path of a shipped sample ONNX model
    open_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Model", parent)
        self._models: dict[str, ModelInfo] = {m.name: m for m in list_models()}
        form = QFormLayout(self)
        self._form = form
        self._combo = QComboBox()
        self._combo.setToolTip("A built-in model (the eight models of the POET paper) or a shipped ONNX sample")
        for info in self._models.values():
            self._combo.addItem(info.name, info.name)
            self._combo.setItemData(self._combo.count() - 1, info.description, Qt.ItemDataRole.ToolTipRole)
        self._combo.insertSeparator(self._combo.count())
        for stem, path in sample_models():
            self._combo.addItem(f"sample: {stem} (ONNX)", f"{_SAMPLE}{path}")
            self._combo.setItemData(
                self._combo.count() - 1, f"Shipped ONNX model {path.name}", Qt.ItemDataRole.ToolTipRole
            )
        self._file_label = QLabel()
        self._file_label.setVisible(False)
        form.addRow("Model", self._combo)
        form.addRow(self._file_label)
        self._spins: dict[str, QSpinBox] = {}
        for name, label in _PARAM_LABELS.items():
            spin = QSpinBox()
            spin.setRange(1, 4096)
            spin.setToolTip(_PARAM_TIPS[name])
            spin.setKeyboardTracking(False)
            spin.valueChanged.connect(self._on_param_valueChanged)
            self._spins[name] = spin
            form.addRow(label, spin)
        self._open = QPushButton("Open a model file…")
        self._open.setToolTip("Plan an ONNX model or a reference JSON graph (File ▸ Open, or drop a file)")
        self._open.clicked.connect(self.open_requested)
        form.addRow(self._open)
        self._facts = QLabel()
        self._facts.setWordWrap(True)
        self._facts.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._facts.setToolTip("Figures of the plain schedule (each node once, every tensor kept until last use)")
        form.addRow(self._facts)
        self._combo.currentIndexChanged.connect(self._on_combo_currentIndexChanged)
        self._updating = False

    def show_session(self, session: Session) -> None:
        """Reflect the session without emitting signals back."""
        self._updating = True
        try:
            src = session.model
            is_file = src.graph_path is not None
            sample = self._combo.findData(f"{_SAMPLE}{src.graph_path}") if is_file else -1
            dims = ", ".join(f"{k} = {v}" for k, v in src.dims)
            self._file_label.setVisible(is_file and (sample < 0 or bool(dims)))
            self._file_label.setText(f"File: <b>{src.label}</b>" + (f" · {dims}" if dims else ""))
            if sample >= 0:
                self._combo.setCurrentIndex(sample)
            elif not is_file:
                self._combo.setCurrentIndex(self._combo.findData(src.zoo_name))
            info = self._models.get(src.zoo_name or "")
            params = dict(src.params)
            for name, spin in self._spins.items():
                # Only the parameters of the zoo model on show: a greyed box would show a stale value.
                applies = not is_file and info is not None and name in info.parameters
                self._form.setRowVisible(spin, applies)
                if applies and info is not None:
                    spin.setValue(params.get(name, info.defaults[name]))
            ref, g = session.reference, session.graph
            u = unbroken
            self._facts.setText(
                f"<b>{len(g)}</b> nodes ({g.forward_count} forward), "
                f"<b>{g.total_params:,.0f}</b> parameters ({u(format_bytes(ref.param_bytes))})<br>"
                f"Plain pass on {session.profile.key}: {u(format_energy(ref.plain_energy_j))}, "
                f"{u(format_seconds(ref.plain_runtime_s))}, "
                f"peak RAM <b>{u(format_bytes(ref.plain_peak_ram_bytes))}</b><br>"
                f"Least RAM any plan needs: <b>{u(format_bytes(ref.min_ram_bytes))}</b>"
            )
        finally:
            self._updating = False

    def _emit(self) -> None:
        name = self._combo.currentData()
        if self._updating or name not in self._models:
            return
        info = self._models[name]
        params = tuple(
            (p, self._spins[p].value()) for p in info.parameters if self._spins[p].value() != info.defaults[p]
        )
        self.zoo_chosen.emit(name, params)

    @Slot(int)
    def _on_combo_currentIndexChanged(self, _index: int) -> None:
        if self._updating:
            return
        data = str(self._combo.currentData())
        if data.startswith(_SAMPLE):
            self.onnx_chosen.emit(data.removeprefix(_SAMPLE))
            return
        info = self._models[data]
        self._updating = True
        for p, spin in self._spins.items():
            if p in info.parameters:
                spin.setValue(info.defaults[p])
        self._updating = False
        self._emit()

    @Slot(int)
    def _on_param_valueChanged(self, _value: int) -> None:
        self._emit()
