"""Collector numbers as printed on cards, parsed from OCR text (pure functions, no OCR engine here).

Printed forms: ``025/165`` (Scarlet & Violet), ``5/108`` (XY), ``GG10/GG70`` and ``TG05/TG30``
(subsets), ``SWSH123`` / ``SVP 045`` (black-star promos). The set code printed beside the number on
modern cards (``MEW``, ``TEF``) is read when legible.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

#: Letters OCR confuses with digits inside the numeric part of a collector number.
_DIGIT_LOOKALIKES = str.maketrans(
    {
        "O": "0",
        "o": "0",
        "D": "0",
        "Q": "0",
        "I": "1",
        "l": "1",
        "|": "1",
        "i": "1",
        "S": "5",
        "s": "5",
        "B": "8",
        "Z": "2",
        "z": "2",
    }
)
# No left anchor: OCR often glues the set code's box onto the number ("MEW025/165", "8025/165").
_FRACTION = re.compile(r"([A-Z]{0,2}?)\s?([0-9OoDQIlSsBZz|]{1,3})\s?/\s?([A-Z]{0,3})\s?([0-9OoDQIlSsBZz|]{1,3})")
_PROMO = re.compile(r"\b(SWSH|SVP|SMP?|XYP?|BWP?)\s?-?\s?([0-9OoIlSB]{1,3})\b")
_SET_CODE = re.compile(r"\b([A-Z][A-Z0-9]{1,3})\s?(EN|DE|FR|IT|ES|PT)\b")


@dataclass(frozen=True)
class CollectorNumber:
    """A number as printed; ``key`` is the normalised form compared with catalogue metadata."""

    number: str
    printed_total: str | None = None

    @property
    def key(self) -> str:
        return normalise_number(self.number)


def _digits(text: str) -> str:
    return text.translate(_DIGIT_LOOKALIKES)


def normalise_number(number: str) -> str:
    """``TG05`` → ``TG5``, ``025`` → ``25``, ``SWSH020`` → ``SWSH20``: compare without zero padding."""
    match = re.fullmatch(r"([A-Za-z]*)0*([0-9]+)([A-Za-z]*)", number.strip())
    if not match:
        return number.strip().upper()
    prefix, digits, suffix = match.groups()
    return f"{prefix.upper()}{int(digits)}{suffix.upper()}"


def parse_collector_number(text: str) -> CollectorNumber | None:
    """The collector number in one OCR line, or None. Tolerates OCR's O/0, l/1, S/5 confusions."""
    compact = text.replace(" ", "") if "/" in text else text
    for match in _FRACTION.finditer(compact):
        prefix, number, total_prefix, total = match.groups()
        number, total = _digits(number), _digits(total)
        if not (number.isdigit() and total.isdigit()):
            continue
        if prefix and total_prefix and prefix != total_prefix:
            continue
        if prefix and not total_prefix:
            prefix = ""  # letters glued on from the set code ("EN012/162"), not a subset prefix
        return CollectorNumber(f"{prefix}{number}", f"{total_prefix}{total}")
    promo = _PROMO.search(text)
    if promo:
        digits = _digits(promo.group(2))
        if digits.isdigit():
            return CollectorNumber(f"{promo.group(1)}{digits}")
    return None


def parse_set_code(text: str) -> str | None:
    """The set code printed before the language (``MEW EN`` → ``MEW``), or None."""
    match = _SET_CODE.search(text.replace("\u00a0", " "))
    return match.group(1) if match else None


def metadata_number(meta: Mapping[str, object]) -> CollectorNumber | None:
    """The collector number of a catalogue card from its bundle metadata."""
    number = meta.get("number")
    if not number:
        return None
    total = meta.get("printed_total")
    return CollectorNumber(str(number), str(total) if total not in (None, "") else None)


def numbers_agree(read: CollectorNumber, catalogue: CollectorNumber) -> bool:
    """Same number, and the same printed total when both are known (a secret rare's 180/162 ≠ 180/198)."""
    if read.key != catalogue.key:
        return False
    if read.printed_total and catalogue.printed_total:
        return normalise_number(read.printed_total) == normalise_number(catalogue.printed_total)
    return True


def printed_in_text(catalogue: CollectorNumber, text: str) -> bool:
    """Whether an OCR line shows this card's number even where the parser could not split it: OCR
    often reads the slash as ``7``, ``1`` or ``l``, or drops it ("0257165", "058102"). Only used to
    confirm one of a few close candidates, never to find a number from nothing."""
    digits = _digits(re.sub(r"[^0-9A-Za-z|/]", "", text)).upper()
    number = normalise_number(catalogue.number)
    prefix = re.match(r"[A-Z]*", number)
    head = prefix.group(0) if prefix else ""
    tail = number[len(head) :]
    # Zero padding ("025") may follow glued-on junk; an unpadded number must start a run of digits,
    # so that 125/165 does not pass for 25/165.
    pattern = f"{re.escape(head)}(?:(?<![0-9])0*|0+){re.escape(tail)}"
    if catalogue.printed_total:
        total = normalise_number(catalogue.printed_total)
        total_head = re.match(r"[A-Z]*", total)
        total_prefix = total_head.group(0) if total_head else ""
        pattern += f"[/71LI|]?{re.escape(total_prefix)}0*{re.escape(total[len(total_prefix) :])}(?![0-9])"
    else:
        pattern += "(?![0-9])"
    return re.search(pattern, digits) is not None
