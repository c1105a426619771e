"""A small copy of the shared catalogue, in the same pokemontcg.io layout, for fast tests."""

from __future__ import annotations

import json
import shutil
from pathlib import Path


def small_catalog(src: Path, dst: Path, per_set: int = 4, sets: tuple[str, ...] = ("sv3pt5", "xy12")) -> Path:
    """A copy of a few cards of the shared catalogue, in the same layout."""
    dst.mkdir(parents=True, exist_ok=True)
    all_sets = json.loads((src / "sets.json").read_text())
    (dst / "sets.json").write_text(json.dumps([s for s in all_sets if s["id"] in sets]))
    (dst / "cards").mkdir(exist_ok=True)
    for set_id in sets:
        cards = json.loads((src / "cards" / f"{set_id}.json").read_text())[:per_set]
        (dst / "cards" / f"{set_id}.json").write_text(json.dumps(cards, ensure_ascii=False))
        (dst / "images" / set_id).mkdir(parents=True, exist_ok=True)
        for card in cards:
            shutil.copy(src / "images" / set_id / f"{card['id']}.jpg", dst / "images" / set_id / f"{card['id']}.jpg")
    return dst
