"""The Dutch forms of address a letter to a burgemeester needs, derived from a list's columns."""

from __future__ import annotations

import re
from collections.abc import Mapping

_AANHEF = {
    "heer": "heer",
    "de heer": "heer",
    "dhr": "heer",
    "dhr.": "heer",
    "de hr.": "heer",
    "de hr": "heer",
    "mevrouw": "mevrouw",
    "mevr": "mevrouw",
    "mevr.": "mevrouw",
    "mw.": "mevrouw",
    "mw": "mevrouw",
}
AANHEF_ALLOWED = "heer (also 'de heer', 'dhr.', 'de hr.'), mevrouw (also 'mevr.', 'mw.') or empty"

_WHITESPACE = re.compile(r"\s+")


def normalise_aanhef(value: str) -> str | None:
    """Return "heer", "mevrouw", "" for an empty value, or None for an unknown aanhef."""
    cleaned = _WHITESPACE.sub(" ", value.strip().lower())
    if not cleaned:
        return ""
    return _AANHEF.get(cleaned)


def forms_of_address(fields: Mapping[str, str]) -> dict[str, object]:
    """aanhef, achternaam_volledig, aanspreking, naam and punten for one row (README table)."""
    get = fields.get
    aanhef = normalise_aanhef(get("aanhef", "")) or ""
    tussenvoegsel = get("tussenvoegsel", "")
    achternaam = get("achternaam", "")
    if achternaam and tussenvoegsel:
        # After "heer"/"mevrouw" the tussenvoegsel is capitalised: "heer Van der Berg".
        achternaam_volledig = f"{tussenvoegsel[:1].upper()}{tussenvoegsel[1:]} {achternaam}"
    else:
        achternaam_volledig = achternaam
    if aanhef and achternaam_volledig:
        aanspreking = f"{aanhef} {achternaam_volledig}"
    else:
        aanspreking = "burgemeester"
    naam_parts = (get("titel", ""), get("voorletters", ""), tussenvoegsel, achternaam)
    punten = [p.strip() for p in get("consultatiepunten", "").split("|")]
    return {
        "aanhef": aanhef,
        "achternaam_volledig": achternaam_volledig,
        "aanspreking": aanspreking,
        "naam": " ".join(p for p in naam_parts if p),
        "punten": [p for p in punten if p],
    }
