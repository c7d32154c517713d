"""Test mailings and recipients: the folders under tests/testdata/mailings/ and helpers."""

from __future__ import annotations

import shutil
from pathlib import Path

from distributie.compose.recipients import Recipient, recipient_key

MAILINGS = Path(__file__).resolve().parent.parent / "testdata" / "mailings"
MINIMAL = MAILINGS / "minimal"
LISTS = MAILINGS / "lists"


def copy_mailing(tmp_path: Path, name: str = "minimal") -> Path:
    """A private copy of a test mailing (with its own recipient list) to change in a test."""
    target = tmp_path / name
    shutil.copytree(MAILINGS / name, target)
    return target


def replace_in(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def recipient(gemeente: str = "Baarn", row: int = 2, **fields: str) -> Recipient:
    """A recipient as read_recipients would make it (no validation: tests build edge cases)."""
    email = fields.setdefault("email", f"burgemeester@{recipient_key(gemeente) or 'x'}.example")
    all_fields = {
        "gemeente": gemeente,
        "aanhef": "",
        "titel": "",
        "voorletters": "",
        "tussenvoegsel": "",
        "achternaam": "",
        "consultatiepunten": "",
        **fields,
    }
    return Recipient(
        row=row, gemeente=gemeente, email=email, fields=all_fields, key=recipient_key(gemeente)
    )
