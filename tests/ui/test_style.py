"""The style sheet keeps text readable everywhere, the file pickers included (they are Qt's own)."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QAbstractItemView, QApplication, QFileDialog, QToolButton
from pytestqt.qtbot import QtBot

from ui.app import create_application


def contrast(a: QColor, b: QColor) -> float:
    """WCAG contrast ratio of two colours (1 to 21)."""

    def luminance(c: QColor) -> float:
        def channel(v: float) -> float:
            return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

        return 0.2126 * channel(c.redF()) + 0.7152 * channel(c.greenF()) + 0.0722 * channel(c.blueF())

    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_file_picker_lists_and_toolbar_are_readable(qtbot: QtBot, tmp_path) -> None:  # type: ignore[no-untyped-def]
    create_application()
    (tmp_path / "clip.mp4").write_bytes(b"")
    dialog = QFileDialog(None, "Video file", str(tmp_path))
    dialog.setOption(QFileDialog.Option.DontUseNativeDialog)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    QApplication.processEvents()
    views = [v for v in dialog.findChildren(QAbstractItemView) if v.isVisible()]
    assert views
    for view in views:
        palette = view.palette()
        text, base = palette.color(QPalette.ColorRole.Text), palette.color(QPalette.ColorRole.Base)
        assert contrast(text, base) >= 4.5, (view.objectName(), text.name(), base.name())
    # Qt draws the picker's toolbar icons dark: their buttons need a light ground.
    buttons = [b for b in dialog.findChildren(QToolButton) if b.isVisible() and b.isEnabled() and not b.icon().isNull()]
    assert buttons
    for button in buttons:
        ground = button.palette().color(QPalette.ColorRole.Button)
        assert ground.lightness() > 150, (button.objectName(), ground.name())
    dialog.close()
