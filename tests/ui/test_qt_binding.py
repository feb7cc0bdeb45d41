"""Guards against Qt-binding bugs that the app has met: they abort the interpreter, not a test."""

import sys

from PySide6.QtCore import QObject, Signal


class _Emitter(QObject):
    sent = Signal(object)


def test_emitting_python_objects_keeps_refcounts(qtbot):
    """PySide6 6.12.0 on Python 3.11 dropped one reference to True per emit; after a few thousand
    signals the interpreter died with "bool_dealloc". pyproject.toml excludes that release."""
    emitter = _Emitter()
    received: list[object] = []
    emitter.sent.connect(received.append)
    before_true, before_none = sys.getrefcount(True), sys.getrefcount(None)
    for value in (None, True, (), "x") * 50:
        emitter.sent.emit(value)
    del received[:]
    assert sys.getrefcount(True) >= before_true
    assert sys.getrefcount(None) >= before_none
