"""Reads a list file as a secretariat exports it (CSV in any Excel encoding, or .xlsx) into rows of
cells, with the row numbers Excel shows; reading problems are collected, never raised."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from typing import Any

from distributie.errors import Problem

_CSV_DELIMITERS = (";", ",", "\t")
_CSV_UNDEFINED_CP1252 = "0x81, 0x8D, 0x8F, 0x90 and 0x9D"

# Both formats become a list of (row number as Excel shows it, raw cells).
Table = list[tuple[int, list[str]]]


def read_csv(file: str, data: bytes, problems: list[Problem]) -> Table:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        # Excel's "Unicode text" (UTF-16 with a byte order mark), often renamed to .csv.
        problems.append(
            Problem(
                file,
                "the file is UTF-16 (Excel's 'Unicode text'); "
                "save the list again as 'CSV UTF-8' or as .xlsx",
                row=1,
            )
        )
        return []
    nul = data.find(b"\x00")
    if nul >= 0:
        problems.append(
            Problem(
                file,
                f"the file contains a NUL byte at byte offset {nul}; is this really a CSV export?",
                row=_row_at_byte(data, nul),
            )
        )
        return []
    text = _decode(file, data, problems)
    if text is None:
        return []
    delimiter = _detect_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    table: Table = []
    row = 0
    try:
        for row, cells in enumerate(reader, start=1):
            table.append((row, cells))
    except csv.Error as exc:
        problems.append(Problem(file, _csv_error_reason(exc), row=row + 1))
    return table


def _decode(file: str, data: bytes, problems: list[Problem]) -> str | None:
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data[3:].decode("utf-8")
        except UnicodeDecodeError as exc:
            offset = exc.start + 3
            problems.append(
                Problem(
                    file,
                    f"the file starts as UTF-8 but byte 0x{data[offset]:02X} at byte offset "
                    f"{offset} is not valid UTF-8",
                    row=_row_at_byte(data, offset),
                )
            )
            return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        utf8_offset = exc.start
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError as exc:
        offset = exc.start
    reason = (
        f"the file is neither UTF-8 nor Windows-1252: byte 0x{data[offset]:02X} at byte offset "
        f"{offset} is undefined in Windows-1252 ({_CSV_UNDEFINED_CP1252} are)"
    )
    if utf8_offset != offset:
        reason += f", and byte offset {utf8_offset} is not valid UTF-8"
    reason += "; save the list again as 'CSV UTF-8' or as .xlsx"
    problems.append(Problem(file, reason, row=_row_at_byte(data, offset)))
    return None


def _detect_delimiter(text: str) -> str:
    first_line = re.split(r"[\r\n]", text, maxsplit=1)[0]
    unquoted = re.sub(r'"[^"]*"', "", first_line)
    counts = {d: unquoted.count(d) for d in _CSV_DELIMITERS}
    best = max(_CSV_DELIMITERS, key=lambda d: counts[d])  # ties: the first, ";" (Dutch Excel)
    return best if counts[best] else ","


def _row_at_byte(data: bytes, offset: int) -> int:
    """The CSV record (= Excel row) that byte `offset` falls in; quoted newlines count right."""
    # latin-1 maps every byte to one character, and CSV structure is ASCII in all our encodings.
    text = data[:offset].decode("latin-1")
    # A sentinel character makes the reader count the record the offset falls in, even when the
    # offset is at the very start of a record.
    reader = csv.reader(io.StringIO(text + "x", newline=""), delimiter=_detect_delimiter(text))
    try:
        return sum(1 for _ in reader)
    except csv.Error:
        return text.count("\n") + 1


def _csv_error_reason(exc: csv.Error) -> str:
    message = str(exc)
    if "unexpected end of data" in message:
        return 'a quoted cell starting in this row is never closed (a closing " is missing)'
    if "expected after" in message:
        return 'a " inside a quoted cell must be doubled (""); the CSV cannot be read from here'
    return f"the CSV cannot be read from here: {message}"


def read_xlsx(file: str, data: bytes, problems: list[Problem]) -> Table:
    import openpyxl  # slow to import; CSV users need not pay for it

    table: Table = []
    # openpyxl raises a zoo of exception types (BadZipFile, KeyError, ValueError, XML errors)
    # for damaged files; all mean the same to the user.
    try:
        # Read twice: the values Excel calculated and saved, and the formulas, to tell a formula
        # without a saved value (a blank where data was meant) from a cell that is empty.
        values = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        formulas = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)
        try:
            if not values.worksheets:
                problems.append(Problem(file, "the workbook has no worksheet"))
                return []
            table = _read_sheet(file, values.worksheets[0], formulas.worksheets[0], problems)
        finally:
            values.close()
            formulas.close()
    except Exception as exc:
        problems.append(
            Problem(
                file,
                f"this is not a readable .xlsx workbook ({type(exc).__name__}: {exc}); "
                "open it in Excel and save it again",
            )
        )
        return []
    return table


def _read_sheet(file: str, values: Any, formulas: Any, problems: list[Problem]) -> Table:
    """The rows of a sheet as text; a formula without a calculated value is a problem."""
    from openpyxl.utils import get_column_letter

    table: Table = []
    for sheet in (values, formulas):
        sheet.reset_dimensions()  # stored dimensions are often wrong in exported files
    rows = zip(values.iter_rows(min_row=1), formulas.iter_rows(min_row=1), strict=True)
    for row, (cells, formula_cells) in enumerate(rows, start=1):
        for column, (cell, formula) in enumerate(zip(cells, formula_cells, strict=True)):
            # A string result (t="str") may be empty; any other formula cell saved without a
            # value was never calculated (openpyxl and some exporters write formulas only).
            if formula.data_type == "f" and cell.value is None and cell.data_type != "str":
                problems.append(
                    Problem(
                        file,
                        f"sheet {values.title!r}, cell {get_column_letter(column + 1)}{row}: "
                        f"the formula {formula.value} has no calculated value in the file (the "
                        "program that saved it did not calculate it); open the file in Excel "
                        "and save it again, or type the value instead of the formula",
                        row=row,
                    )
                )
        table.append((row, [_cell_text(c.value) for c in cells]))
    return table


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        if value.time() == dt.time():
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)
