"""Read a recipient list (CSV or .xlsx) the way a secretariat exports it from Excel.

Every row is validated and every problem is reported at once; a list with any problem is rejected.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from email_validator import EmailNotValidError, validate_email

from distributie.errors import InputError, Problem

# These columns end up in e-mail headers (To, Subject, attachment names): a CR or LF in them
# would let a cell inject headers, so they get no control characters at all.
HEADER_BOUND_COLUMNS = frozenset(
    {"gemeente", "email", "aanhef", "titel", "voorletters", "tussenvoegsel", "achternaam"}
)
ALWAYS_REQUIRED = ("gemeente", "email")

_AANHEF = {
    "heer": "heer",
    "de heer": "heer",
    "dhr": "heer",
    "dhr.": "heer",
    "de hr.": "heer",
    "de hr": "heer",
    "mevrouw": "mevrouw",
    "mevr": "mevrouw",
    "mevr.": "mevrouw",
    "mw.": "mevrouw",
    "mw": "mevrouw",
}
_AANHEF_ALLOWED = "heer (also 'de heer', 'dhr.', 'de hr.'), mevrouw (also 'mevr.', 'mw.') or empty"

# Category Cc is exactly U+0000-U+001F and U+007F-U+009F; a regex is much faster than
# unicodedata.category() per character on a 40,000-row list.
_HEADER_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_BODY_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")
_CHAR_NAMES = {
    "\r": "carriage return",
    "\n": "line feed",
    "\t": "tab",
    "\u2028": "a line separator",
    "\u2029": "a paragraph separator",
}

_WHITESPACE = re.compile(r"\s+")
_NOT_KEY = re.compile(r"[^a-z0-9]+")
_CSV_DELIMITERS = (";", ",", "\t")
_CSV_UNDEFINED_CP1252 = "0x81, 0x8D, 0x8F, 0x90 and 0x9D"


@dataclass(frozen=True)
class Recipient:
    """One row of the list: a gemeente and the burgemeester's address."""

    row: int  # as Excel shows it: the header is row 1
    gemeente: str
    email: str  # normalised ASCII address (IDN domain as punycode)
    fields: dict[str, str] = field(hash=False)  # every column, raw (stripped) values
    key: str  # recipient_key(gemeente)

    def context(self) -> dict[str, object]:
        """What templates see: every column, plus the derived forms of address."""
        get = self.fields.get
        aanhef = normalise_aanhef(get("aanhef", "")) or ""
        tussenvoegsel = get("tussenvoegsel", "")
        achternaam = get("achternaam", "")
        if achternaam and tussenvoegsel:
            # After "heer"/"mevrouw" the tussenvoegsel is capitalised: "heer Van der Berg".
            achternaam_volledig = f"{tussenvoegsel[:1].upper()}{tussenvoegsel[1:]} {achternaam}"
        else:
            achternaam_volledig = achternaam
        if aanhef and achternaam_volledig:
            aanspreking = f"{aanhef} {achternaam_volledig}"
        else:
            aanspreking = "burgemeester"
        naam_parts = (get("titel", ""), get("voorletters", ""), tussenvoegsel, achternaam)
        punten = [p.strip() for p in get("consultatiepunten", "").split("|")]
        return {
            **self.fields,
            "aanhef": aanhef,
            "achternaam_volledig": achternaam_volledig,
            "aanspreking": aanspreking,
            "naam": " ".join(p for p in naam_parts if p),
            "punten": [p for p in punten if p],
        }


@dataclass(frozen=True)
class RecipientList:
    path: Path
    sha256: str  # of the file's bytes
    columns: list[str] = field(hash=False)  # normalised header names, in file order
    recipients: list[Recipient] = field(hash=False)


def recipient_key(gemeente: str) -> str:
    """A stable ASCII slug, safe as a file name: "Súdwest/Fryslân" -> "sudwest-fryslan"."""
    decomposed = unicodedata.normalize("NFKD", gemeente)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    # casefold, not lower: "ß" becomes "ss" instead of a dash.
    return _NOT_KEY.sub("-", stripped.casefold()).strip("-")


def normalise_header(name: str) -> str:
    return _WHITESPACE.sub("_", name.strip().lower())


def normalise_aanhef(value: str) -> str | None:
    """Return "heer", "mevrouw", "" for an empty value, or None for an unknown aanhef."""
    cleaned = _WHITESPACE.sub(" ", value.strip().lower())
    if not cleaned:
        return ""
    return _AANHEF.get(cleaned)


def read_recipients(path: Path, required_columns: Sequence[str] = ALWAYS_REQUIRED) -> RecipientList:
    """Read and validate a list; raise InputError listing every problem.

    gemeente and email are always required, whatever required_columns says.
    """
    file = str(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise InputError(
            [
                Problem(
                    file,
                    f"unsupported file type {path.suffix or '(none)'!r}; "
                    "save the list as .xlsx or as CSV (.csv)",
                )
            ]
        )
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError([Problem(file, "the file does not exist")]) from None
    except IsADirectoryError:
        raise InputError([Problem(file, "this is a folder, not a file")]) from None
    except OSError as exc:
        raise InputError([Problem(file, f"the file cannot be read: {exc.strerror}")]) from None

    problems: list[Problem] = []
    table = (
        _read_csv(file, data, problems) if suffix == ".csv" else _read_xlsx(file, data, problems)
    )
    columns, recipients = _validate(file, table, required_columns, problems)
    if problems:
        raise InputError(problems)
    return RecipientList(
        path=path,
        sha256=hashlib.sha256(data).hexdigest(),
        columns=columns,
        recipients=recipients,
    )


# --- reading: both formats become a list of (row number, raw cells) --------------------------

Table = list[tuple[int, list[str]]]


def _read_csv(file: str, data: bytes, problems: list[Problem]) -> Table:
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


def _read_xlsx(file: str, data: bytes, problems: list[Problem]) -> Table:
    import openpyxl  # slow to import; CSV users need not pay for it

    table: Table = []
    # openpyxl raises a zoo of exception types (BadZipFile, KeyError, ValueError, XML errors)
    # for damaged files; all mean the same to the user.
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            if not workbook.worksheets:
                problems.append(Problem(file, "the workbook has no worksheet"))
                return []
            sheet = workbook.worksheets[0]
            sheet.reset_dimensions()  # stored dimensions are often wrong in exported files
            for row, values in enumerate(sheet.iter_rows(min_row=1, values_only=True), start=1):
                table.append((row, [_cell_text(v) for v in values]))
        finally:
            workbook.close()
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


# --- validation ---------------------------------------------------------------------------------


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters


def _validate(
    file: str, table: Table, required_columns: Sequence[str], problems: list[Problem]
) -> tuple[list[str], list[Recipient]]:
    if not table:
        if not problems:
            problems.append(Problem(file, "the file is empty"))
        return [], []
    header_row, raw_header = table[0]
    data_rows = [(row, [c.strip() for c in cells]) for row, cells in table[1:]]
    data_rows = [(row, cells) for row, cells in data_rows if any(cells)]
    width = max([len(raw_header), *(len(cells) for _, cells in data_rows)])
    names = [normalise_header(c) for c in raw_header] + [""] * (width - len(raw_header))

    if not any(names):
        problems.append(Problem(file, "the first row (the header) is empty", row=header_row))
        return [], []

    columns: list[str] = []
    positions: dict[str, int] = {}
    for index, name in enumerate(names):
        if not name:
            used_by = next((row for row, cells in data_rows if _cell(cells, index)), None)
            if used_by is not None:
                problems.append(
                    Problem(
                        file,
                        f"column {_column_letter(index)} has no name in the header, "
                        f"but row {used_by} has data in it",
                        row=header_row,
                        column=_column_letter(index),
                    )
                )
            continue
        if name in positions:
            problems.append(
                Problem(
                    file,
                    f"column {name!r} appears twice in the header (columns "
                    f"{_column_letter(positions[name])} and {_column_letter(index)})",
                    row=header_row,
                    column=name,
                )
            )
            continue
        positions[name] = index
        columns.append(name)

    required = dict.fromkeys(normalise_header(c) for c in (*ALWAYS_REQUIRED, *required_columns))
    for name in required:
        if name not in positions:
            problems.append(
                Problem(
                    file,
                    f"required column {name!r} is missing; the header has: "
                    + (", ".join(columns) or "(no names)"),
                    row=header_row,
                    column=name,
                )
            )

    recipients: list[Recipient] = []
    seen_gemeente: dict[str, int] = {}
    seen_key: dict[str, tuple[int, str]] = {}
    seen_email: dict[str, int] = {}
    for row, cells in data_rows:
        fields = {name: _cell(cells, index) for name, index in positions.items()}
        found: list[tuple[str, str]] = []  # (column, reason)
        for name, value in fields.items():
            reason = _check_characters(name, value)
            if reason:
                found.append((name, reason))

        gemeente = fields.get("gemeente", "")
        key = recipient_key(gemeente)
        if "gemeente" in fields:
            reason = _check_gemeente(gemeente, key, row, seen_gemeente, seen_key)
            if reason:
                found.append(("gemeente", reason))

        email = ""
        if "email" in fields:
            email, reason = _check_email(fields["email"])
            folded = email.casefold()
            if email and folded in seen_email:
                reason = f"the address already appears in row {seen_email[folded]}"
            elif email:
                seen_email[folded] = row
            if reason:
                found.append(("email", reason))

        if "aanhef" in fields and normalise_aanhef(fields["aanhef"]) is None:
            found.append(("aanhef", f"unknown aanhef; allowed are {_AANHEF_ALLOWED}"))

        if found:
            problems.extend(
                Problem(file, reason, row=row, column=column, value=fields[column])
                for column, reason in found
            )
        else:
            recipients.append(
                Recipient(row=row, gemeente=gemeente, email=email, fields=fields, key=key)
            )
    return columns, recipients


def _cell(cells: list[str], index: int) -> str:
    return cells[index] if index < len(cells) else ""


def _check_characters(column: str, value: str) -> str | None:
    header_bound = column in HEADER_BOUND_COLUMNS
    match = (_HEADER_FORBIDDEN if header_bound else _BODY_FORBIDDEN).search(value)
    if not match:
        return None
    char = match.group()
    description = _CHAR_NAMES.get(char, "a control character")
    why = (
        "this column ends up in e-mail headers, where it could inject headers"
        if header_bound
        else "control characters cannot be part of a text"
    )
    return f"contains {description} (U+{ord(char):04X}); {why}"


def _check_gemeente(
    gemeente: str,
    key: str,
    row: int,
    seen_gemeente: dict[str, int],
    seen_key: dict[str, tuple[int, str]],
) -> str | None:
    """Why this gemeente is not usable, or None; remembers it for later rows when it is."""
    if not gemeente:
        return "gemeente is empty"
    if not key:
        return "gemeente has no letters or digits to make a file name from"
    folded = gemeente.casefold()
    if folded in seen_gemeente:
        return f"gemeente {gemeente!r} already appears in row {seen_gemeente[folded]}"
    if key in seen_key:
        earlier, other = seen_key[key]
        return (
            f"gemeente {gemeente!r} gets the same file name {key!r} as {other!r} in row {earlier}"
        )
    seen_gemeente[folded] = row
    seen_key[key] = (row, gemeente)
    return None


def _check_email(value: str) -> tuple[str, str | None]:
    """The normalised ASCII address and None, or "" and why the address is not usable."""
    if not value:
        return "", "email is empty"
    local, at, _domain = value.rpartition("@")
    if at and not local.isascii():
        return "", (
            "the part before the @ contains non-ASCII characters; most mail servers cannot "
            "deliver to such an address"
        )
    try:
        result = validate_email(value, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        return "", f"not a valid e-mail address: {exc}"
    return str(result.ascii_email), None
