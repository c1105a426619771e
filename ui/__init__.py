"""PySide6 GUI: renders engine state from ``app`` and sends user intents back (the GUI issue)."""
