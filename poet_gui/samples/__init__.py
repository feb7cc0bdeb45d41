"""Small ONNX models shipped with the app, for its model menu and for trying the CLI's ``--onnx``.

``scripts/make_sample_models.py`` writes them; regenerate them with it rather than editing the files.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["sample_models"]

_DIR = Path(__file__).resolve().parent
#: Menu order: the smallest model first.  ``tiny_transformer`` has symbolic ``batch`` and ``seq``.
_NAMES = ("mlp", "small_cnn", "resnet_cifar", "tiny_transformer")


def sample_models() -> tuple[tuple[str, Path], ...]:
    """``(name, path)`` of every shipped sample that is present, in menu order; the name is the file stem."""
    return tuple((name, _DIR / f"{name}.onnx") for name in _NAMES if (_DIR / f"{name}.onnx").is_file())
