"""The headers build_message writes itself, for speed, are byte for byte what the email package's
policy writes: the archive rebuilds messages from these bytes, and receivers read them."""

from __future__ import annotations

import email.utils

import pytest

from distributie.compose.message import _address, _disposition, _fold, _to_header

NAMES = [
    "Jan Jansen",
    "drs. J. van der Berg",
    "Mevr. O'Brien",
    'A "B" C',
    "back\\slash",
    "comma, name",
    "(haakjes) <hoek> [blok]",
    "Özdemir",
    "=?utf-8?q?x?=",
    *("x" * n for n in (50, 57, 58, 59, 60, 70, 80)),
]


@pytest.mark.parametrize("name", NAMES)
def test_to_is_written_as_the_policy_writes_it(name: str) -> None:
    assert _to_header(name, "burgemeester@gemeente.example") == _fold(
        "To", _address(name, "burgemeester@gemeente.example")
    )


FILENAMES = [
    "Voorbeeld-aanbiedingsbrief gemeente Soest.docx",
    "Voorbeeld-aanbiedingsbrief gemeente Wijk bij Duurstede.docx",
    'brief "met" aanhalingstekens.docx',
    *("b" * n + ".docx" for n in range(20, 90, 3)),
]


@pytest.mark.parametrize("filename", FILENAMES)
def test_content_disposition_is_written_as_the_policy_writes_it(filename: str) -> None:
    parameter = f'filename="{email.utils.quote(filename)}"'

    assert _disposition(parameter) == _fold("Content-Disposition", f"attachment; {parameter}")
