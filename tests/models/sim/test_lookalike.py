from __future__ import annotations

from pathlib import Path

import numpy as np

from app.ocr.reader import NumberReader, strip_from_card_image
from models.sim.lookalike import renumber_card


def print_extent(card: np.ndarray, box: tuple[int, int, int, int]) -> tuple[int, int, int, int, float]:
    """Where the dark print inside ``box`` (x0, y0, x1, y1) is: first and last column and row with
    ink, and its total ink; the background is judged from the box's top and bottom rows."""
    x0, y0, x1, y1 = box
    grey = card[y0:y1, x0:x1].astype(np.float32).max(axis=2)  # brightest channel: yellow is bright, ink is not
    background = float(np.median(np.concatenate([grey[0], grey[-1]])))
    ink = np.clip((background - grey) / max(background - float(grey.min()), 1.0), 0.0, 1.0)
    cols = np.nonzero(ink.max(axis=0) > 0.5)[0]
    rows = np.nonzero(ink.max(axis=1) > 0.5)[0]
    return int(cols[0]), int(cols[-1]), int(rows[0]), int(rows[-1]), float(ink.sum())


def test_a_renumbered_card_prints_the_new_number_as_large_and_as_bold_as_the_old(catalog_dir: Path) -> None:
    """A look-alike that is harder to read than a real print would make the number check look worse
    than it is (and easier to fool); one that is easier, better."""
    from models.sim.capture_sim import load_card_texture

    reader = NumberReader()
    card = load_card_texture(catalog_dir / "images" / "sv3pt5" / "sv3pt5-25.jpg")
    twin = renumber_card(card, "058/102", reader)
    reading = reader.read_strip(strip_from_card_image(twin), corners=("left",))
    assert reading.number is not None and (reading.number.number, reading.number.printed_total) == ("058", "102")
    box = (70, 579, 121, 598)  # around the printed 025/165 of this 440 × 614 scan (not the MEW box, not the dot)
    *old_extent, old_mass = print_extent(card, box)
    *new_extent, new_mass = print_extent(twin, box)
    assert np.abs(np.subtract(new_extent, old_extent)).max() <= 1  # same place, width and height
    assert 0.8 < new_mass / old_mass < 1.25  # about as bold
    # Only the number changed.
    changed = np.abs(twin.astype(int) - card.astype(int)).sum(axis=2) > 0
    ys, xs = np.nonzero(changed)
    assert box[0] - 3 <= xs.min() and xs.max() <= box[2] + 3 and box[1] - 3 <= ys.min() and ys.max() <= box[3] + 3
