"""cardsight engine: camera sources, card finder, embedding, matching and the collection.

This package never imports Qt; everything the GUI does can be done headless from ``cardsight``.
"""

from pathlib import Path

__version__ = "0.1.0"

#: Repository root when running from a checkout (assets/, models/, reference/ live here).
PROJECT_ROOT = Path(__file__).resolve().parent.parent
