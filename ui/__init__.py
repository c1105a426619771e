"""PySide6 front end: renders engine state (``app``) and sends user intents back; no inference or SQL here."""
