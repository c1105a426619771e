"""Settings: camera source, resolution, backend, thresholds, auto-add vs confirm, sounds — saved to
the config file (``app.config.save_settings``). Everything but the recogniser applies at once."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QWidget,
)

from app.camera.opencv_device import list_devices
from app.config import ConfigError, Settings, save_settings

logger = logging.getLogger(__name__)

RESOLUTIONS = ((640, 480), (1280, 720), (1920, 1080))
BACKENDS = {"Automatic (Hailo when present, else CPU)": ["hailo", "onnx"], "CPU (ONNX Runtime)": ["onnx"]}


def source_choices() -> list[tuple[str, str]]:
    """(label, spec) of the sources to pick from: automatic, each attached camera, the Pi camera, the demo."""
    choices = [("Automatic (best camera, else the demo clip)", "auto")]
    choices += [(f"Camera {index}: {name}", str(index)) for index, name in list_devices()]
    choices += [("Raspberry Pi camera (Picamera2)", "picamera2"), ("Demo clip", "demo")]
    return choices


def resolution_key(width: int, height: int) -> str:
    """Combo data as text: Qt compares it reliably (a Python tuple it does not, and fell back to the first)."""
    return f"{width}x{height}"


class SettingsDialog(QDialog):
    def __init__(self, settings: Settings, parent: QWidget | None = None, config_path: Path | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setObjectName("settingsDialog")
        self.settings = settings
        self.config_path = config_path
        self.saved_to: Path | None = None

        self.source = QComboBox()
        self.source.setEditable(True)
        for label, spec in source_choices():
            self.source.addItem(label, spec)
        self._select(self.source, settings.camera.source)
        file_button = QPushButton("Video file…")
        file_button.clicked.connect(self._pick_file)
        folder_button = QPushButton("Image folder…")
        folder_button.clicked.connect(self._pick_folder)
        source_row = QHBoxLayout()
        source_row.addWidget(self.source, 1)
        source_row.addWidget(file_button)
        source_row.addWidget(folder_button)

        self.resolution = QComboBox()
        self.resolution.setObjectName("resolution")
        sizes = list(RESOLUTIONS)
        if (settings.camera.width, settings.camera.height) not in sizes:
            sizes.append((settings.camera.width, settings.camera.height))  # a size set in the file stays
        for width, height in sizes:
            self.resolution.addItem(f"{width} × {height}", resolution_key(width, height))
        self._select(self.resolution, resolution_key(settings.camera.width, settings.camera.height))

        self.backend = QComboBox()
        for label, backends in BACKENDS.items():
            self.backend.addItem(label, backends)
        self._select(self.backend, list(settings.embed.backends))

        self.accept_at = self._spin(settings.match.accept_at)
        self.min_margin = self._spin(settings.match.min_margin)
        self.unknown_below = self._spin(settings.match.unknown_below)
        self.auto_add = QCheckBox("Add identified cards without confirming")
        self.auto_add.setChecked(settings.ui.auto_add)
        self.sounds = QCheckBox("Play a sound when a card is added")
        self.sounds.setChecked(settings.ui.sounds)

        form = QFormLayout(self)
        form.addRow("Camera", source_row)
        form.addRow("Resolution", self.resolution)
        form.addRow("Recogniser", self.backend)
        form.addRow("Identify at similarity ≥", self.accept_at)
        form.addRow("… and ahead of the next card by", self.min_margin)
        form.addRow("Not in catalogue below", self.unknown_below)
        form.addRow(self.auto_add)
        form.addRow(self.sounds)
        form.addRow(QLabel("Camera changes apply at once; a recogniser change on the next start."))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    @staticmethod
    def _spin(value: float) -> QDoubleSpinBox:
        spin = QDoubleSpinBox()
        spin.setRange(0.0, 1.0)
        spin.setSingleStep(0.01)
        spin.setDecimals(3)
        spin.setValue(value)
        return spin

    @staticmethod
    def _select(combo: QComboBox, value: object) -> None:
        index = combo.findData(value)
        if index < 0 and isinstance(value, str):
            combo.addItem(value, value)
            index = combo.count() - 1
        combo.setCurrentIndex(max(index, 0))

    def _pick_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Video file", "", "Videos (*.mp4 *.mov *.avi *.mkv)")
        if path:
            self._select(self.source, path)

    def _pick_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Image folder")
        if path:
            self._select(self.source, path)

    def apply(self) -> None:
        s = self.settings
        data = self.source.currentData()
        s.camera.source = str(data if data is not None else self.source.currentText())
        width, height = str(self.resolution.currentData()).split("x")
        s.camera.width, s.camera.height = int(width), int(height)
        s.embed.backends = list(self.backend.currentData())
        s.match.accept_at = self.accept_at.value()
        s.match.min_margin = self.min_margin.value()
        s.match.unknown_below = min(self.unknown_below.value(), s.match.accept_at)
        s.ui.auto_add = self.auto_add.isChecked()
        s.ui.sounds = self.sounds.isChecked()

    def save(self) -> None:
        self.apply()
        try:
            self.saved_to = save_settings(self.settings, self.config_path)
        except (OSError, ConfigError) as error:
            # The settings stay in effect for this run; the dialog stays open to try elsewhere/again.
            QMessageBox.warning(self, "Settings not saved", f"Cannot write the settings file: {error}")
            return
        self.accept()
