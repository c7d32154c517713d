"""The words the secretariat uses, in one place: the Dutch name of every recipient state, run
state and attempt outcome, and a server's last reply said in plain Dutch.

A state or outcome added elsewhere (a bounce, a paused run) gets its words here; until then it
shows as its English key, and tests/web/test_words.py fails.
"""

from __future__ import annotations

import re
from datetime import datetime

from distributie import states

STATE_WORDS: dict[str, str] = {
    states.QUEUED: "in de wachtrij",
    states.SENDING: "wordt verzonden",
    states.RETRYING: "opnieuw proberen",
    states.SENT: "verzonden",
    states.FAILED: "mislukt",
    states.UNKNOWN: "onbekend",
    states.CANCELLED: "geannuleerd",
    states.BOUNCED: "onbestelbaar",
}

# What each state means, for a secretary (the run page's explanation of the states).
STATE_MEANINGS: dict[str, str] = {
    states.QUEUED: "wacht op zijn beurt en wordt vanzelf verzonden",
    states.SENDING: "wordt op dit moment aan de mailserver gegeven",
    states.RETRYING: "er was een tijdelijk probleem; distributie probeert het vanzelf opnieuw",
    states.SENT: "de mailserver heeft de e-mail aangenomen",
    states.FAILED: "de mailserver heeft de e-mail geweigerd, of het lukte steeds niet",
    states.UNKNOWN: "de verbinding viel weg nadat de e-mail was verstuurd: misschien is hij "
    "aangekomen. Vraag het na voordat u hem opnieuw verstuurt",
    states.CANCELLED: "gestopt met Annuleren, en niet verzonden",
    states.BOUNCED: "de mailserver nam de e-mail aan, maar later kwam een melding dat hij niet "
    "kon worden afgeleverd (bijvoorbeeld: het adres bestaat niet meer). Verstuur hem opnieuw "
    "naar een verbeterd adres",
}

# States of a run as a whole, for the features that add them (approval, schedule, pause).
RUN_STATE_WORDS: dict[str, str] = {
    states.RUN_AWAITING_APPROVAL: "wacht op goedkeuring",
    states.RUN_SCHEDULED: "gepland",
    states.RUN_ACTIVE: "bezig",
    states.RUN_PAUSED: "gepauzeerd",
    states.RUN_FINISHED: "klaar",
}

OUTCOME_WORDS: dict[str, str] = {
    states.OUTCOME_ACCEPTED: "aangenomen",
    states.OUTCOME_TRANSIENT: "tijdelijk probleem",
    states.OUTCOME_PERMANENT: "geweigerd",
    states.OUTCOME_UNKNOWN: "verbinding verbroken na het versturen",
    states.OUTCOME_ERROR: "fout in distributie",
    states.OUTCOME_CLAIMED: "verzendpoging begonnen",
    states.OUTCOME_WORKER_LOST: "verzendproces gestopt tijdens de poging",
    states.OUTCOME_CANCELLED: "geannuleerd",
    states.OUTCOME_CANCEL_REQUESTED: "annuleren gevraagd tijdens het verzenden",
    states.OUTCOME_LATE: "late uitkomst van een overgenomen poging",
    states.OUTCOME_QUEUED: "in de wachtrij gezet",
    states.OUTCOME_CREATED: "verzending aangemaakt",
    states.OUTCOME_REPUBLISHED: "opnieuw aan de verzendprocessen gegeven (taak was verloren)",
    states.OUTCOME_BOUNCE: "onbestelbaar gemeld",
    states.OUTCOME_DELAYED: "vertraagd",
    states.OUTCOME_AUTO_REPLY: "automatisch antwoord",
    states.OUTCOME_APPROVED: "goedgekeurd",
    states.OUTCOME_REJECTED: "afgewezen",
    states.OUTCOME_PAUSED: "gepauzeerd",
    states.OUTCOME_RESUMED: "hervat",
    states.OUTCOME_RELEASED: "vrijgegeven op het geplande tijdstip",
}

# The states a run page offers as filters, in the order people read them.
FILTER_ORDER = (
    states.SENT,
    states.FAILED,
    states.UNKNOWN,
    states.BOUNCED,
    states.CANCELLED,
    states.RETRYING,
    states.SENDING,
    states.QUEUED,
)

DAYS = ("maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag", "zondag")
MONTHS = (
    "januari",
    "februari",
    "maart",
    "april",
    "mei",
    "juni",
    "juli",
    "augustus",
    "september",
    "oktober",
    "november",
    "december",
)

_CODE = re.compile(r"^([2-5])\d\d\b")


def state_word(state: str) -> str:
    return STATE_WORDS.get(state, state)


def outcome_word(outcome: str) -> str:
    return OUTCOME_WORDS.get(outcome, outcome)


def run_state_word(state: str) -> str:
    return RUN_STATE_WORDS.get(state, state)


def long_moment(moment: datetime) -> str:
    """A moment as people write it in a letter: maandag 7 december 2026 om 09:00 (with the
    seconds only when there are any: a run scheduled a few seconds ahead)."""
    clock = f"{moment:%H:%M:%S}" if moment.second else f"{moment:%H:%M}"
    day = f"{DAYS[moment.weekday()]} {moment.day} {MONTHS[moment.month - 1]} {moment.year}"
    return f"{day} om {clock}"


def reply_in_words(state: str, reply: str, waiting: str, until: str) -> str:
    """The last thing that happened to a recipient, in one plain Dutch sentence. The server's
    own reply (usually English) is shown beside it, not translated."""
    code = _CODE.match(reply)
    if state == states.QUEUED:
        if waiting == states.WAITING_DAILY_LIMIT:
            return f"Wacht op de daglimiet van de mailserver, tot {until}."
        return "Wacht op verzending."
    if state == states.SENDING:
        return "Wordt nu aan de mailserver gegeven."
    if state == states.SENT:
        if reply.startswith("250 written to"):
            return "In de outbox gezet (er is niets gemaild)."
        return "Aangenomen door de mailserver."
    if state == states.RETRYING:
        return "Tijdelijk probleem; wordt vanzelf opnieuw geprobeerd."
    if state == states.UNKNOWN:
        return "Verbinding verbroken na het versturen: onbekend of de e-mail is aangekomen."
    if state == states.CANCELLED:
        return "Geannuleerd: niet verzonden."
    if state == states.BOUNCED:
        return "Onbestelbaar: de e-mail kwam terug (zie de melding)."
    if state == states.FAILED:
        if reply.startswith("gave up after"):
            return "Mislukt: het lukte steeds niet, distributie is gestopt met proberen."
        if code and code.group(1) == "5":
            return "Geweigerd door de mailserver."
        return "Mislukt."
    return ""


def show_reply(state: str, reply: str) -> bool:
    """Whether the server's own reply adds to the plain words in a row of the run page: not for
    a message that merely went to the outbox (its file name is long and says nothing new)."""
    return not (state == states.SENT and reply.startswith("250 written to"))
