"""Reading a CSV file a user gave (a collection import, a price list) as records that know their line,
so every refusal can name the line to look at."""

from __future__ import annotations

import csv
import io
import logging

logger = logging.getLogger(__name__)


class CsvProblem(ValueError):
    """The bytes are not a readable CSV; ``line`` is where the problem starts (1-based)."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


def decode_csv(raw: bytes) -> str:
    """UTF-8 text (a byte-order mark dropped), or a :class:`CsvProblem` naming the first bad byte's line."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise CsvProblem(line, f"not UTF-8 text (byte 0x{raw[error.start]:02x}); save the file as CSV UTF-8") from error


def csv_records(text: str) -> list[tuple[int, list[str]]]:
    """The non-blank records, each with the line it starts on (a quoted cell may span lines).

    A NUL character is refused: no spreadsheet writes one, and the shop server cannot store it."""
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise CsvProblem(line, "a NUL character (the file is binary or damaged, not CSV text)")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    records: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for cells in reader:
            if cells:
                records.append((start, cells))
            start = reader.line_num + 1
    except csv.Error as error:
        if "unexpected end of data" in str(error):
            raise CsvProblem(
                start, "malformed CSV: a quote is never closed (the quoted cell runs to the end of the file)"
            ) from error
        raise CsvProblem(reader.line_num, f"malformed CSV ({error})") from error
    return records
