from __future__ import annotations

import csv
import io

import pytest

from distributie.operations.csvsafe import neutralise, write_csv


@pytest.mark.parametrize(
    "value",
    ["=SUM(A1:A2)", "+31 30 123 4567", "-5", "@gemeente", "\t=1+1", "\r=1+1"],
)
def test_neutralise_prefixes_formula_like_cells_with_an_apostrophe(value: str) -> None:
    assert neutralise(value) == "'" + value


@pytest.mark.parametrize("value", ["Baarn", "", " =niet aan het begin", "a=b", "'al veilig"])
def test_neutralise_leaves_ordinary_cells_alone(value: str) -> None:
    assert neutralise(value) == value


def test_write_csv_neutralises_every_cell_including_the_header() -> None:
    stream = io.StringIO()

    write_csv(stream, ["gemeente", "=kolom"], [['=HYPERLINK("x")', "@Baarn"], ["Bunnik", "-1"]])

    rows = list(csv.reader(io.StringIO(stream.getvalue())))
    assert rows == [
        ["gemeente", "'=kolom"],
        ['\'=HYPERLINK("x")', "'@Baarn"],
        ["Bunnik", "'-1"],
    ]


def test_write_csv_uses_commas_and_quotes_cells_that_need_it() -> None:
    stream = io.StringIO()

    write_csv(stream, ["gemeente", "opmerking"], [["Baarn", 'een, "twee"\ndrie']])

    assert stream.getvalue() == 'gemeente,opmerking\r\nBaarn,"een, ""twee""\ndrie"\r\n'


def test_write_csv_writes_non_text_values_as_text_and_none_as_empty() -> None:
    stream = io.StringIO()

    write_csv(stream, ["a", "b", "c"], [[3, None, 2.5]])

    assert stream.getvalue().splitlines()[1] == "3,,2.5"
