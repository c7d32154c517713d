"""A run's own state as the pages say it: the status sentence ("Bezig", "Klaar", "Gepauzeerd
door X om ...", "Wacht op goedkeuring door iemand anders dan X", "Gepland voor ..."), the facts
of its approval, schedule and release, and how often a page that follows it asks for news.

Everything is read from the run's hash (`RunView.info`) and its counts, so a page costs no
extra Redis read for it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from distributie import states
from distributie.operations.reports import RunControl
from distributie.web.context import web_context
from distributie.web.words import long_moment, run_state_word

POLL_SECONDS = 3  # a run that sends: the live page asks for news this often (README: speed)
# A run that waits (for approval, its time, or to be resumed) changes only when a person acts
# or a worker releases it: asking every 15 s keeps the page truthful at a fifth of the cost.
HELD_POLL_SECONDS = 15
# A worker looks for due runs every 5 s; until this long after its time a run is "starting".
RELEASE_GRACE_SECONDS = 30


@dataclass(frozen=True)
class RunShown:
    """What a page says about a run as a whole."""

    state: str  # the run state key (states.RUN_*): also the page's data-run-state hook
    word: str  # its Dutch word: gepland, wacht op goedkeuring, bezig, gepauzeerd, klaar
    test: bool  # a proefzending
    sentence: str  # the status line of the run page
    facts: list[tuple[str, str]]  # approval, schedule, release: (label, value)
    poll_seconds: int
    created_by: str


class Clock:
    """Times of one run as the pages write them, in DISTRIBUTIE_TIMEZONE."""

    def __init__(self, zone: ZoneInfo, now: float | None = None) -> None:
        self.zone = zone
        self.now = time.time() if now is None else now

    def at(self, timestamp: float) -> datetime:
        return datetime.fromtimestamp(timestamp, self.zone)

    def moment(self, timestamp: float | None) -> str:
        """ "om 14:03" today, "op 02-12-2026 om 14:03" on another day."""
        if not timestamp:
            return ""
        shown = self.at(timestamp)
        if shown.date() == self.at(self.now).date():
            return f"om {shown:%H:%M}"
        return f"op {shown:%d-%m-%Y} om {shown:%H:%M}"

    def exact(self, timestamp: float) -> str:
        return f"{self.at(timestamp):%d-%m-%Y %H:%M:%S}"

    def long(self, timestamp: float) -> str:
        return long_moment(self.at(timestamp))


def page_clock() -> Clock:
    """The clock of this request, in DISTRIBUTIE_TIMEZONE."""
    return Clock(ZoneInfo(web_context().settings.timezone))


def duration(seconds: float) -> str:
    """A delay in words: "4 seconden", "1 minuut", "2 uur en 5 minuten"."""
    whole = round(seconds)
    if whole < 60:
        return "1 seconde" if whole == 1 else f"{whole} seconden"
    minutes = whole // 60
    if minutes < 60:
        return "1 minuut" if minutes == 1 else f"{minutes} minuten"
    hours, rest = divmod(minutes, 60)
    said = f"{hours} uur"
    if rest:
        said += f" en {rest} minuut" if rest == 1 else f" en {rest} minuten"
    return said


def shown_run(info: dict[str, str], counts: dict[str, int], clock: Clock) -> RunShown:
    control = RunControl.from_hash(info)
    state = control.state(counts)
    created_by = info.get("created_by", "")
    return RunShown(
        state=state,
        word=run_state_word(state),
        test=control.kind == states.RUN_KIND_TEST,
        sentence=_sentence(state, control, info, counts, clock),
        facts=_facts(state, control, info, clock),
        poll_seconds=_poll_seconds(state, control, counts, clock),
        created_by=created_by,
    )


def _progress(counts: dict[str, int]) -> tuple[int, int]:
    total = sum(counts.get(s, 0) for s in states.ALL_STATES)
    pending = sum(counts.get(s, 0) for s in states.PENDING_STATES)
    return total - pending, total


def _sentence(
    state: str, control: RunControl, info: dict[str, str], counts: dict[str, int], clock: Clock
) -> str:
    done, total = _progress(counts)
    creator = info.get("created_by", "")
    if state == states.RUN_AWAITING_APPROVAL:
        said = f"Wacht op goedkeuring door iemand anders dan {creator}. Er is nog niets verzonden."
        if control.release_at and control.release_at <= clock.now:
            said += (
                f" Hij was gepland voor {clock.long(control.release_at)}; hij begint zodra hij "
                "is goedgekeurd."
            )
        return said
    if state == states.RUN_SCHEDULED and control.release_at:
        said = f"Gepland voor {clock.long(control.release_at)}."
        late = clock.now - control.release_at
        if late > RELEASE_GRACE_SECONDS:
            return said + (
                " Die tijd is voorbij: de verzending begint zodra een verzendproces van "
                "distributie draait."
            )
        if late >= 0:
            return said + " De verzending begint nu."
        return said + " Er is nog niets verzonden."
    if state == states.RUN_PAUSED:
        return (
            f"Gepauzeerd door {control.paused_by} {clock.moment(control.paused_at)}: "
            f"{done} van {total} ontvangers verwerkt."
        )
    if done < total:
        return f"Bezig: {done} van {total} ontvangers verwerkt."
    said = f"Klaar: alle {total} ontvangers zijn verwerkt."
    if total == 1:
        said = "Klaar: de ontvanger is verwerkt."
    if control.rejected_by:
        said += f" De verzending is afgewezen door {control.rejected_by}."
    return said


def _facts(
    state: str, control: RunControl, info: dict[str, str], clock: Clock
) -> list[tuple[str, str]]:
    """What the status sentence does not say already: who approved or rejected it, when it was
    planned for and when it began (and how late)."""
    facts = []
    if control.approved_by and control.approved_at:
        approval = f"goedgekeurd door {control.approved_by} {clock.moment(control.approved_at)}"
        facts.append(("Goedkeuring", approval))
    elif control.rejected_by:
        rejected_at = float(info.get("rejected_at") or 0)
        facts.append(("Afgewezen", f"door {control.rejected_by} {clock.moment(rejected_at)}"))
    if control.release_at and state != states.RUN_SCHEDULED:
        facts.append(("Gepland voor", clock.long(control.release_at)))
    if control.release_at and control.released_at:
        delay = control.release_delay or 0.0
        started = f"{clock.exact(control.released_at)}, "
        started += "op tijd" if delay < 1 else f"{duration(delay)} na de geplande tijd"
        if control.approved_at and control.approved_at > control.release_at:
            started += " (bij de goedkeuring)"
        facts.append(("Begonnen", started))
    return facts


def _poll_seconds(state: str, control: RunControl, counts: dict[str, int], clock: Clock) -> int:
    if state not in states.RUN_HELD_STATES or counts.get(states.SENDING):
        return POLL_SECONDS  # sending, or finishing the attempts under way when it was paused
    if state == states.RUN_SCHEDULED and control.release_at:
        # Slowly, but in time to show the start: just after its time, then every few seconds.
        until = control.release_at - clock.now + 1
        if until < -RELEASE_GRACE_SECONDS:
            return HELD_POLL_SECONDS  # overdue: no worker runs; no hurry either
        return int(max(POLL_SECONDS, min(HELD_POLL_SECONDS, until)))
    return HELD_POLL_SECONDS
