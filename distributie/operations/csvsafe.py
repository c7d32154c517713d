"""Write CSV that is safe to open in a spreadsheet: cells that would run as a formula are
neutralised with a leading apostrophe."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from typing import TextIO

# Excel and LibreOffice evaluate a cell starting with any of these (tab and CR because some
# importers strip them and then see the character behind them).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: str) -> str:
    """The value with a leading "'" when a spreadsheet would run it as a formula."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def write_csv(stream: TextIO, header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """Write header and rows as comma-separated CSV, every cell (header too) neutralised.

    None becomes an empty cell; other values are written as str(value).
    """
    writer = csv.writer(stream, delimiter=",", quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow([neutralise(str(name)) for name in header])
    for row in rows:
        writer.writerow(["" if cell is None else neutralise(str(cell)) for cell in row])
