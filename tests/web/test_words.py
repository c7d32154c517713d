"""The words of the web page: every state and outcome has its Dutch name, and every problem a
list can have is said in Dutch (the core says it in English, for the CLI)."""

from __future__ import annotations

from pathlib import Path

from distributie import states
from distributie.errors import InputError, Problem
from distributie.operations import mailings
from distributie.operations.mailings import BUNDLED_MAILING
from distributie.settings import Settings
from distributie.web import words
from distributie.web.problems import shown

HOSTILE_LISTS = sorted(
    (Path(__file__).resolve().parents[1] / "hostile" / "recipients").glob("*.csv")
)


def test_every_state_and_outcome_has_its_dutch_words() -> None:
    assert set(words.STATE_WORDS) == set(states.ALL_STATES)
    assert set(words.STATE_MEANINGS) == set(states.ALL_STATES)
    assert set(words.FILTER_ORDER) == set(states.ALL_STATES)
    assert set(words.OUTCOME_WORDS) == set(states.ALL_OUTCOMES)


def test_the_states_are_the_words_the_secretariat_uses() -> None:
    assert [words.state_word(s) for s in states.ALL_STATES] == [
        "in de wachtrij",
        "wordt verzonden",
        "opnieuw proberen",
        "verzonden",
        "mislukt",
        "onbekend",
        "geannuleerd",
        "onbestelbaar",
    ]


def test_a_state_without_words_shows_its_key_rather_than_nothing() -> None:
    assert words.state_word("delivered-elsewhere") == "delivered-elsewhere"


def test_every_problem_of_the_hostile_lists_is_said_in_dutch() -> None:
    problems: list[Problem] = []
    for path in HOSTILE_LISTS:
        try:
            mailings.check(Settings(_env_file=None), BUNDLED_MAILING, path)  # type: ignore[call-arg]
        except InputError as exc:
            problems += exc.problems

    english = [p.reason for p in problems if shown(p).english]

    assert len(problems) >= 30
    assert english == []


def test_a_problem_without_dutch_words_keeps_its_english_and_says_so() -> None:
    problem = Problem("lijst.csv", "something nobody foresaw", row=3, column="email", value="x")

    found = shown(problem)

    assert found.english
    assert (found.row, found.column, found.value, found.reason) == (
        3,
        "email",
        "x",
        "something nobody foresaw",
    )
