"""The run's own state as the pages say it: a status sentence for every run state, the facts of
its approval, schedule and release, and how often a page that follows it asks for news."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from distributie import states
from distributie.web import words
from distributie.web.run_state import HELD_POLL_SECONDS, POLL_SECONDS, Clock, duration, shown_run

ZONE = ZoneInfo("Europe/Amsterdam")
NOW = datetime(2026, 12, 7, 8, 59, 30, tzinfo=ZONE).timestamp()
NINE = datetime(2026, 12, 7, 9, 0, tzinfo=ZONE).timestamp()
CLOCK = Clock(ZONE, NOW)
WAITING = {states.QUEUED: 39}


def run(**fields: object) -> dict[str, str]:
    return {"created_by": "anna", **{k: str(v) for k, v in fields.items()}}


@pytest.mark.parametrize(
    ("info", "counts", "sentence"),
    [
        (run(state="awaiting_approval", approval_required=1), WAITING,
         "Wacht op goedkeuring door iemand anders dan anna. Er is nog niets verzonden."),
        (run(state="scheduled", release_at=NINE), WAITING,
         "Gepland voor maandag 7 december 2026 om 09:00. Er is nog niets verzonden."),
        (run(state="active"), {states.SENT: 12, states.QUEUED: 27},
         "Bezig: 12 van 39 ontvangers verwerkt."),
        (run(state="paused", paused_by="bram", paused_at=NOW - 60), {states.SENT: 12,
         states.QUEUED: 27}, "Gepauzeerd door bram om 08:58: 12 van 39 ontvangers verwerkt."),
        (run(state="active"), {states.SENT: 39}, "Klaar: alle 39 ontvangers zijn verwerkt."),
        (run(state="finished", rejected_by="bram"), {states.CANCELLED: 39},
         "Klaar: alle 39 ontvangers zijn verwerkt. De verzending is afgewezen door bram."),
    ],
)  # fmt: skip
def test_every_run_state_has_its_status_sentence(
    info: dict[str, str], counts: dict[str, int], sentence: str
) -> None:
    assert shown_run(info, counts, CLOCK).sentence == sentence


def test_the_sentences_cover_every_run_state() -> None:
    seen = {
        shown_run(run(state=state, release_at=NINE), WAITING, CLOCK).state
        for state in states.ALL_RUN_STATES
    } | {shown_run(run(), {states.SENT: 1}, CLOCK).state}
    assert seen == set(states.ALL_RUN_STATES)
    assert set(words.RUN_STATE_WORDS) == set(states.ALL_RUN_STATES)


def test_a_scheduled_run_past_its_time_says_it_begins_or_waits_for_a_worker() -> None:
    info = run(state="scheduled", release_at=NOW - 5)
    overdue = run(state="scheduled", release_at=NOW - 600)

    assert shown_run(info, WAITING, CLOCK).sentence.endswith("De verzending begint nu.")
    assert "zodra een verzendproces van distributie draait" in (
        shown_run(overdue, WAITING, CLOCK).sentence
    )


def test_a_run_awaiting_approval_past_its_time_begins_once_approved() -> None:
    info = run(state="awaiting_approval", release_at=NOW - 60, approval_required=1)

    assert shown_run(info, WAITING, CLOCK).sentence.endswith(
        "Hij was gepland voor maandag 7 december 2026 om 08:58:30; hij begint zodra hij is "
        "goedgekeurd."
    )


def test_a_released_run_says_who_approved_it_and_when_and_how_late_it_began() -> None:
    info = run(
        state="active", approval_required=1, approved_by="bram", approved_at=NINE - 3600,
        release_at=NINE - 600, released_at=NINE - 596, release_delay=4,
    )  # fmt: skip

    facts = dict(shown_run(info, {states.QUEUED: 1}, CLOCK).facts)

    assert facts == {
        "Goedkeuring": "goedgekeurd door bram om 08:00",
        "Gepland voor": "maandag 7 december 2026 om 08:50",
        "Begonnen": "07-12-2026 08:50:04, 4 seconden na de geplande tijd",
    }


def test_a_test_run_is_a_proefzending() -> None:
    assert shown_run(run(kind="test"), WAITING, CLOCK).test
    assert not shown_run(run(), WAITING, CLOCK).test


@pytest.mark.parametrize(
    ("info", "counts", "seconds"),
    [
        (run(state="active"), WAITING, POLL_SECONDS),
        (run(state="paused"), WAITING, HELD_POLL_SECONDS),
        (run(state="paused"), {states.SENDING: 1, states.QUEUED: 38}, POLL_SECONDS),
        (run(state="awaiting_approval"), WAITING, HELD_POLL_SECONDS),
        (run(state="scheduled", release_at=NOW + 3600), WAITING, HELD_POLL_SECONDS),
        (run(state="scheduled", release_at=NOW + 6), WAITING, 7),
        (run(state="scheduled", release_at=NOW - 1), WAITING, POLL_SECONDS),
    ],
)
def test_a_waiting_run_is_asked_for_news_slowly_but_in_time_for_its_start(
    info: dict[str, str], counts: dict[str, int], seconds: int
) -> None:
    assert shown_run(info, counts, CLOCK).poll_seconds == seconds


def test_delays_are_said_in_words() -> None:
    assert [duration(s) for s in (1, 4, 60, 150, 3600, 3660, 7500)] == [
        "1 seconde",
        "4 seconden",
        "1 minuut",
        "2 minuten",
        "1 uur",
        "1 uur en 1 minuut",
        "2 uur en 5 minuten",
    ]
