"""The invisible and confusable characters of compose/characters.py."""

from __future__ import annotations

import sys
import unicodedata

import pytest

from distributie.compose.characters import (
    INVISIBLE,
    comparable,
    describe,
    find_invisible,
    without_invisible,
)


def test_every_format_character_of_this_python_is_invisible() -> None:
    format_characters = [
        chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf"
    ]

    missing = [f"U+{ord(c):04X}" for c in format_characters if not INVISIBLE.match(c)]

    assert missing == []


def test_nothing_visible_is_taken_for_invisible() -> None:
    # Only format characters, non-characters (unassigned) and the listed blank letters/marks.
    allowed = {"Cf", "Cn", "Mn", "Lo"}

    wrong = [
        f"U+{c:04X}"
        for c in range(sys.maxunicode + 1)
        if INVISIBLE.match(chr(c)) and unicodedata.category(chr(c)) not in allowed
    ]

    assert wrong == []
    assert find_invisible("Súdwest-Fryslân, ’s-Hertogenbosch, Ĳsselstein – é ß") is None


@pytest.mark.parametrize(
    ("char", "description"),
    [
        ("\u200b", "an invisible character (U+200B ZERO WIDTH SPACE)"),
        ("\u202e", "a character that changes the direction of the text (U+202E RIGHT-TO-LEFT"),
        ("\u00ad", "a soft hyphen (U+00AD SOFT HYPHEN)"),
        ("\ufdd0", "a non-character (U+FDD0)"),
        ("\U0010ffff", "a non-character (U+10FFFF)"),
        ("\u3164", "an invisible character (U+3164 HANGUL FILLER)"),
    ],
)
def test_each_kind_is_named_with_its_code_point(char: str, description: str) -> None:
    assert find_invisible(f"Baa{char}rn") == char
    assert describe(char).startswith(description)


def test_names_compare_as_a_reader_sees_them() -> None:
    assert comparable("Baar\u200bn") == comparable("Baarn")
    assert comparable("\uff22\uff41\uff41\uff52\uff4e") == comparable("BAARN")
    assert comparable("De\u00a0Bilt") == comparable("de bilt")
    assert comparable("Pro\u00adefstra\u202e") == "proefstra"
    assert comparable("Baarn") != comparable("Barn")
    assert without_invisible("a\u2066b\u2069c") == "abc"
