"""Read a recipient list (CSV or .xlsx) the way a secretariat exports it from Excel.

Every row is validated and every problem is reported at once; a list with any problem is rejected.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from distributie.compose.addresses import AddressError, normalise_address
from distributie.compose.characters import comparable, describe, find_invisible
from distributie.compose.salutation import AANHEF_ALLOWED, forms_of_address, normalise_aanhef
from distributie.compose.spreadsheet import Table, read_csv, read_xlsx
from distributie.errors import InputError, Problem

# These columns end up in e-mail headers (To, Subject, attachment names): a CR or LF in them
# would let a cell inject headers, so they get no control characters at all.
HEADER_BOUND_COLUMNS = frozenset(
    {"gemeente", "email", "aanhef", "titel", "voorletters", "tussenvoegsel", "achternaam"}
)
ALWAYS_REQUIRED = ("gemeente", "email")

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

_INVISIBLE_IN_HEADER = (
    "contains {}; this column ends up in e-mail headers, the gemeente or a file name, where "
    "the reader would see something other than what was checked"
)
_INVISIBLE_IN_TEXT = "contains {}; it stays in the letter as it is: check that it belongs there"

_WHITESPACE = re.compile(r"\s+")
_NOT_KEY = re.compile(r"[^a-z0-9]+")


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
        return {**self.fields, **forms_of_address(self.fields)}


@dataclass(frozen=True)
class RecipientList:
    path: Path
    sha256: str  # of the file's bytes
    columns: list[str] = field(hash=False)  # normalised header names, in file order
    recipients: list[Recipient] = field(hash=False)
    # Accepted, but worth a look: invisible characters in columns that stay in the letter.
    warnings: list[Problem] = field(default_factory=list, hash=False)


def recipient_key(gemeente: str) -> str:
    """A stable ASCII slug, safe as a file name: "Súdwest/Fryslân" -> "sudwest-fryslan"."""
    decomposed = unicodedata.normalize("NFKD", gemeente)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    # casefold, not lower: "ß" becomes "ss" instead of a dash.
    return _NOT_KEY.sub("-", stripped.casefold()).strip("-")


def normalise_header(name: str) -> str:
    return _WHITESPACE.sub("_", name.strip().lower())


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
    warnings: list[Problem] = []
    table = read_csv(file, data, problems) if suffix == ".csv" else read_xlsx(file, data, problems)
    columns, recipients = _validate(file, table, required_columns, problems, warnings)
    if problems:
        raise InputError(problems)
    return RecipientList(
        path=path,
        sha256=hashlib.sha256(data).hexdigest(),
        columns=columns,
        recipients=recipients,
        warnings=warnings,
    )


# --- validation ---------------------------------------------------------------------------------


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters


DataRows = list[tuple[int, list[str]]]


def _validate(
    file: str,
    table: Table,
    required_columns: Sequence[str],
    problems: list[Problem],
    warnings: list[Problem],
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
    positions = _header(file, header_row, names, data_rows, problems)
    columns = list(positions)
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
    rows = _RowChecker()
    recipients: list[Recipient] = []
    for row, cells in data_rows:
        fields = {name: _cell(cells, index) for name, index in positions.items()}
        found, recipient = rows.check(row, fields)
        problems.extend(
            Problem(file, reason, row=row, column=column, value=fields[column])
            for column, reason in found
        )
        if recipient is not None:
            recipients.append(recipient)
    warnings.extend(
        Problem(file, reason, row=row, column=column, value=value)
        for row, column, value, reason in rows.warnings
    )
    return columns, recipients


def _header(
    file: str, header_row: int, names: list[str], data_rows: DataRows, problems: list[Problem]
) -> dict[str, int]:
    """The position of every named column; nameless columns with data and doubles are problems."""
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
        elif name in positions:
            problems.append(
                Problem(
                    file,
                    f"column {name!r} appears twice in the header (columns "
                    f"{_column_letter(positions[name])} and {_column_letter(index)})",
                    row=header_row,
                    column=name,
                )
            )
        else:
            positions[name] = index
    return positions


class _RowChecker:
    """Checks one row after another; remembers what earlier rows used, to find duplicates."""

    def __init__(self) -> None:
        self.seen_gemeente: dict[str, int] = {}
        self.seen_key: dict[str, tuple[int, str]] = {}
        self.seen_email: dict[str, int] = {}
        self.warnings: list[tuple[int, str, str, str]] = []  # row, column, value, reason

    def check(
        self, row: int, fields: dict[str, str]
    ) -> tuple[list[tuple[str, str]], Recipient | None]:
        """Every (column, reason) wrong with this row, and its Recipient when nothing is."""
        found: list[tuple[str, str]] = []
        for name, value in fields.items():
            reason = _check_characters(name, value)
            if reason:
                found.append((name, reason))
            elif invisible := find_invisible(value):
                if name in HEADER_BOUND_COLUMNS:
                    found.append((name, _INVISIBLE_IN_HEADER.format(describe(invisible))))
                else:
                    reason = _INVISIBLE_IN_TEXT.format(describe(invisible))
                    self.warnings.append((row, name, value, reason))

        gemeente = fields.get("gemeente", "")
        key = recipient_key(gemeente)
        if "gemeente" in fields:
            reason = _check_gemeente(gemeente, key, row, self.seen_gemeente, self.seen_key)
            if reason:
                found.append(("gemeente", reason))

        email = ""
        if "email" in fields:
            email, reason = self._email(row, fields["email"])
            if reason:
                found.append(("email", reason))

        if "aanhef" in fields and normalise_aanhef(fields["aanhef"]) is None:
            found.append(("aanhef", f"unknown aanhef; allowed are {AANHEF_ALLOWED}"))
        if found:
            return found, None
        return found, Recipient(row=row, gemeente=gemeente, email=email, fields=fields, key=key)

    def _email(self, row: int, value: str) -> tuple[str, str | None]:
        email, reason = _check_email(value)
        folded = email.casefold()
        if email and folded in self.seen_email:
            reason = f"the address already appears in row {self.seen_email[folded]}"
        elif email:
            self.seen_email[folded] = row
        return email, reason


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
    # As a reader sees it: Baar\u200bn, ＢＡＡＲＮ and Baarn are one gemeente.
    folded = comparable(gemeente)
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
    try:
        return normalise_address(value), None
    except AddressError as exc:
        return "", str(exc)
