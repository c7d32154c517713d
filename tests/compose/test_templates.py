"""The template environments' own filters: wordwrap wraps exactly as textwrap (Jinja2's) does."""

from __future__ import annotations

import random
import textwrap

import pytest

from distributie.compose.templates import _wrap_paragraph

# Every kind of character the fast path must either handle as textwrap does or leave to it:
# single and double spaces, other ASCII and Unicode whitespace, hyphens and dashes.
ALPHABET = ["a", "b", "é", "ij", " ", " ", " ", "  ", "\t", "\u00a0", "\u2009", "-", "--", "."]


def textwrap_reference(
    line: str, width: int, break_long_words: bool, break_on_hyphens: bool
) -> tuple[str, ...]:
    return tuple(
        textwrap.wrap(
            line,
            width=width,
            expand_tabs=False,
            replace_whitespace=False,
            break_long_words=break_long_words,
            break_on_hyphens=break_on_hyphens,
        )
    )


def random_paragraph(rng: random.Random) -> str:
    words = []
    for _ in range(rng.randint(0, 14)):
        length = rng.choice([1, 2, 3, 5, 8, 13])
        words.append("".join(rng.choice(ALPHABET[:4]) for _ in range(length)))
        words.append(rng.choice(ALPHABET[4:]) if rng.random() < 0.3 else " ")
    return "".join(words)[: rng.randint(0, 120)]


@pytest.mark.parametrize("break_long_words", [True, False])
@pytest.mark.parametrize("break_on_hyphens", [True, False])
def test_a_paragraph_wraps_as_textwrap_wraps_it(
    break_long_words: bool, break_on_hyphens: bool
) -> None:
    rng = random.Random(f"{break_long_words}-{break_on_hyphens}")
    for _ in range(3000):
        line, width = random_paragraph(rng), rng.randint(1, 30)
        expected = textwrap_reference(line, width, break_long_words, break_on_hyphens)
        assert _wrap_paragraph(line, width, break_long_words, break_on_hyphens) == expected, (
            line,
            width,
        )


@pytest.mark.parametrize(
    ("line", "width"),
    [
        ("een twee drie", 8),  # a word ends exactly at the width
        ("een twee drie", 7),
        ("kort heellangwoordzonderspaties kort", 10),  # a long word alone on its line
        ("heellangwoordzonderspaties kort", 10),
        ("één twee", 3),
        ("a", 1),
    ],
)
def test_single_spaced_words_wrap_as_textwrap_wraps_them(line: str, width: int) -> None:
    for break_long_words in (True, False):
        expected = textwrap_reference(line, width, break_long_words, False)
        assert _wrap_paragraph(line, width, break_long_words, False) == expected


def test_a_width_below_one_is_refused_as_textwrap_refuses_it() -> None:
    with pytest.raises(ValueError, match="invalid width"):
        _wrap_paragraph("een twee", 0, True, True)
