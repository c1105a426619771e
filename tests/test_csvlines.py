"""The line-numbered CSV reader that collection import and price CSVs share."""

from __future__ import annotations

import pytest

from app.csvlines import CsvProblem, csv_records, decode_csv


def test_records_know_the_line_they_start_on_across_blank_lines_and_quoted_newlines() -> None:
    text = 'a,b\r\n\r\n1,"two\r\nlines"\r\n3,4\r\n'
    assert csv_records(text) == [(1, ["a", "b"]), (3, ["1", "two\r\nlines"]), (5, ["3", "4"])]


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ('a,b\r\n1,2\r\n3,"never closed\r\n4,5\r\n', 3, "a quote is never closed"),
        ('a,b\r\n1,"x"y\r\n', 2, "malformed CSV"),
        ("a,b\r\n1,2\r\n3,\x004\r\n", 3, "a NUL character"),
    ],
)
def test_a_problem_names_its_line(text: str, line: int, reason: str) -> None:
    with pytest.raises(CsvProblem, match=reason) as caught:
        csv_records(text)
    assert caught.value.line == line and str(caught.value).startswith(f"line {line}: ")


def test_text_is_utf8_with_the_byte_order_mark_dropped_and_a_bad_byte_named_by_line() -> None:
    assert decode_csv("\ufeffname\r\nFlabébé\r\n".encode()) == "name\r\nFlabébé\r\n"
    with pytest.raises(CsvProblem, match=r"^line 2: not UTF-8 text \(byte 0xe9\)"):
        decode_csv(b"name\r\nCaf\xe9\r\n")
