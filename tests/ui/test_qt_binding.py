"""Guards against Qt binding builds that corrupt reference counts (PySide6 6.12.0 on Python 3.11
drops one reference to None per void call; a GUI session then aborts after ~100k calls)."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QLabel

from ui.app import create_application


class Emitter(QObject):
    value = Signal(object)


def test_void_calls_and_signals_keep_none_and_bools_alive() -> None:
    create_application()
    label = QLabel()
    emitter = Emitter()
    emitter.value.connect(lambda _v: None)
    before = (sys.getrefcount(None), sys.getrefcount(True), sys.getrefcount(False))
    for _ in range(2000):
        label.setVisible(False)
        emitter.value.emit(True)
        emitter.value.emit(None)
    after = (sys.getrefcount(None), sys.getrefcount(True), sys.getrefcount(False))
    assert all(a - b > -50 for a, b in zip(after, before, strict=True)), (before, after)
