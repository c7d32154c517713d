"""The problems `check` finds in a list, said in Dutch for the web page.

The core words its problems in English (for the CLI). A known problem gets a Dutch sentence
here; any other keeps its English text, which the page marks as English (lang="en").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from distributie.errors import Problem

Match = re.Match[str]
_RULES: list[tuple[re.Pattern[str], Callable[[Match], str]]] = [
    (re.compile(r"^the file is empty$"), lambda m: "Het bestand is leeg."),
    (
        re.compile(r"^the list has no recipients$"),
        lambda m: "De lijst heeft geen ontvangers: er staat alleen een kopregel in.",
    ),
    (
        re.compile(r"^the first row \(the header\) is empty$"),
        lambda m: "De eerste rij moet de namen van de kolommen bevatten, maar is leeg.",
    ),
    (
        re.compile(r"^required column '(.+)' is missing; the header has: (.*)$"),
        lambda m: f"De kolom '{m[1]}' ontbreekt. De kopregel heeft: {m[2]}.",
    ),
    (
        re.compile(r"^column '(.+)' appears twice in the header \(columns (\w+) and (\w+)\)$"),
        lambda m: f"De kolom '{m[1]}' staat twee keer in de kopregel (kolom {m[2]} en {m[3]}).",
    ),
    (
        re.compile(r"^column (\w+) has no name in the header, but row (\d+) has data in it$"),
        lambda m: (
            f"Kolom {m[1]} heeft geen naam in de kopregel, maar rij {m[2]} heeft er gegevens in."
        ),
    ),
    (re.compile(r"^gemeente is empty$"), lambda m: "De gemeente is niet ingevuld."),
    (re.compile(r"^email is empty$"), lambda m: "Het e-mailadres is niet ingevuld."),
    (
        re.compile(r"^gemeente '(.+)' already appears in row (\d+)$"),
        lambda m: f"Deze gemeente staat al in rij {m[2]}.",
    ),
    (
        re.compile(r"^gemeente '(.+)' gets the same file name '(.+)' as '(.+)' in row (\d+)$"),
        lambda m: (
            f"Deze gemeente lijkt te veel op '{m[3]}' in rij {m[4]}: ze krijgen dezelfde "
            "bestandsnaam."
        ),
    ),
    (
        re.compile(r"^gemeente has no letters or digits"),
        lambda m: "De gemeente heeft geen letters of cijfers.",
    ),
    (
        re.compile(r"^the address already appears in row (\d+)$"),
        lambda m: f"Dit e-mailadres staat al in rij {m[1]}.",
    ),
    (
        re.compile(r"^not a valid e-mail address"),
        lambda m: "Dit is geen geldig e-mailadres.",
    ),
    (
        re.compile(r"^the part before the @ contains non-ASCII characters"),
        lambda m: (
            "Het deel voor de @ bevat letters met accenten of andere bijzondere tekens; "
            "de meeste mailservers kunnen daar niet naartoe bezorgen."
        ),
    ),
    (
        re.compile(r"^unknown aanhef"),
        lambda m: (
            "Onbekende aanhef. Vul heer in (of de heer, dhr.), mevrouw (of mevr., mw.), "
            "of laat het leeg."
        ),
    ),
    (
        re.compile(r"^contains .+ \(U\+(\w+)\); this column ends up in e-mail headers"),
        lambda m: (
            f"Bevat een onzichtbaar teken (U+{m[1]}), bijvoorbeeld een regeleinde. Dat "
            "mag niet in deze kolom, omdat die in de kop van de e-mail komt."
        ),
    ),
    (
        re.compile(r"^contains .*\(U\+(\w+)[^)]*\).*; this column ends up in e-mail headers, the"),
        lambda m: (
            f"Bevat een onzichtbaar of verwarrend teken (U+{m[1]}). Dat mag niet in deze "
            "kolom: de ontvanger zou iets anders zien dan wat is gecontroleerd. Haal het teken "
            "weg (typ de cel opnieuw)."
        ),
    ),
    (
        re.compile(r"^sheet '(.+)', cell (\w+): the formula (.+) has no calculated value"),
        lambda m: (
            f"Werkblad {m[1]}, cel {m[2]}: de formule {m[3]} heeft geen berekende waarde in het "
            "bestand. Open het in Excel en sla het opnieuw op, of typ de waarde in plaats van "
            "de formule."
        ),
    ),
    (
        re.compile(r"^contains .+ \(U\+(\w+)\); control characters"),
        lambda m: f"Bevat een onzichtbaar stuurteken (U+{m[1]}) dat niet in een tekst mag.",
    ),
    (
        re.compile(r"^unsupported file type '(.*)'"),
        lambda m: (
            f"Dit soort bestand ({m[1]}) kan distributie niet lezen. Sla de lijst in "
            "Excel op als .xlsx of als CSV (.csv)."
        ),
    ),
    (
        re.compile(r"^this is not a readable \.xlsx workbook"),
        lambda m: (
            "Dit is geen leesbaar Excel-bestand. Open het in Excel en sla het opnieuw op als .xlsx."
        ),
    ),
    (
        re.compile(r"^the workbook has no worksheet$"),
        lambda m: "Het Excel-bestand heeft geen werkblad.",
    ),
    (
        re.compile(r"^the file is UTF-16"),
        lambda m: (
            "Het bestand is opgeslagen als 'Unicode-tekst'. Sla de lijst opnieuw op als "
            "'CSV UTF-8' of als .xlsx."
        ),
    ),
    (
        re.compile(r"^the file contains a NUL byte"),
        lambda m: (
            "Het bestand bevat tekens die niet in een CSV-bestand horen. Is dit wel een "
            "lijst uit Excel?"
        ),
    ),
    (
        re.compile(r"^the file is neither UTF-8 nor Windows-1252"),
        lambda m: (
            "De tekens in het bestand zijn niet te lezen. Sla de lijst in Excel opnieuw "
            "op als 'CSV UTF-8' of als .xlsx."
        ),
    ),
    (
        re.compile(r"^the file starts as UTF-8 but"),
        lambda m: (
            "Het bestand is deels anders opgeslagen dan de rest. Sla het opnieuw op als "
            "'CSV UTF-8' of als .xlsx."
        ),
    ),
    (
        re.compile(r"^the message would be about ([\d,]+) bytes, more than the limit of ([\d,]+)"),
        lambda m: (
            f"Het bericht wordt ongeveer {_dots(m[1])} bytes, groter dan de grens van "
            f"{_dots(m[2])} bytes."
        ),
    ),
]


def _dots(number: str) -> str:
    return number.replace(",", ".")


@dataclass(frozen=True)
class ShownProblem:
    """One row of the problems table: where, what, and the reason in Dutch (or English)."""

    row: int | None
    column: str | None
    value: str | None
    reason: str
    english: bool  # no Dutch words for it: the reason is the core's English text


def shown(problem: Problem) -> ShownProblem:
    for pattern, words in _RULES:
        found = pattern.search(problem.reason)
        if found:
            return ShownProblem(problem.row, problem.column, problem.value, words(found), False)
    return ShownProblem(problem.row, problem.column, problem.value, problem.reason, True)
