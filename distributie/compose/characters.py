"""Invisible and confusable characters: which they are, how a problem names them, and the form
of a name that duplicate detection compares.

A cell can hold characters a reader does not see: `Baar\u200bn` looks like `Baarn`, and a
right-to-left override shows the reader text in another order than the one that was checked.
These are the characters meant (README, "The recipient list"):

- every format character (Unicode category Cf): the soft hyphen, the zero-width space,
  non-joiner, joiner and no-break space (the byte order mark), the word joiner and the invisible
  operators, every bidi control (LRM, RLM, ALM, the embeddings, overrides and isolates),
  the Mongolian vowel separator, the interlinear annotation marks and the tag characters;
- the characters that render as nothing although they are letters or marks: the Hangul fillers,
  the combining grapheme joiner, the Khmer inherent vowels and the variation selectors;
- the non-characters (U+FDD0-U+FDEF and the last two code points of every plane), which are no
  text at all.

The list is written out (a regular expression is much faster than asking unicodedata for every
character of a 40,000-row list); tests/compose/test_characters.py checks it against unicodedata.
"""

from __future__ import annotations

import re
import unicodedata

# Unicode category Cf (format characters), as of Unicode 15.
FORMAT_CHARACTERS = (
    "\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f"
)
# Letters and marks that show nothing.
BLANK_CHARACTERS = "\u034f\u115f\u1160\u17b4\u17b5\u3164\uffa0\ufe00-\ufe0f\U000e0100-\U000e01ef"
NON_CHARACTERS = "\ufdd0-\ufdef" + "".join(
    f"{chr(plane * 0x10000 + 0xFFFE)}{chr(plane * 0x10000 + 0xFFFF)}" for plane in range(17)
)
INVISIBLE = re.compile(f"[{FORMAT_CHARACTERS}{BLANK_CHARACTERS}{NON_CHARACTERS}]")

BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


def is_non_character(char: str) -> bool:
    code = ord(char)
    return 0xFDD0 <= code <= 0xFDEF or code & 0xFFFE == 0xFFFE


def describe(char: str) -> str:
    """What a problem calls the character: 'an invisible character (U+200B ZERO WIDTH SPACE)'."""
    code = f"U+{ord(char):04X}"
    if is_non_character(char):
        return f"a non-character ({code}), which is no text at all"
    name = unicodedata.name(char, "")
    named = f"{code} {name}" if name else code
    if char in BIDI_CONTROLS:
        return f"a character that changes the direction of the text ({named})"
    if char == "\u00ad":
        return f"a soft hyphen ({named}), invisible unless a line breaks there"
    return f"an invisible character ({named})"


def find_invisible(value: str) -> str | None:
    """The first invisible or confusable character in `value`, or None."""
    match = INVISIBLE.search(value)
    return match.group() if match else None


def without_invisible(value: str) -> str:
    return INVISIBLE.sub("", value)


def comparable(name: str) -> str:
    """The form in which two names are the same when a reader cannot tell them apart:
    invisible characters removed, NFKC (full-width letters, ligatures, no-break spaces become
    their plain forms), case folded."""
    return unicodedata.normalize("NFKC", without_invisible(name)).casefold()
