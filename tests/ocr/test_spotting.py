from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from app.ocr.number import CollectorNumber
from app.ocr.spotting import keyword_fit, log_probs_from, number_fit, printed_forms

# A small recogniser alphabet: column 0 is CTC's blank.
CHARS = "0123456789/MEW "
ALPHABET = {c: i + 1 for i, c in enumerate(CHARS)}


def line(*steps: dict[str, float] | str) -> np.ndarray:
    """Per-step log-probabilities: a step is a character read with 0.98, a {char: p} of several
    choices, or "" for a blank. Whatever a step leaves over goes to the blank."""
    rows = []
    for step in steps:
        probs = np.full(len(CHARS) + 1, 1e-4)
        choices = {step: 0.98} if isinstance(step, str) and step else (step or {})
        for char, p in choices.items():  # type: ignore[union-attr]
            probs[ALPHABET[char]] = p
        probs[0] = max(1e-4, 1.0 - sum(choices.values()))
        rows.append(probs / probs.sum())
    return log_probs_from(np.array(rows, np.float32))


def spaced(text: str) -> list[str]:
    """Characters with a blank between them, the way CTC reads a clean line."""
    return [s for c in text for s in (c, "")]


def fit(lines: list[np.ndarray], number: str, total: str | None) -> float:
    return number_fit(lines, CollectorNumber(number, total), ALPHABET)


def test_printed_forms_pad_to_the_totals_width_and_keep_the_unpadded_form() -> None:
    assert printed_forms(CollectorNumber("25", "165")) == ["025/165", "25/165"]
    assert printed_forms(CollectorNumber("TG5", "TG30")) == ["TG05/TG30", "TG5/TG30"]
    assert printed_forms(CollectorNumber("180", "162")) == ["180/162"]


def test_the_number_the_greedy_reading_shows_fits_perfectly_whatever_text_is_around_it() -> None:
    read = line(*spaced("MEW 025/165 "))
    assert fit([read], "25", "165") == pytest.approx(0.0, abs=1e-4)
    assert fit([read], "58", "102") < -20


def test_a_digit_the_recogniser_was_unsure_of_costs_only_its_odds() -> None:
    unsure = line(*spaced("05"), {"6": 0.6, "8": 0.35}, "", *spaced("/102"))
    assert fit([unsure], "56", "102") == pytest.approx(0.0, abs=1e-4)
    assert fit([unsure], "58", "102") == pytest.approx(math.log(0.35 / 0.6), abs=0.01)


def test_a_digit_read_with_confidence_rules_the_other_number_out() -> None:
    sure = line(*spaced("056/102"))
    assert fit([sure], "58", "102") < -5


def test_an_unpadded_number_does_not_fit_inside_a_longer_one() -> None:
    """'3/162' is a substring of '073/162', but the printed number there is 73."""
    read = line(*spaced("073/162"))
    assert fit([read], "73", "162") == pytest.approx(0.0, abs=1e-4)
    assert fit([read], "3", "162") < -5
    # Printed without padding, and after a letter: fine.
    assert fit([line(*spaced("W 3/162"))], "3", "162") == pytest.approx(0.0, abs=1e-4)


def test_two_equal_characters_need_a_blank_between_them() -> None:
    merged = line("1", "1", "", *spaced("/102"))  # CTC reads this as "1/102"
    assert fit([merged], "11", "102") < fit([merged], "1", "102") - 3


def test_the_best_line_counts_and_too_short_a_line_cannot_hold_the_number() -> None:
    short = line("0", "")
    assert keyword_fit(short, [ALPHABET[c] for c in "058/102"]) == float("-inf")
    assert fit([short, line(*spaced("058/102"))], "58", "102") == pytest.approx(0.0, abs=1e-4)
    assert fit([], "58", "102") == float("-inf")


def test_the_real_recogniser_fits_a_scans_own_number_and_not_another(catalog_dir: Path) -> None:
    from app.ocr.reader import NumberReader, strip_from_card_image
    from models.sim.capture_sim import load_card_texture

    reader = NumberReader()
    card = load_card_texture(catalog_dir / "images" / "sv3pt5" / "sv3pt5-25.jpg")
    reading = reader.read_strip(strip_from_card_image(card), corners=("left",))
    lines = list(reading.line_log_probs)
    assert lines and "/" in reading.alphabet and lines[0].shape[1] > len(reading.alphabet) // 2
    own = number_fit(lines, CollectorNumber("25", "165"), reading.alphabet)
    assert own > -0.5
    assert number_fit(lines, CollectorNumber("58", "102"), reading.alphabet) < own - 10
    assert number_fit(lines, CollectorNumber("26", "165"), reading.alphabet) < own - 3


def test_the_alignment_search_finds_the_best_of_every_alignment() -> None:
    """Brute force on small lines: every segment of the line, every character sequence in it that CTC
    collapses to the label, the rest of the line at the greedy reading's cost."""
    import itertools

    rng = np.random.default_rng(3)
    for _ in range(20):
        steps, classes = 6, 4
        log_probs = np.log(rng.dirichlet(np.ones(classes) * 0.5, size=steps)).astype(np.float32)
        label = [int(c) for c in rng.integers(1, classes, size=int(rng.integers(1, 4)))]
        best = log_probs.max(axis=1)
        brute = float("-inf")
        for start in range(steps):
            for end in range(start + 1, steps + 1):
                for path in itertools.product(range(classes), repeat=end - start):
                    merged = [c for i, c in enumerate(path) if i == 0 or c != path[i - 1]]
                    if [c for c in merged if c != 0] != label:
                        continue
                    inside = sum(float(log_probs[start + i, c]) for i, c in enumerate(path))
                    outside = float(best[:start].sum() + best[end:].sum())
                    brute = max(brute, inside + outside - float(best.sum()))
        assert keyword_fit(log_probs, label) == pytest.approx(brute, abs=1e-4)
