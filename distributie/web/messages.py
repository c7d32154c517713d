"""The Dutch words for errors a person can cause on the web page (the core's are English)."""

from __future__ import annotations

from distributie import states
from distributie.accounts import (
    AccountExists,
    FirstUseRefused,
    InvalidAccountName,
    InvalidEmail,
    InvalidRole,
    LoginFailed,
    LoginThrottled,
    NotAllowed,
    UnknownAccount,
    WeakPassword,
)
from distributie.errors import DistributieError
from distributie.operations.control import ControlRefused
from distributie.operations.runs import InvalidAddress, ResendRefused
from distributie.operations.schedule import StartRefused
from distributie.operations.uploads import UploadTooLarge
from distributie.web.words import run_state_word, state_word

LOGIN_FAILED = "De gebruikersnaam of het wachtwoord klopt niet."


def size(count: int) -> str:
    """A file size as people say it: 2,3 MB, 18 kB, 512 bytes."""
    if count >= 1_000_000:
        return f"{count / 1_000_000:.1f} MB".replace(".0 ", " ").replace(".", ",")
    if count >= 1000:
        return f"{count / 1000:.0f} kB"
    return f"{count} bytes"


def minutes(seconds: int) -> str:
    count = max(1, -(-seconds // 60))
    return "1 minuut" if count == 1 else f"{count} minuten"


def dutch(exc: DistributieError) -> str:
    """One sentence (or two) for a secretary; falls back to a general sentence."""
    if isinstance(exc, LoginFailed):
        return LOGIN_FAILED
    if isinstance(exc, LoginThrottled):
        return (
            "Er is te vaak een verkeerd wachtwoord ingevuld. Om misbruik te voorkomen kunt u "
            f"pas over {minutes(exc.retry_after)} opnieuw inloggen."
        )
    if isinstance(exc, NotAllowed):
        return (
            f"Met de rol {exc.role} mag u dit niet doen; daarvoor is de rol {exc.needed} nodig. "
            "Er is niets veranderd."
        )
    if isinstance(exc, WeakPassword):
        if exc.kind == "blank":
            return "Het wachtwoord mag niet alleen uit spaties bestaan."
        if exc.kind == "long":
            return f"Het wachtwoord mag hoogstens {exc.max_length} tekens hebben."
        return (
            f"Het wachtwoord moet minstens {exc.min_length} tekens hebben. Een zin van een "
            "paar woorden is een goed wachtwoord."
        )
    if isinstance(exc, InvalidAccountName):
        return (
            "Een gebruikersnaam heeft 1 tot 64 tekens: kleine letters a-z, cijfers, punt, "
            "streepje, liggend streepje of @, en begint met een letter of cijfer."
        )
    if isinstance(exc, AccountExists):
        return f"Er is al een gebruiker met de naam {exc.name}."
    if isinstance(exc, UnknownAccount):
        return f"Er is geen gebruiker met de naam {exc.name}."
    if isinstance(exc, InvalidEmail):
        return "Dit is geen geldig e-mailadres. Vul het in als naam@organisatie.nl."
    if isinstance(exc, InvalidRole):
        return "Kies een rol: lezer, medewerker of beheerder."
    if isinstance(exc, FirstUseRefused):
        return first_use_refused(exc.accounts_exist)
    return _dutch_for_runs(exc)


def _dutch_for_runs(exc: DistributieError) -> str:
    if isinstance(exc, InvalidAddress):
        return (
            "Dit is geen geldig e-mailadres. Vul het in als naam@gemeente.nl, zonder spaties. "
            "Er is niets verstuurd."
        )
    if isinstance(exc, ResendRefused):
        return (
            f"{exc.gemeente} staat nu op ‘{state_word(exc.state)}’. Opnieuw versturen kan pas "
            "als de e-mail verzonden, mislukt, onbekend of geannuleerd is. Er is niets veranderd."
        )
    if isinstance(exc, ControlRefused):
        return _dutch_for_control(exc)
    if isinstance(exc, StartRefused):
        return START_REFUSED[exc.reason]
    if isinstance(exc, UploadTooLarge):
        return (
            f"Het bestand is {size(exc.size)}; distributie neemt lijsten aan tot "
            f"{size(exc.limit)}. Er is niets opgeslagen."
        )
    return "Dit kon niet worden uitgevoerd. Er is niets veranderd."


# What each run control action may start from (operations.control refuses the rest).
_CONTROL_FROM = {
    states.OUTCOME_APPROVED: "goedkeuren kan alleen bij een verzending die op goedkeuring wacht",
    states.OUTCOME_REJECTED: "afwijzen kan alleen bij een verzending die op goedkeuring of op "
    "haar tijdstip wacht",
    states.OUTCOME_PAUSED: "pauzeren kan alleen bij een verzending die bezig is",
    states.OUTCOME_RESUMED: "hervatten kan alleen bij een gepauzeerde verzending",
}

START_REFUSED = {
    "format": "Vul een datum en tijd in, zoals 07-12-2026 09:00, of laat het veld leeg om "
    "meteen te verzenden.",
    "past": "Dit tijdstip is al voorbij. Kies een tijd in de toekomst, of laat het veld leeg om "
    "meteen te verzenden.",
    "far": "Dit tijdstip ligt meer dan een jaar vooruit. Kies een tijd binnen een jaar.",
}


def own_run_refused() -> str:
    return (
        "U hebt deze verzending zelf aangemaakt. Volgens het vier-ogenprincipe keurt iemand "
        "anders hem goed: een collega met de rol medewerker of beheerder. Er is niets veranderd."
    )


def _dutch_for_control(exc: ControlRefused) -> str:
    if exc.reason == "same_person":
        return own_run_refused()
    return (
        f"De verzending is nu {run_state_word(exc.state)}: {_CONTROL_FROM[exc.action]}. "
        "Er is niets veranderd."
    )


def field_of(exc: DistributieError) -> str:
    """The form field an account error is about, to show the message beside it."""
    if isinstance(exc, InvalidEmail):
        return "email"
    if isinstance(exc, WeakPassword):
        return "password"
    if isinstance(exc, InvalidRole):
        return "role"
    return "username"


def first_use_refused(accounts_exist: bool) -> str:
    if accounts_exist:
        return "Er is al een account aangemaakt. Log in met uw gebruikersnaam en wachtwoord."
    return (
        "Deze link werkt niet (meer). Een link om het eerste account aan te maken werkt "
        "één keer en 15 minuten lang. Start distributie web opnieuw voor een nieuwe link."
    )
